"""The weekly release radar per user, and the opt-in playlist of its new tracks."""

import concurrent.futures
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.checks import users_check
from spotify_assets.defs.partitions import weekly
from spotify_assets.defs.releases.artists import WORKERS, read_follows, top_played
from spotify_assets.defs.releases.common import (
    GROUP,
    UserFailure,
    classify,
    run_sql,
    weeks_in,
)
from spotify_assets.defs.releases.tables import (
    ARTIST_RELEASES,
    RELEASE_RADAR,
    RELEASE_RADAR_PLAYLISTS,
)
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.pseudonyms import who
from spotify_assets.lib.raw import RawStore, receipt_row
from spotify_assets.lib.settings import Settings

OPT_IN = "release_radar_playlist"
PLAYLISTS_CHECK = "release_radar_playlists_users_ok"
_RADAR_ARTISTS = pa.schema([("user_id", pa.string()), ("artist_id", pa.string()),
                            ("artist_name", pa.string()), ("via", pa.string())])


def radar_rows(warehouse: Warehouse, settings: Settings, week: date) -> pa.Table:
    """The week's radar: every user's follows of that week (plus top played, when set)
    against every known release whose radar week it is."""
    follows = read_follows(warehouse, [week]).select(["user_id", "artist_id", "artist_name"])
    played = top_played(warehouse, week, settings.radar_top_played_artists)
    radar_artists = pa.concat_tables([
        follows.append_column("via", pa.array(["follow"] * follows.num_rows, pa.string()))
        .cast(_RADAR_ARTISTS),
        played.select(["user_id", "artist_id", "artist_name"])
        .append_column("via", pa.array(["top_played"] * played.num_rows, pa.string()))
        .cast(_RADAR_ARTISTS),
    ])
    releases = warehouse.scan(ARTIST_RELEASES, "radar_week = ?", [week])
    return run_sql("release_radar.sql",
                   tables={"radar_artists": radar_artists, "releases": releases})


@dg.asset(
    partitions_def=weekly,
    group_name=GROUP,
    kinds={"parquet"},
    deps=["followed_artists", "artist_releases"],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def release_radar(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
) -> dg.MaterializeResult:
    """One row per user and release of the week by an artist on their radar, each release once
    with all its matched artists; type, track count and link. From `followed_artists` (that
    week's snapshot) and `artist_releases` (everything known, by radar week). No requests."""
    counts: dict[str, int] = {}
    users: set[str] = set()
    for week in weeks_in(context.partition_time_window):
        table = radar_rows(warehouse, settings, week)
        warehouse.write(RELEASE_RADAR, table, week.isoformat())
        counts[week.isoformat()] = table.num_rows
        users |= set(table.column("user_id").to_pylist())
    warehouse.publish()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(counts.values()),
            "rows_by_week": dg.MetadataValue.json(counts),
            "users_with_releases": len(users),
        }
    )


# --- the opt-in playlist -------------------------------------------------------------------------


PLAYLISTS_RECIPE = "release_radar_playlists"


def playlist_name(week: date) -> str:
    year, number, _ = week.isocalendar()
    return f"Release Radar {year}-W{number:02d}"


def playlist_marker(week: date) -> str:
    return f"[spotify_assets release radar {week.isoformat()}]"


def _state_of(row: dict | None):
    from spotify_assets.lib.spotify.playlists import PlaylistState

    if row is None or row["status"] == "empty":
        return None
    return PlaylistState(row["status"], row["playlist_id"], tuple(row["track_uris"] or ()),
                         row["snapshot_id"])


def _track_key(track: Any) -> tuple:
    return (track.name.casefold(), tuple(a.id for a in track.artists))


def wanted_tracks(spotify: Any, user_id: str, radar: list[dict], tracks_of) -> list[str]:
    """The week's new tracks for the user: tracks of their radar releases (newest release
    first, album order) that credit one of the matched artists; a song released twice that
    week (lead single and album) once."""
    uris: list[str] = []
    seen: set[tuple] = set()
    for release in sorted(radar, key=lambda r: (r["release_date"] or "", r["album_id"]),
                          reverse=True):
        matched = set(release["matched_artist_ids"])
        for track in tracks_of(user_id, release["album_id"]):
            if not track.uri or not matched & {a.id for a in track.artists}:
                continue
            if _track_key(track) not in seen:
                seen.add(_track_key(track))
                uris.append(track.uri)
    return uris


class _AlbumTracks:
    """Album tracks asked once per run, whichever user asks first."""

    def __init__(self, spotify: Any) -> None:
        self.spotify = spotify
        self.cache: dict[str, list] = {}
        self._lock = threading.Lock()

    def __call__(self, user_id: str, album_id: str) -> list:
        with self._lock:
            if album_id not in self.cache:
                self.cache[album_id] = self.spotify.album_tracks(user_id, album_id)
            return self.cache[album_id]


