"""`spotify_tracks`: every track plays refer to, described from the lake first and from the
fewest Spotify requests after, each track asked once across runs.

Exports carry a track id (extended) or only names (account data), never the artist ids, so
"minutes by artist id or genre" needed a poll or a top list to have seen the track. What the lake
knows is free (`sql/spotify_tracks.sql`); the rest is resolved by `lib/spotify/tracks.py`
(album bodies for groups of tracks, one lookup or search otherwise). A request's answer is kept
in this table and never asked again; a negative one (not found, no match, several matches) is
asked again after `RETRY_NEGATIVE_DAYS`. The `listening.plays_enriched` view joins plays to it.

Each run lands a receipt before it writes (`replay_tracks`, `spotify-assets rebuild`): the
moment, the tracks the lake gave with their plays (the history is rebuilt after this table, and
plays change), and every request's answer or failure in order. Its cost: a copy of that list
per run (about 100 bytes per track, gzipped).
"""


import logging
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from spotify_assets.defs.listening.tables import PLAYS, POLLED_PLAYS, SPOTIFY_TRACKS
from spotify_assets.defs.musicbrainz.tables import SPOTIFY_ALBUMS
from spotify_assets.defs.releases.tables import ARTIST_RELEASES
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.tables import TOP_TRACKS
from spotify_assets.lib.clock import now
from spotify_assets.lib.lake import UNPARTITIONED
from spotify_assets.lib.query import LakeView, run_sql
from spotify_assets.lib.raw import RawStore, recording
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.spotify.tracks import (
    IdNeed,
    NameNeed,
    Resolution,
    ResolvedTrack,
    match_name,
    resolve_tracks,
)

log = logging.getLogger(__name__)
SQL = Path(__file__).parent / "sql" / "spotify_tracks.sql"
DEFAULT_MAX_REQUESTS = 2000
RETRY_NEGATIVE_DAYS = 30
TRACKS_RECIPE = "spotify_tracks"
# Answers that cost a request: kept across runs.
ASKED = ("lookup", "album_lookup", "search", "ambiguous", "unresolved", "not_found")
NEGATIVE = ("ambiguous", "unresolved", "not_found")


class SpotifyTracksConfig(dg.Config):
    """Run config of `spotify_tracks`: at most this many Spotify requests in one run."""

    max_requests: int = DEFAULT_MAX_REQUESTS


def _lake_rows(warehouse: Warehouse) -> list[dict[str, Any]]:
    views = {
        s.name: LakeView(s, warehouse.files(s))
        for s in (PLAYS, POLLED_PLAYS, TOP_TRACKS, SPOTIFY_ALBUMS)
    }
    return run_sql(SQL, views).to_pylist()


def _row(source: dict[str, Any], **facts: Any) -> dict[str, Any]:
    base = {
        "ref_kind": source["ref_kind"],
        "track_key": source["track_key"],
        "track_id": source["track_id"],
        "track_name": source["title"],
        "artist_ids": None,
        "artist_names": None,
        "album_id": None,
        "album_name": None,
        "isrc": None,
        "duration_ms": None,
        "candidates": None,
        "plays": source["plays"],
        "checked_at": None,
        "retry_after": None,
    }
    return {**base, **facts}


def _from_resolved(
    source: dict[str, Any], resolved: ResolvedTrack, at: datetime
) -> dict[str, Any]:
    row = _row(
        source,
        track_id=resolved.track_id if source["ref_kind"] == "name" else source["track_id"],
        track_name=resolved.name or source["title"],
        artist_ids=list(resolved.artist_ids) or None,
        artist_names=list(resolved.artist_names) or None,
        album_id=resolved.album_id,
        album_name=resolved.album_name,
        isrc=resolved.isrc,
        duration_ms=resolved.duration_ms,
        resolved_by=resolved.resolved_by,
        candidates=resolved.candidates,
        checked_at=at,
    )
    if resolved.resolved_by in NEGATIVE:
        row["retry_after"] = at + timedelta(days=RETRY_NEGATIVE_DAYS)
    return row


def release_albums(warehouse: Warehouse) -> dict[str, str]:
    """Album hint -> album id, from the discographies of followed artists (`artist_releases`),
    where exactly one album has that folded name and primary artist. Only a grouping hint: an
    album body is trusted only for the track ids it lists."""
    found: dict[str, set[str]] = {}
    for row in warehouse.scan(ARTIST_RELEASES).to_pylist():
        artists = row["album_artist_names"] or [""]
        found.setdefault(album_hint(row["album_name"], artists[0]), set()).add(row["album_id"])
    return {hint: next(iter(ids)) for hint, ids in found.items() if len(ids) == 1}


