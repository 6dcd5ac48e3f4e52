"""The emulator-only control API under `/_emulator/` (JSON): truth, faults, clock, tokens.

Tests and benchmarks read ground truth and switch faults here; the pipeline never calls it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spotify_assets.emulator.exports import build_export_zip
from spotify_assets.emulator.faults import FaultRule, json_response
from spotify_assets.emulator.world import TIME_RANGE_DAYS, Play

if TYPE_CHECKING:
    from spotify_assets.emulator.state import EmulatorState


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


async def _payload(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ValueError(f"request body is not JSON: {exc}") from None


def _user(request: Request, value: str | None) -> str:
    users = _state(request).world.users
    if not value or value not in users:
        raise LookupError(f"unknown user {value!r}; known: {', '.join(users)}")
    return value


def play_json(play: Play) -> dict[str, Any]:
    return {
        "user_id": play.user_id,
        "kind": play.kind,
        "item_id": play.item_id,
        "started_at": _iso(play.started_at),
        "ended_at": _iso(play.ended_at),
        "ms_played": play.ms_played,
        "platform": play.platform,
        "shuffle": play.shuffle,
        "skipped": play.skipped,
        "reason_start": play.reason_start,
        "reason_end": play.reason_end,
        "offline": play.offline,
        "incognito": play.incognito,
        "conn_country": play.conn_country,
        "context_uri": play.context_uri,
        "ip_addr": play.ip_addr,
        "synced_at": _iso(play.synced_at) if play.synced_at else None,
    }


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _guarded(handler: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except LookupError as exc:
            return _bad(str(exc).strip("'\""), 404)
        except ValueError as exc:
            return _bad(str(exc))

    wrapped.__name__ = handler.__name__
    return wrapped


@_guarded
async def users(request: Request) -> Response:
    world = _state(request).world
    return json_response([
        {
            "id": u.id,
            "display_name": u.display_name,
            "timezone": u.timezone,
            "habit": u.habit,
            "country": u.country,
            "account_id": u.account_id,
            "followed_artist_ids": list(u.followed_artist_ids),
        }
        for u in world.users.values()
    ])


@_guarded
async def truth_plays(request: Request) -> Response:
    user = _user(request, request.query_params.get("user"))
    return json_response([play_json(p) for p in _state(request).world.plays(user)])


@_guarded
async def truth_top(request: Request) -> Response:
    params = request.query_params
    user = _user(request, params.get("user"))
    kind = params.get("kind", "tracks")
    time_range = params.get("time_range", "medium_term")
    if time_range not in TIME_RANGE_DAYS:
        raise ValueError(f"time_range must be one of {', '.join(TIME_RANGE_DAYS)}")
    ids = _state(request).world.top(user, kind, time_range)
    return json_response({"user": user, "kind": kind, "time_range": time_range, "ids": ids})


@_guarded
async def truth_musicbrainz(request: Request) -> Response:
    world = _state(request).world
    return json_response({
        "tracks": {t.id: t.mb.mbid if t.mb else None for t in world.tracks.values()},
        "albums": {a.id: a.mb.mbid if a.mb else None for a in world.albums.values()},
        "release_groups": {
            a.id: a.mb.release_group_mbid if a.mb else None for a in world.albums.values()
        },
        "artists": {a.id: a.mb.mbid if a.mb else None for a in world.artists.values()},
        "match_kind": world.mb_match_kind,
    })


@_guarded
async def export_names(request: Request) -> Response:
    user = _user(request, request.path_params["user"])
    return json_response({"user": user, "files": sorted(_state(request).world.export_files(user))})


@_guarded
async def export_file(request: Request) -> Response:
    user = _user(request, request.path_params["user"])
    name = request.path_params["name"]
    files = _state(request).world.export_files(user)
    if name not in files:
        raise LookupError(f"no export file {name!r} for {user}; files: {', '.join(sorted(files))}")
    return Response(files[name], media_type="application/json")


@_guarded
async def export_zip(request: Request) -> Response:
    user = _user(request, request.path_params["user"])
    data = build_export_zip(_state(request).world, user)
    headers = {"Content-Disposition": f'attachment; filename="my_spotify_data_{user}.zip"'}
    return Response(data, media_type="application/zip", headers=headers)


@_guarded
async def clock(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        payload = await _payload(request)
        if not isinstance(payload, dict):
            raise ValueError('clock body must be {"now": iso | null} or {"advance_s": seconds}')
        if "advance_s" in payload:
            state.clock.advance(float(payload["advance_s"]))
        elif payload.get("now") is None:
            state.clock.set(None)
        else:
            value = datetime.fromisoformat(str(payload["now"]).replace("Z", "+00:00"))
            if value.tzinfo is None:
                raise ValueError(f"clock time needs a timezone: {payload['now']!r}")
            state.clock.set(value.astimezone(UTC))
    return json_response({"now": _iso(state.clock.now()), "fixed": state.clock.fixed is not None})


@_guarded
async def faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        payload = await _payload(request)
        raw_rules = payload.get("rules", payload) if isinstance(payload, dict) else payload
        rules = [FaultRule.from_json(r) for r in (raw_rules if isinstance(raw_rules, list)
                                                   else [raw_rules])]
        for rule in rules:
            state.faults.add(rule)
    elif request.method == "DELETE":
        state.faults.clear()
    return json_response({"rules": [r.to_json() for r in state.faults.rules()]})


@_guarded
async def requests(request: Request) -> Response:
    counts = _state(request).request_counts_snapshot()
    return json_response({"counts": counts, "total": sum(counts.values())})


@_guarded
async def requests_reset(request: Request) -> Response:
    _state(request).reset_request_counts()
    return json_response({"counts": {}, "total": 0})


@_guarded
async def tokens(request: Request) -> Response:
    issued = _state(request).accounts.tokens
    return json_response({"tokens": [t.to_json() for t in list(issued)]})


@_guarded
async def revoke(request: Request) -> Response:
    user = _user(request, request.path_params["user"])
    count = _state(request).accounts.revoke_user(user)
    return json_response({"user": user, "revoked_tokens": count})


@_guarded
async def mode(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        payload = await _payload(request)
        value = payload.get("extended_quota") if isinstance(payload, dict) else None
        if not isinstance(value, bool):
            raise ValueError('mode body must be {"extended_quota": true | false}')
        state.extended_quota = value
    return json_response({"extended_quota": state.extended_quota})


@_guarded
async def reset(request: Request) -> Response:
    _state(request).reset()
    return json_response({"reset": True})


@_guarded
async def playlists(request: Request) -> Response:
    state = _state(request)
    owner = request.query_params.get("user")
    return json_response([
        {
            "id": p.id, "owner": p.owner, "name": p.name, "description": p.description,
            "public": p.public, "uris": [uri for uri, _, _ in p.items],
            "in_owner_library": p.owner in p.followers,
        }
        for p in state.playlists.values()
        if owner is None or p.owner == owner
    ])


@_guarded
async def config(request: Request) -> Response:
    state = _state(request)
    cfg = state.world.config
    assert cfg.end is not None
    return json_response({
        "seed": cfg.seed, "end": _iso(cfg.end), "start": _iso(cfg.end - timedelta(days=cfg.days)),
        "days": cfg.days, "n_artists": cfg.n_artists, "n_tracks": cfg.n_tracks,
        "export_end_offset_hours": cfg.export_end_offset_hours,
        "mb_test_mode": state.mb_test_mode,
    })


def routes() -> list[Route]:
    prefix = "/_emulator"
    return [
        Route(f"{prefix}/config", config, methods=["GET"]),
        Route(f"{prefix}/users", users, methods=["GET"]),
        Route(f"{prefix}/truth/plays", truth_plays, methods=["GET"]),
        Route(f"{prefix}/truth/top", truth_top, methods=["GET"]),
        Route(f"{prefix}/truth/musicbrainz", truth_musicbrainz, methods=["GET"]),
        Route(f"{prefix}/exports/{{user}}.zip", export_zip, methods=["GET"]),
        Route(f"{prefix}/exports/{{user}}", export_names, methods=["GET"]),
        Route(f"{prefix}/exports/{{user}}/{{name}}", export_file, methods=["GET"]),
        Route(f"{prefix}/clock", clock, methods=["GET", "POST"]),
        Route(f"{prefix}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{prefix}/requests", requests, methods=["GET"]),
        Route(f"{prefix}/requests/reset", requests_reset, methods=["POST"]),
        Route(f"{prefix}/tokens", tokens, methods=["GET"]),
        Route(f"{prefix}/users/{{user}}/revoke", revoke, methods=["POST"]),
        Route(f"{prefix}/mode", mode, methods=["GET", "POST"]),
        Route(f"{prefix}/reset", reset, methods=["POST"]),
        Route(f"{prefix}/playlists", playlists, methods=["GET"]),
    ]
