"""The part of a monthly wrapped that can only be captured when the month ends: each user's
Spotify top tracks and top artists for short, medium and long term (6 lists, 50 items each).

Write-once per user and month: the file `monthly_wrapped_captured/<month>/<handle>` is written
by the first capture and never again, so re-materializing a month (or running its capture
again) leaves it byte-identical; the run's metadata says how many were kept.

When a capture happens (per user, for the last month of the run's window):
- only in a run tagged `spotify_assets/wrapped_capture=true`: the tick of
  `monthly_wrapped_schedule` on the 1st at 00:00 UTC sets it (an operator can add it to a run for
  a tick the deployment missed); any other run (a re-materialization, a backfill, the demo)
  never asks Spotify, because Spotify only tells the present: today's lists stamped on an old
  month would be a lie;
- only once the month has ended somewhere (UTC+14), so a tagged run of the current month waits;
- always 6 fresh requests, never the day's tops snapshot: that one is taken at 05:00 UTC and
  would describe the month minus its last day (6 requests per user a month cost nothing);
- never for a month that ended before the user enrolled (no capture, stated as
  `before_enrollment` in `monthly_wrapped`, the metadata and the report); a user who cannot be
  asked (paused, must log in again, rate limited, failing) is named by handle in the check and
  captured by a later tagged run.
"""

import concurrent.futures
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from spotify_assets.defs.partitions import monthly
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.tables import TIME_RANGES
from spotify_assets.defs.wrapped.common import (
    CAPTURE_TAG,
    GROUP,
    count_by,
    local_midnight,
    month_has_ended,
    month_key,
    months_in,
    next_month,
    user_partition,
)
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED_CAPTURED
from spotify_assets.lib.raw import RawStore, recording

CAPTURE_LIMIT = 50
KINDS = ("tracks", "artists")
CAPTURE_CHECK = "monthly_wrapped_captured_users_ok"
CAPTURE_RECIPE = "monthly_wrapped_captured"
WORKERS = 4


@dataclass(frozen=True)
class Outcome:
    handle: str
    status: str  # kept | captured | before_enrollment | not_a_capture_run | month_not_over
    # | inactive | needs_reauth | deferred | error
    rows: int = 0
    message: str = ""