def album_hint(album_name: str | None, album_artist: str | None) -> str:
    return f"{match_name(album_name)}\t{match_name(album_artist)}"


def _free_row(source: dict[str, Any]) -> dict[str, Any] | None:
    """The row the lake alone gives, or None when the track needs a request."""
    if source["described_by"]:
        return _row(
            source,
            artist_ids=source["artist_ids"],
            artist_names=source["artist_names"],
            album_id=source["album_id"],
            album_name=source["album_name"],
            isrc=source["isrc"],
            duration_ms=source["duration_ms"],
            resolved_by=source["described_by"],
        )
    if source["listed_artist_ids"]:
        return _row(
            source,
            artist_ids=source["listed_artist_ids"],
            artist_names=source["listed_artist_names"],
            album_id=source["listed_album_id"],
            album_name=source["listed_album_name"],
            resolved_by="album",
        )
    return None


def _cached(previous: dict[str, Any] | None, at: datetime) -> bool:
    if previous is None or previous["resolved_by"] not in ASKED:
        return False
    retry = previous["retry_after"]
    return retry is None or retry > at


def build_rows(
    sources: list[dict[str, Any]],
    previous: dict[tuple[str, str], dict[str, Any]],
    at: datetime,
    albums_by_hint: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[IdNeed], list[NameNeed]]:
    """Rows known without a request (free or cached), and what still needs one; an unknown
    track's album is the fetched album listing it, else the followed artist's album of the
    export's album name (`albums_by_hint`), else unknown."""
    rows, id_needs, name_needs = [], [], []
    for source in sources:
        key = (source["ref_kind"], source["track_id"] or source["track_key"])
        free = _free_row(source) if source["ref_kind"] == "id" else None
        old = previous.get(key)
        if free is not None and free["resolved_by"] != "album":
            rows.append(free)
        elif _cached(old, at):
            assert old is not None
            rows.append({**old, "plays": source["plays"]})
        elif free is not None:
            rows.append(free)
        elif source["plays"] == 0:
            continue  # never played: nothing to describe for plays
        elif source["ref_kind"] == "id":
            hint = album_hint(source["hint_album"], source["hint_artist"])
            album_id = source["listed_album_id"] or (albums_by_hint or {}).get(hint)
            id_needs.append(IdNeed(source["track_id"], album_id, hint, source["plays"]))
        else:
            name_needs.append(
                NameNeed(
                    source["track_key"], source["title"] or "", source["hint_artist"] or "",
                    source["plays"],
                )
            )
    return rows, id_needs, name_needs


def _previous(warehouse: Warehouse) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["ref_kind"], r["track_id"] if r["ref_kind"] == "id" else r["track_key"]): r
        for r in warehouse.scan(SPOTIFY_TRACKS).to_pylist()
    }


def _with_answers(
    rows: list[dict[str, Any]],
    sources: list[dict[str, Any]],
    id_needs: list[IdNeed],
    name_needs: list[NameNeed],
    resolution: Resolution,
    at: datetime,
) -> list[dict[str, Any]]:
    """`rows` plus a row per asked track: its answer, or `pending` when it waits."""
    rows = list(rows)
    by_source = {(s["ref_kind"], s["track_id"] or s["track_key"]): s for s in sources}
    for track_id, resolved in resolution.by_id.items():
        rows.append(_from_resolved(by_source[("id", track_id)], resolved, at))
    for track_key, resolved in resolution.by_name.items():
        rows.append(_from_resolved(by_source[("name", track_key)], resolved, at))
    done = {(r["ref_kind"], r["track_id"] if r["ref_kind"] == "id" else r["track_key"])
            for r in rows}
    for need in id_needs:
        if ("id", need.track_id) not in done:
            rows.append(_row(by_source[("id", need.track_id)], resolved_by="pending"))
    for need in name_needs:
        if ("name", need.track_key) not in done:
            rows.append(_row(by_source[("name", need.track_key)], resolved_by="pending"))
    return rows


def _filed_under(raw: RawStore, calls: list, first_asker: str) -> str:
    """The listener whose raw holds the run's first body: the receipt goes with its bodies
    when that listener is removed."""
    landed = next((where for _, where in calls if isinstance(where, str)), None)
    return first_asker if landed is None else raw.user_of(landed)


