"""Daily snapshots of every active user's Spotify top tracks and top artists.

Spotify's top lists are an opaque ranking that changes daily and keeps no history, so each day
we keep a copy: `/me/top/tracks` and `/me/top/artists` x short/medium/long_term, 50 items each,
which is exactly 6 requests per user when every list fits one page.

When a snapshot is taken (per user, per day D of the run's window):
- Spotify only tells the present, so only D = today or yesterday (UTC; yesterday for a
  schedule that materializes the last complete day) can be fetched. Older partitions are never
  fetched: stamping today's lists on a past date would be a lie. They keep what they have.
- Cooldown (default 24 h, `cooldown_hours` in run config): if the user's last pull
  (`record_pull(user, "top_items")`, whose cursor is the date it was written to) is younger
  than that, no request is made. D keeps the user's snapshot when it has one; otherwise D gets
  a copy of the last pull's rows (their `fetched_at` says when they were read).
- Forced (`force: true` in run config, or tag `spotify_assets/force=true`): fetch anyway.
One user's failure (needs to log in again, rate limited, quota, server error) never stops the
others: their files for D are left untouched, and the check names them.
"""

import concurrent.futures
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.checks import users_check
from spotify_assets.defs.partitions import daily
from spotify_assets.defs.previews import listeners_top_chart
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.common import partitions_of_day, window_days
from spotify_assets.defs.tops.tables import TIME_RANGES, TOP_ARTISTS, TOP_TRACKS
from spotify_assets.lib import clock
from spotify_assets.lib.lake import TableSpec
from spotify_assets.lib.pseudonyms import handle_of, who
from spotify_assets.lib.raw import RawStore, recording
from spotify_assets.lib.settings import Settings

SOURCE = "top_items"
FETCHED = "top_items"  # receipts' recipes
COPIED = "top_items_copy"
TOP_ITEMS_OP = "top_items"
FORCE_TAG = "spotify_assets/force"
TOP_LIMIT = 50
FETCHABLE_DAYS_BACK = 1
USERS_CHECK = "top_items_users_ok"
SPECS = {"tracks": TOP_TRACKS, "artists": TOP_ARTISTS}


class TopItemsConfig(dg.Config):
    """Run config of `top_items`."""

    force: bool = False
    cooldown_hours: float = 24.0


@dataclass
class UserSnapshot:
    user_id: str
    day: date
    # fetched | kept | copied | past | needs_reauth | deferred | error
    status: str
    message: str = ""
    rows: int = 0


def _artist_names(artists: list) -> list[str]:
    return [a.name for a in artists]


def track_rows(
    user_id: str, day: date, time_range: str, items: list, fetched_at: datetime
) -> list[dict[str, Any]]:
    rows = []
    for rank, track in enumerate(items[:TOP_LIMIT], start=1):
        if track.id is None:
            continue  # a local file has no id; it cannot be tracked across snapshots
        album = track.album
        rows.append(
            {
                "user_id": user_id,
                "snapshot_date": day,
                "time_range": time_range,
                "rank": rank,
                "track_id": track.id,
                "track_name": track.name,
                "artist_ids": [a.id for a in track.artists if a.id],
                "artist_names": _artist_names(track.artists),
                "album_id": album.id if album else None,
                "album_name": album.name if album else None,
                "album_type": album.album_type.lower() if album and album.album_type else None,
                "album_total_tracks": album.total_tracks if album else None,
                "album_release_date": album.release_date if album else None,
                "album_artist_names": _artist_names(album.artists) if album else None,
                "duration_ms": track.duration_ms,
                "explicit": track.explicit,
                "isrc": track.external_ids.isrc if track.external_ids else None,
                "popularity": track.popularity,
                "fetched_at": fetched_at,
            }
        )
    return rows


def artist_rows(
    user_id: str, day: date, time_range: str, items: list, fetched_at: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "user_id": user_id,
            "snapshot_date": day,
            "time_range": time_range,
            "rank": rank,
            "artist_id": artist.id,
            "artist_name": artist.name,
            "genres": artist.genres,
            "popularity": artist.popularity,
            "followers": artist.followers.total if artist.followers else None,
            "fetched_at": fetched_at,
        }
        for rank, artist in enumerate(items[:TOP_LIMIT], start=1)
        if artist.id is not None
    ]


ROW_BUILDERS = {"tracks": track_rows, "artists": artist_rows}


def _partition(day: date, user_id: str) -> str:
    return f"{day.isoformat()}/{user_id}"


def _writes(day: date, user_id: str) -> list[tuple[str, str]]:
    return [(spec.name, _partition(day, user_id)) for spec in SPECS.values()]


def _has_snapshot(warehouse: Warehouse, day: date, user_id: str) -> bool:
    return all(
        warehouse.has_partition(spec, _partition(day, user_id))
        for spec in SPECS.values()
    )


