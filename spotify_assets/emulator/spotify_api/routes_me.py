"""The current user's endpoints: `/v1/me`, `/v1/me/player/recently-played` (the 50 newest
counted plays, by played_at, that Spotify knows of at the emulator clock; ms cursors, `after`
xor `before`), `/v1/me/top/{type}` and `/v1/me/following`; `recent_index` prepares a user's
counted plays for bisecting by time.

A play from an offline session is known only from its `synced_at` on, with its real (past)
played_at: it appears below newer plays already listed, so an `after` cursor at the newest
play seen never returns it.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from spotify_assets.emulator.faults import json_response
from spotify_assets.emulator.spotify_api.errors import ApiError, _api
from spotify_assets.emulator.spotify_api.request import _caller, _limit, _offset, _shapes, _state
from spotify_assets.emulator.world import Play, Track, datetime_to_ms

if TYPE_CHECKING:
    from spotify_assets.emulator.state import EmulatorState


RECENTLY_PLAYED_REACH = 50


# --------------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------------


@_api
async def me(request: Request) -> Response:
    caller = _caller(request)
    return json_response(_shapes(request).me(caller.user_id))


def reachable_plays(state: EmulatorState, user_id: str) -> list[Play]:
    """The newest 50 counted track plays known at the emulator clock, newest first."""
    plays, keys = state.recent_index(user_id)
    return newest_known(plays, keys, datetime_to_ms(state.clock.now()))


def newest_known(plays: list[Play], keys: list[int], now_ms: int) -> list[Play]:
    """The newest 50 of `plays` (sorted by ended_at, `keys` their ms) that reached Spotify by
    `now_ms`, newest first: a play not yet synced is skipped, not waited for."""
    end = bisect.bisect_right(keys, now_ms)
    found: list[Play] = []
    for index in range(end - 1, -1, -1):
        play = plays[index]
        if play.synced_at is None or datetime_to_ms(play.synced_at) <= now_ms:
            found.append(play)
            if len(found) == RECENTLY_PLAYED_REACH:
                break
    return found


def _ms_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise ApiError(400, f"Invalid {name} parameter")
    return int(raw)


@_api
async def recently_played(request: Request) -> Response:
    caller = _caller(request, "user-read-recently-played")
    limit = _limit(request, 20, 50)
    after, before = _ms_param(request, "after"), _ms_param(request, "before")
    if after is not None and before is not None:
        raise ApiError(400, "Only one of after or before may be specified")
    plays = reachable_plays(_state(request), caller.user_id)
    page = recent_page(plays, limit, after, before)
    shapes = _shapes(request)
    path = f"{shapes.base}/v1/me/player/recently-played"
    query = [(n, str(v)) for n, v in (("after", after), ("before", before)) if v is not None]
    cursors = {"after": str(page[0][0]), "before": str(page[-1][0])} if page else None
    body = {
        "items": [
            {
                "track": shapes.track(_track_of(request, p)),
                "played_at": _iso_ms(p),
                "context": shapes.context(p.context_uri),
            }
            for _, p in page
        ],
        "next": (
            f"{path}?" + urlencode([("before", page[-1][0]), ("limit", limit)])
            if page and len(page) == limit
            else None
        ),
        "cursors": cursors,
        "limit": limit,
        "href": f"{path}?" + urlencode([*query, ("limit", limit)]),
    }
    return json_response(body)


def recent_page(
    plays: list[Play], limit: int, after: int | None, before: int | None
) -> list[tuple[int, Play]]:
    """The page of (played_at ms, play) the endpoint lists from the reachable `plays`."""
    keyed = [(datetime_to_ms(p.ended_at), p) for p in plays]
    if before is not None:
        return [kp for kp in keyed if kp[0] < before][:limit]
    if after is not None:
        # The `limit` plays right after the cursor, still newest first.
        return [kp for kp in keyed if kp[0] > after][-limit:]
    return keyed[:limit]


def _track_of(request: Request, play: Play) -> Track:
    return _state(request).world.tracks[play.item_id]


def _iso_ms(play: Play) -> str:
    ended = play.ended_at
    return ended.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ended.microsecond // 1000:03d}Z"


@_api
async def top_items(request: Request) -> Response:
    caller = _caller(request, "user-top-read")
    kind = request.path_params["type"]
    if kind not in ("artists", "tracks"):
        raise ApiError(400, "Unsupported type")
    time_range = request.query_params.get("time_range", "medium_term")
    if time_range not in ("short_term", "medium_term", "long_term"):
        raise ApiError(400, "Invalid time range")
    limit, offset = _limit(request, 20, 50), _offset(request)
    state, shapes = _state(request), _shapes(request)
    ids = state.world.top(caller.user_id, kind, time_range)
    page = ids[offset : offset + limit]
    if kind == "tracks":
        items = [shapes.track(state.world.tracks[i]) for i in page]
    else:
        items = [shapes.artist(state.world.artists[i]) for i in page]
    body = shapes.paging(
        items,
        f"{shapes.base}/v1/me/top/{kind}",
        [("time_range", time_range)],
        total=len(ids),
        limit=limit,
        offset=offset,
    )
    # Spotify orders these keys differently from other pages (recorded fixture).
    order = ("items", "total", "limit", "offset", "href", "previous", "next")
    return json_response({key: body[key] for key in order})


@_api
async def following(request: Request) -> Response:
    caller = _caller(request, "user-follow-read")
    kind = request.query_params.get("type")
    if kind != "artist":
        raise ApiError(400, "type must be artist")
    limit = _limit(request, 20, 50)
    after = request.query_params.get("after")
    state, shapes = _state(request), _shapes(request)
    followed = sorted(state.world.users[caller.user_id].followed_artist_ids)
    rest = [a for a in followed if after is None or a > after]
    page = rest[:limit]
    path = f"{shapes.base}/v1/me/following"
    more = len(rest) > limit
    query = [("type", "artist"), *([("after", after)] if after else []), ("limit", limit)]
    body = {
        "artists": {
            "items": [shapes.artist(state.world.artists[a]) for a in page],
            "next": (
                f"{path}?" + urlencode([("type", "artist"), ("after", page[-1]), ("limit", limit)])
                if more
                else None
            ),
            "total": len(followed),
            "cursors": {"after": page[-1] if more else None},
            "limit": limit,
            "href": f"{path}?" + urlencode(query),
        }
    }
    return json_response(body)