def replay_tracks(settings: Settings, warehouse: Warehouse, raw_root: Path,
                  receipt: dict) -> None:
    """Write one receipt's table again: its tracks over the table as the earlier receipts
    left it, asking the recorded answers (`spotify-assets rebuild`)."""
    from spotify_assets.lib.spotify.replay import ReplayClient, ReplayMismatch

    at = datetime.fromisoformat(receipt["checked_at"])
    sources = receipt["sources"]
    rows, id_needs, name_needs = build_rows(sources, _previous(warehouse), at,
                                            receipt["albums_by_hint"])
    # Who asked changes no answer (any token reads the catalogue): placeholders, so the
    # receipt names no other listener.
    askers = [(f"asker-{n}", f"asker-{n}") for n in range(receipt["askers"])]
    try:
        spotify = ReplayClient.from_receipt(settings, raw_root, receipt["calls"])
        resolution = resolve_tracks(spotify, askers, id_needs, name_needs,
                                    receipt["max_requests"])
        spotify.finish("spotify_tracks")
    except (FileNotFoundError, ReplayMismatch) as exc:
        # A removed listener's bodies (or the receipts this run built on) are gone from raw.
        # The table stays as the receipts before left it: the next run asks what it lacks.
        log.warning("rebuild: a spotify_tracks receipt is skipped (%s)", exc)
        return
    warehouse.write(SPOTIFY_TRACKS,
                    _with_answers(rows, sources, id_needs, name_needs, resolution, at))


def coverage(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Share of plays whose row has a track id / artist ids."""
    total = sum(r["plays"] for r in rows) or 1
    return {
        "plays_with_track_id": sum(r["plays"] for r in rows if r["track_id"]) / total,
        "plays_with_artist_ids": sum(r["plays"] for r in rows if r["artist_ids"]) / total,
    }


@dg.asset(
    group_name="listening",
    kinds={"spotify", "parquet"},
    deps=[
        PLAYS.name, POLLED_PLAYS.name, TOP_TRACKS.name, SPOTIFY_ALBUMS.name, ARTIST_RELEASES.name
    ],
)
def spotify_tracks(
    context: dg.AssetExecutionContext,
    config: SpotifyTracksConfig,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
    spotify: dg.ResourceParam[Any],
    raw: dg.ResourceParam[RawStore],
) -> dg.MaterializeResult:
    """One row per track plays refer to (by id, or by name when plays have no id): artists,
    album and ISRC from polls, top lists and fetched albums, else from GET /albums/{id},
    GET /tracks/{id} or a search (at most `max_requests` a run; each track asked once)."""
    at = now(settings)
    sources = _lake_rows(warehouse)
    hints = release_albums(warehouse)
    rows, id_needs, name_needs = build_rows(sources, _previous(warehouse), at, hints)
    active = [(u.id, u.handle) for u in users.active_users()]
    with recording() as calls:
        resolution = resolve_tracks(spotify, active, id_needs, name_needs, config.max_requests)
    rows = _with_answers(rows, sources, id_needs, name_needs, resolution, at)
    if active:
        # The receipt first: what the lake said (the tracks and their plays; it is rebuilt
        # later than this table, and plays change), when, and the answers, in order.
        raw.put_receipt(
            _filed_under(raw, calls, active[0][0]), TRACKS_RECIPE,
            [(SPOTIFY_TRACKS.name, UNPARTITIONED)],
            checked_at=at.isoformat(), sources=sources,
            albums_by_hint={n.album_hint: hints[n.album_hint]
                            for n in id_needs if n.album_hint in hints},
            askers=len(active), max_requests=config.max_requests, calls=calls,
        )
    written = warehouse.write(SPOTIFY_TRACKS, rows)
    warehouse.publish()
    for note in resolution.notes:
        context.log.warning(note)
    if resolution.stopped:
        context.log.warning(f"spotify_tracks stopped asking: {resolution.stopped}")
    kinds = Counter(r["resolved_by"] for r in rows)
    shares = coverage(rows)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written.rows,
            "requests": sum(resolution.requests.values()),
            "requests_by_endpoint": dict(sorted(resolution.requests.items())),
            "asked_tracks": len(id_needs) + len(name_needs),
            "pending": kinds.get("pending", 0),
            "ambiguous": kinds.get("ambiguous", 0),
            "unresolved": kinds.get("unresolved", 0) + kinds.get("not_found", 0),
            "failures": resolution.failures,
            "resolved_by": dict(sorted(kinds.items())),
            "plays_with_track_id": dg.MetadataValue.float(round(shares["plays_with_track_id"], 4)),
            "plays_with_artist_ids": dg.MetadataValue.float(
                round(shares["plays_with_artist_ids"], 4)
            ),
            "stopped": resolution.stopped or "no",
        }
    )