def snapshot_rows(spotify, user_id: str, day: date, now: datetime) -> dict[str, list[dict]]:
    """The 6 lists as rows of both tables (any failure raises before anything is written)."""
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SPECS}
    for kind, build in ROW_BUILDERS.items():
        for time_range in TIME_RANGES:
            items = spotify.top_items(user_id, kind, time_range, limit=TOP_LIMIT)
            rows[kind].extend(build(user_id, day, time_range, items, now))
    return rows


def _write_snapshot(warehouse: Warehouse, rows: dict[str, list[dict]], user_id: str,
                    day: date) -> None:
    for kind, spec in SPECS.items():
        warehouse.write(spec, rows[kind], _partition(day, user_id))


def _fetch(
    spotify, warehouse: Warehouse, users, raw: RawStore, user_id: str, day: date, now: datetime
) -> UserSnapshot:
    """Read the 6 lists, then write both files; nothing is written unless all 6 succeeded.
    The receipt (which bodies, filed under which day, read when) lands first: raw must hold
    whatever the lake holds."""
    with recording() as calls:
        rows = snapshot_rows(spotify, user_id, day, now)
    raw.put_receipt(user_id, FETCHED, _writes(day, user_id), day=day.isoformat(),
                    fetched_at=now.isoformat(), calls=calls)
    _write_snapshot(warehouse, rows, user_id, day)
    users.record_pull(user_id, SOURCE, now, cursor=day.isoformat())
    return UserSnapshot(user_id, day, "fetched", rows=len(rows["tracks"]))


def _copy(warehouse: Warehouse, user_id: str, source: date, day: date) -> int:
    """The rows of the user's last pull (made within the cooldown), filed under `day`; the
    number of track rows."""
    track_count = 0
    for spec in SPECS.values():
        table = warehouse.scan(spec, partitions=[_partition(source, user_id)])
        index = table.schema.get_field_index("snapshot_date")
        table = table.set_column(
            index, "snapshot_date", pa.array([day] * table.num_rows, pa.date32())
        )
        warehouse.write(spec, table, _partition(day, user_id))
        if spec is TOP_TRACKS:
            track_count = table.num_rows
    return track_count


def _copy_pull(warehouse: Warehouse, raw: RawStore, user_id: str, source: date,
               day: date) -> UserSnapshot:
    raw.put_receipt(user_id, COPIED, _writes(day, user_id), day=day.isoformat(),
                    source=source.isoformat())
    rows = _copy(warehouse, user_id, source, day)
    return UserSnapshot(user_id, day, "copied", f"copy of the pull filed under {source}", rows)


def replay(settings: Settings, warehouse: Warehouse, raw_root: Path, receipt: dict) -> None:
    """Write one receipt's snapshot again: the same rows from the same bodies, or the same
    copy (`spotify-assets rebuild`)."""
    from spotify_assets.lib.spotify.replay import ReplayClient

    user_id, day = receipt["user_id"], date.fromisoformat(receipt["day"])
    if receipt["recipe"] == COPIED:
        _copy(warehouse, user_id, date.fromisoformat(receipt["source"]), day)
        return
    spotify = ReplayClient.from_receipt(settings, raw_root, receipt["calls"])
    rows = snapshot_rows(spotify, user_id, day, datetime.fromisoformat(receipt["fetched_at"]))
    _write_snapshot(warehouse, rows, user_id, day)


def snapshot_user(
    spotify,
    warehouse: Warehouse,
    users,
    raw: RawStore,
    user_id: str,
    day: date,
    *,
    now: datetime,
    cooldown: timedelta,
    force: bool,
) -> UserSnapshot:
    """Take, keep or copy one user's snapshot for `day` (rules in the module docstring)."""
    from spotify_assets.lib.spotify.errors import (
        QuotaExceededError,
        RateLimitDeferred,
        ReauthorizationRequired,
        SpotifyError,
    )

    has_snapshot = _has_snapshot(warehouse, day, user_id)
    if day < now.date() - timedelta(days=FETCHABLE_DAYS_BACK):
        status = "kept" if has_snapshot else "past"
        return UserSnapshot(user_id, day, status, "past days cannot be fetched")
    last_pull, cursor = users.pull_state(user_id, SOURCE)
    if not force and last_pull is not None and now - last_pull < cooldown:
        if has_snapshot:
            return UserSnapshot(user_id, day, "kept", f"pulled {last_pull:%Y-%m-%d %H:%M} UTC")
        if cursor and _has_snapshot(warehouse, date.fromisoformat(cursor), user_id):
            return _copy_pull(warehouse, raw, user_id, date.fromisoformat(cursor), day)
    try:
        return _fetch(spotify, warehouse, users, raw, user_id, day, now)
    except ReauthorizationRequired as exc:
        return UserSnapshot(user_id, day, "needs_reauth", str(exc))
    except (RateLimitDeferred, QuotaExceededError) as exc:
        return UserSnapshot(user_id, day, "deferred", str(exc))
    except SpotifyError as exc:
        return UserSnapshot(user_id, day, "error", str(exc))