def is_capture_run(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(CAPTURE_TAG, "").lower() in ("true", "1", "yes")


def captured_rows(user_id: str, month: date, kind: str, time_range: str, items: list,
                  at: datetime) -> list[dict[str, Any]]:
    rows = []
    for rank, item in enumerate(items[:CAPTURE_LIMIT], start=1):
        if item.id is None:
            continue  # a local file: nothing to name it by later
        track = kind == "tracks"
        rows.append(
            {
                "user_id": user_id,
                "month": month,
                "kind": kind,
                "time_range": time_range,
                "rank": rank,
                "spotify_id": item.id,
                "name": item.name,
                "artist_names": [a.name for a in item.artists] if track else None,
                "album_name": item.album.name if track and item.album else None,
                "isrc": item.external_ids.isrc if track and item.external_ids else None,
                "captured_at": at,
            }
        )
    return rows


def capture_rows(spotify: Any, user_id: str, month: date, at: datetime) -> list[dict[str, Any]]:
    """The 6 lists as rows (any failure raises before anything is written)."""
    rows: list[dict[str, Any]] = []
    for kind in KINDS:
        for time_range in TIME_RANGES:
            items = spotify.top_items(user_id, kind, time_range, limit=CAPTURE_LIMIT)
            rows += captured_rows(user_id, month, kind, time_range, items, at)
    return rows


def capture_user(spotify: Any, warehouse: Warehouse, raw: RawStore, user: Any,
                 month: date) -> Outcome:
    """The 6 lists, then one file; nothing is written unless all 6 were read. The receipt
    lands first: raw holds whatever the lake holds (rebuild replays it)."""
    from spotify_assets.lib.spotify.errors import (
        QuotaExceededError,
        RateLimitDeferred,
        ReauthorizationRequired,
        SpotifyError,
    )

    at = datetime.now(UTC)
    partition = user_partition(month, user.handle)
    try:
        with recording() as calls:
            rows = capture_rows(spotify, user.id, month, at)
    except ReauthorizationRequired:
        return Outcome(user.handle, "needs_reauth", message="must log in again")
    except (RateLimitDeferred, QuotaExceededError):
        return Outcome(user.handle, "deferred", message="rate limited; capture later")
    except SpotifyError as exc:
        return Outcome(user.handle, "error", message=f"HTTP {exc.status or '-'}")
    raw.put_receipt(user.id, CAPTURE_RECIPE, [(MONTHLY_WRAPPED_CAPTURED.name, partition)],
                    month=month.isoformat(), captured_at=at.isoformat(), calls=calls)
    warehouse.write(MONTHLY_WRAPPED_CAPTURED, rows, partition)
    return Outcome(user.handle, "captured", rows=len(rows))


def replay_capture(settings: Any, warehouse: Warehouse, raw_root: Path, receipt: dict) -> None:
    """Write one receipt's captured lists again, from its bodies (`spotify-assets rebuild`)."""
    from spotify_assets.lib.spotify.replay import ReplayClient

    spotify = ReplayClient.from_receipt(settings, raw_root, receipt["calls"])
    rows = capture_rows(spotify, receipt["user_id"], date.fromisoformat(receipt["month"]),
                        datetime.fromisoformat(receipt["captured_at"]))
    [(_, partition)] = receipt["writes"]
    warehouse.write(MONTHLY_WRAPPED_CAPTURED, rows, partition)


def decide(warehouse: Warehouse, user: Any, month: date, *, capture: bool,
           now: datetime) -> Outcome | None:
    """What happens to the user's captured part of `month`; None: capture it now."""
    if warehouse.has_partition(MONTHLY_WRAPPED_CAPTURED, user_partition(month, user.handle)):
        return Outcome(user.handle, "kept")
    if user.enrolled_at >= local_midnight(next_month(month), user.timezone):
        return Outcome(user.handle, "before_enrollment")
    if not capture:
        return Outcome(user.handle, "not_a_capture_run")
    if not month_has_ended(month, now):
        return Outcome(user.handle, "month_not_over")
    if user.status != "active":
        return Outcome(user.handle, "inactive", message=user.status)
    return None


@dg.asset(
    partitions_def=monthly,
    group_name=GROUP,
    kinds={"spotify", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(CAPTURE_CHECK, asset="monthly_wrapped_captured")],
)
def monthly_wrapped_captured(
    context: dg.AssetExecutionContext,
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
    spotify: dg.ResourceParam[Any],
    raw: dg.ResourceParam[RawStore],
):
    """One row per item of a user's Spotify top lists (tracks, artists x short, medium, long
    term) as they were when the month ended; written once per user and month, never rewritten
    (rules in the module docstring). Source: /me/top/{type}, at the schedule's tick."""
    months = months_in(context.partition_time_window)
    capture = is_capture_run(context)
    now = datetime.now(UTC)
    registered = users.list()
    failed: list[Outcome] = []
    for month in months:
        capturing = capture and month == months[-1]

        def one(user: Any, month: date = month, capturing: bool = capturing) -> Outcome:
            outcome = decide(warehouse, user, month, capture=capturing, now=now)
            return outcome or capture_user(spotify, warehouse, raw, user, month)

        with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
            outcomes = list(pool.map(one, registered))
        failed += [o for o in outcomes if o.status in ("needs_reauth", "deferred", "error")]
        for outcome in outcomes:
            if outcome.status in ("needs_reauth", "deferred", "error", "inactive"):
                context.log.warning(
                    f"{outcome.handle} ({month_key(month)}): not captured: {outcome.status} "
                    f"{outcome.message}".rstrip()
                )
        statuses = count_by(o.status for o in outcomes)
        kept = statuses.get("kept", 0)
        context.add_asset_metadata(
            {
                "dagster/row_count": sum(
                    e.rows for e in warehouse.lake.entries(
                        MONTHLY_WRAPPED_CAPTURED.name,
                        [user_partition(month, u.handle) for u in registered],
                    )
                ),
                "users": dg.MetadataValue.json(statuses),
                "capture_run": capture,
                "captured_part": (
                    f"{kept} user(s) kept byte-identical (write-once), "
                    f"{statuses.get('captured', 0)} captured now"
                ),
            },
            partition_key=month_key(month),
        )
    warehouse.publish()
    yield dg.MaterializeResult(metadata={"capture_run": capture, "months": len(months)})
    yield dg.AssetCheckResult(
        check_name=CAPTURE_CHECK,
        passed=not failed,
        severity=dg.AssetCheckSeverity.WARN,
        description="users whose lists could not be read (by handle): "
        + (", ".join(f"{o.handle} ({o.status})" for o in failed) or "none"),
        metadata={"failed": len(failed)},
    )