def sync_user_playlist(
    spotify: Any, warehouse: Warehouse, raw: RawStore, user_id: str, week: date,
    radar: list[dict], tracks_of: _AlbumTracks,
) -> str:
    """Ensure the user's playlist of the week; returns what happened (a status word)."""
    from spotify_assets.lib.spotify.playlists import PlaylistState, ensure_playlist

    key = f"{week.isoformat()}/{user_id}"
    existing = warehouse.scan(RELEASE_RADAR_PLAYLISTS, partitions=[key]).to_pylist()
    row = existing[0] if existing else None
    albums = sorted(r["album_id"] for r in radar)
    previous = _state_of(row)
    if previous is not None and previous.status == "deleted_by_user":
        return "deleted_by_user"
    if previous is not None and previous.status == "synced" and row["album_ids"] == albums:
        return "unchanged"
    if previous is None and not albums:
        _save(warehouse, raw, key, week, user_id, None, albums)
        return "empty"

    def save(state: PlaylistState) -> None:
        _save(warehouse, raw, key, week, user_id, state, albums)

    uris = wanted_tracks(spotify, user_id, radar, tracks_of)
    result = ensure_playlist(
        spotify, user_id, name=playlist_name(week),
        description=f"New releases of the week of {week.isoformat()} by artists you follow "
                    f"{playlist_marker(week)}",
        marker=playlist_marker(week), uris=uris, previous=previous, save=save,
    )
    return "created" if result.created else result.state.status


def _save(warehouse: Warehouse, raw: RawStore, key: str, week: date, user_id: str, state,
          albums) -> None:
    """The user's playlist row as the sync leaves it. It records what we did on Spotify, which
    no API read can tell again: its receipt (the row itself) lands first, for the rebuild."""
    row = {
        "week": week, "user_id": user_id,
        "status": state.status if state else "empty",
        "playlist_id": state.playlist_id if state else None,
        "name": playlist_name(week),
        "album_ids": albums,
        "track_uris": list(state.uris) if state else [],
        "snapshot_id": state.snapshot_id if state else None,
        "updated_at": datetime.now(UTC),
    }
    raw.put_receipt(user_id, PLAYLISTS_RECIPE, [(RELEASE_RADAR_PLAYLISTS.name, key)], row=row)
    warehouse.write(RELEASE_RADAR_PLAYLISTS, [row], key)


def replay_playlist(settings: Settings, warehouse: Warehouse, raw_root: Path,
                    receipt: dict) -> None:
    """Write one receipt's playlist row again (`spotify-assets rebuild`)."""
    [(_, key)] = receipt["writes"]
    row = receipt_row(RELEASE_RADAR_PLAYLISTS.schema, receipt["row"])
    warehouse.write(RELEASE_RADAR_PLAYLISTS, [row], key)


@dg.asset(
    partitions_def=weekly,
    group_name=GROUP,
    kinds={"spotify", "parquet"},
    deps=["release_radar"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(PLAYLISTS_CHECK, asset="release_radar_playlists")],
    # Two runs at once would both see no playlist yet and both create one.
    pool="release_radar_playlists",
)
def release_radar_playlists(
    context: dg.AssetExecutionContext,
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
    spotify: dg.ResourceParam[Any],
    raw: dg.ResourceParam[RawStore],
):
    """One row per opted-in user (`spotify-assets users opt-in <id> release_radar_playlist`)
    and week: their private playlist of the week's new tracks, one per user and week
    (lib/spotify/playlists.py: a re-run adds nothing, a deleted one is not recreated).
    A range run makes the playlist of its last week only: a backfill of a year must not drop
    52 playlists into someone's library."""
    opted = sorted(u.id for u in users.active_users() if OPT_IN in u.opt_ins)
    tracks_of = _AlbumTracks(spotify)
    outcomes: dict[str, int] = {}
    failures: list[UserFailure] = []
    for week in weeks_in(context.partition_time_window)[-1:]:
        radar = warehouse.scan(RELEASE_RADAR, partitions=[week.isoformat()]).to_pylist()

        def one(user_id: str, week: date = week, radar: list = radar) -> str | UserFailure:
            from spotify_assets.lib.spotify.errors import SpotifyError

            mine = [r for r in radar if r["user_id"] == user_id]
            try:
                return sync_user_playlist(spotify, warehouse, raw, user_id, week, mine,
                                          tracks_of)
            except SpotifyError as exc:
                return classify(user_id, exc)

        with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for user_id, outcome in zip(opted, pool.map(one, opted), strict=True):
                if isinstance(outcome, UserFailure):
                    failures.append(outcome)
                    context.log.warning(f"{who(user_id)} ({week}): {outcome.message}")
                    outcome = outcome.status
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    warehouse.publish()
    weeks = tuple(f"{w.isoformat()}/" for w in weeks_in(context.partition_time_window)[-1:])
    keys = [k for k in warehouse.partitions(RELEASE_RADAR_PLAYLISTS) if k.startswith(weeks)]
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": warehouse.scan(RELEASE_RADAR_PLAYLISTS, partitions=keys).num_rows,
            "opted_in_users": len(opted),
            "outcomes": dg.MetadataValue.json(outcomes),
            "album_track_requests": len(tracks_of.cache),
        }
    )
    yield users_check(PLAYLISTS_CHECK, failures, asset="release_radar_playlists")