def is_forced(context: dg.AssetExecutionContext, config: TopItemsConfig) -> bool:
    return config.force or context.run.tags.get(FORCE_TAG, "").lower() in ("true", "1", "yes")


def _report(snapshots: list[UserSnapshot]) -> str:
    lines = ["| day | listener | status | tracks rows | note |", "|---|---|---|---|---|"]
    for s in snapshots:
        lines.append(f"| {s.day} | {handle_of(s.user_id)} | {s.status} | {s.rows} | {s.message} |")
    return "\n".join(lines)


def _day_table(warehouse: Warehouse, spec: TableSpec, day: date) -> pa.Table:
    return warehouse.scan(spec, partitions=partitions_of_day(warehouse, spec, day))


def _track_label(row: dict) -> str:
    artist = (row["artist_names"] or [""])[0]
    return f"{row['track_name']} — {artist}" if artist else str(row["track_name"])


def _artist_label(row: dict) -> str:
    return str(row["artist_name"])


def _result(
    warehouse: Warehouse, spec: TableSpec, days: list[date], label, report: str
) -> dg.MaterializeResult:
    """Row counts per day, and what most listeners have in their short-term top 50 on the
    window's last day."""
    counts = {day.isoformat(): _day_table(warehouse, spec, day).num_rows for day in days}
    latest = [
        {**row, "label": label(row)}
        for row in _day_table(warehouse, spec, days[-1]).to_pylist()
        if row["time_range"] == "short_term"
    ]
    what = spec.name.removeprefix("top_")
    return dg.MaterializeResult(
        asset_key=spec.name,
        metadata={
            "dagster/row_count": sum(counts.values()),
            "rows_by_day": dg.MetadataValue.json(counts),
            **listeners_top_chart(
                latest, "label", title=f"Short-term top {what} on {days[-1]}, by listeners"
            ),
            "users": dg.MetadataValue.md(report),
        },
    )


@dg.multi_asset(
    name=TOP_ITEMS_OP,
    specs=[
        dg.AssetSpec(
            "top_tracks",
            group_name="tops",
            kinds={"spotify", "parquet"},
            description="One row per track in a user's Spotify top tracks per time range and "
            "snapshot day (up to 50; every snapshot kept).",
        ),
        dg.AssetSpec(
            "top_artists",
            group_name="tops",
            kinds={"spotify", "parquet"},
            description="One row per artist in a user's Spotify top artists per time range and "
            "snapshot day (up to 50; every snapshot kept).",
        ),
    ],
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(USERS_CHECK, asset="top_tracks")],
)
def top_items(
    context: dg.AssetExecutionContext,
    config: TopItemsConfig,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
    spotify: dg.ResourceParam[object],
    raw: dg.ResourceParam[RawStore],
):
    """Snapshots of every active user's top tracks and artists (3 ranges x 50), one file per
    user and day; cooldown, force and failure rules in the module docstring."""
    force = is_forced(context, config)
    cooldown = timedelta(hours=config.cooldown_hours)
    active = [u.id for u in users.active_users()]
    days = window_days(context)
    snapshots: list[UserSnapshot] = []
    # Latest day first: in a range run only today (or yesterday) can be fetched, and the days
    # after the first pull reuse it inside the cooldown instead of spending requests again.
    for day in sorted(days, reverse=True):
        now = clock.now(settings)

        def one(uid: str, day: date = day, now: datetime = now) -> UserSnapshot:
            return snapshot_user(
                spotify, warehouse, users, raw, uid, day, now=now, cooldown=cooldown, force=force
            )

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            snapshots.extend(pool.map(one, active))
    failed = [s for s in snapshots if s.status in ("needs_reauth", "deferred", "error")]
    for s in failed:
        context.log.warning(f"{who(s.user_id)} ({s.day}): {s.status}: {s.message}")
    if active and all(s.status == "error" for s in snapshots):
        raise dg.Failure("top items failed for every user:\n" + _report(snapshots))
    warehouse.publish()
    report = _report(sorted(snapshots, key=lambda s: (s.day, s.user_id)))
    yield _result(warehouse, TOP_TRACKS, sorted(days), _track_label, report)
    yield _result(warehouse, TOP_ARTISTS, sorted(days), _artist_label, report)
    yield users_check(
        USERS_CHECK,
        snapshots,
        needs_login=[u.id for u in users.list(status="needs_reauth")],
        asset="top_tracks",
    )
