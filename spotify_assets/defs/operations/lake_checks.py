# Not named checks.py: load_from_defs_folder then loads polled_plays twice (Dagster 1.13.27).
"""Asset checks on the lake tables where a rule must always hold, kept apart from the assets
(they run after the asset in any run that materializes it, and show on its Checks tab).

- `plays_unique_play_ids` (plays): a play id appears twice (the merge makes one row a play);
- `plays_no_future_timestamps` (plays): a play ends after now (+ 15 min of clock skew) or
  starts after it ends;
- `polled_plays_no_future_timestamps` (polled_plays): a play ended after the poll that saw it;
- `plays_listeners_present` (plays): a listener whose sources hold plays (outside days waiting
  for a refresh) has none in plays;
- `daily_listening_listeners_present` (daily_listening): a listener in plays has no day there;
- `import_reports_sum_to_rows_read` (import_reports): a file's categories do not sum to
  rows_read, or its rows in exported_plays / import_rejects differ from its report.

The three checks of `plays` run as one step (`plays_checks`) over one read of the table: a
run the daemon launches starts a process per step.

"Present" is about listeners with plays: an active listener who has not listened yet (or was
never polled) has no row anywhere and is fine; they are counted, not flagged. Checks read the
lake through the Warehouse (`files`, and the lake's stale days), name listeners by handle only.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.listening.tables import (
    DAILY_LISTENING,
    EXPORTED_PLAYS,
    IMPORT_REJECTS,
    IMPORT_REPORTS,
    PLAYS,
    POLLED_PLAYS,
)
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.lake import TableSpec
from spotify_assets.lib.settings import Settings

SQL_DIR = Path(__file__).parent / "sql"
CLOCK_SKEW = timedelta(minutes=15)
STALE_SCOPE = "listening"  # the history tables' stale days (defs/listening/history.py)


def _run(sql: str, warehouse: Warehouse, specs: list[TableSpec], **tables: pa.Table) -> list:
    from spotify_assets.lib.query import LakeView, run_sql

    views = {spec.name: LakeView(spec, warehouse.files(spec)) for spec in specs}
    return run_sql(SQL_DIR / sql, views, tables).to_pylist()


def _handles(settings: Settings, user_ids: list[str]) -> list[str]:
    from spotify_assets.lib.users.registry import UserRegistry

    handles = {u.id: u.handle for u in UserRegistry(settings).list()}
    return sorted(handles.get(u, "a removed listener") for u in user_ids)


def _unique_play_ids(row: dict) -> dg.AssetCheckResult:
    duplicates = row["plays"] - row["distinct_play_ids"]
    return dg.AssetCheckResult(
        check_name="plays_unique_play_ids",
        passed=duplicates == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{duplicates} duplicate play row(s): rebuild the months concerned "
            "(docs/operations.md, 'Backfill') and report it: the merge rule is broken"
            if duplicates
            else f"{row['plays']} plays, each id once"
        ),
        metadata={"plays": row["plays"], "duplicate_rows": duplicates},
    )


def _params(settings: Settings | None) -> pa.Table:
    from spotify_assets.lib.clock import now

    horizon = now(settings) + CLOCK_SKEW if settings is not None else None
    return pa.table(
        {
            "horizon": pa.array([horizon], pa.timestamp("ms", tz="UTC")),
            "skew_minutes": [int(CLOCK_SKEW.total_seconds() // 60)],
        }
    )


def _no_future_plays(row: dict) -> dg.AssetCheckResult:
    bad = row["future"] + row["reversed"]
    return dg.AssetCheckResult(
        check_name="plays_no_future_timestamps",
        passed=bad == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{row['future']} play(s) end in the future, {row['reversed']} start after they "
            "end: a source row with a wrong clock (an import's `ts`?); see import_rejects and "
            "the listener's export"
            if bad
            else f"{row['plays']} plays, none in the future"
        ),
        metadata={"plays": row["plays"], "future": row["future"], "reversed": row["reversed"]},
    )


@dg.asset_check(
    asset="polled_plays", description="No polled play ended after the poll that saw it."
)
def polled_plays_no_future_timestamps(
    warehouse: dg.ResourceParam[Warehouse],
) -> dg.AssetCheckResult:
    [row] = _run("polled_timestamps.sql", warehouse, [POLLED_PLAYS], params=_params(None))
    return dg.AssetCheckResult(
        passed=row["future"] == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{row['future']} polled play(s) ended after their poll (beyond "
            f"{CLOCK_SKEW.total_seconds() / 60:.0f} min of skew): this host's clock is wrong "
            "(check NTP)"
            if row["future"]
            else f"{row['plays']} polled plays, none after its poll"
        ),
        metadata={"plays": row["plays"], "future": row["future"]},
    )


def _listeners_present(settings: Settings, warehouse: Warehouse) -> dg.AssetCheckResult:
    from datetime import date

    from spotify_assets.lib.users.registry import UserRegistry

    stale = sorted(date.fromisoformat(d) for d in warehouse.lake.manifest.stale(STALE_SCOPE))
    rows = _run(
        "listeners_in_plays.sql",
        warehouse,
        [POLLED_PLAYS, EXPORTED_PLAYS, PLAYS],
        stale_days=pa.table({"day": pa.array(stale, pa.date32())}),
    )
    missing = [r["user_id"] for r in rows if not r["in_plays"]]
    with_plays = {r["user_id"] for r in rows}
    active = [u.id for u in UserRegistry(settings).active_users()]
    not_yet = sum(1 for u in active if u not in with_plays)
    names = _handles(settings, missing)
    return dg.AssetCheckResult(
        check_name="plays_listeners_present",
        passed=not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "listeners with source plays but none in plays: " + ", ".join(names)
            + ". Rebuild their months (docs/operations.md, 'Backfill')"
            if missing
            else f"{len(with_plays)} listener(s) with plays, all present; "
            f"{not_yet} active listener(s) have no plays yet"
        ),
        metadata={
            "listeners_with_plays": len(with_plays),
            "missing": len(missing),
            "active_without_plays_yet": not_yet,
            "days_waiting_for_refresh": len(stale),
        },
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("plays_unique_play_ids", asset="plays",
                          description="Every play id appears once in plays."),
        dg.AssetCheckSpec("plays_no_future_timestamps", asset="plays",
                          description="No play ends in the future or starts after it ends."),
        dg.AssetCheckSpec(
            "plays_listeners_present", asset="plays",
            description="Every listener whose polled or exported plays are refreshed has rows "
            "in plays (listeners with no plays yet are counted, not flagged).",
        ),
    ],
)
def plays_checks(
    settings: dg.ResourceParam[Settings], warehouse: dg.ResourceParam[Warehouse]
):
    """The checks of `plays`, in one step (a run launched by the daemon runs each step in a
    process of its own) over one read of the table."""
    [row] = _run("plays_summary.sql", warehouse, [PLAYS], params=_params(settings))
    yield _unique_play_ids(row)
    yield _no_future_plays(row)
    yield _listeners_present(settings, warehouse)


@dg.asset_check(
    asset="daily_listening", description="Every listener in plays has days in daily_listening."
)
def daily_listening_listeners_present(
    settings: dg.ResourceParam[Settings], warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    rows = _run("listeners_in_daily.sql", warehouse, [PLAYS, DAILY_LISTENING])
    missing = [r["user_id"] for r in rows if not r["in_daily"]]
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "listeners in plays without any day in daily_listening: "
            + ", ".join(_handles(settings, missing))
            + ". Rebuild their months (docs/operations.md, 'Backfill')"
            if missing
            else f"{len(rows)} listener(s) in plays, all in daily_listening"
        ),
        metadata={"listeners": len(rows), "missing": len(missing)},
    )


@dg.asset_check(
    asset="import_reports",
    description="Each report's categories sum to rows_read, and the lake holds exactly its kept "
    "rows (exported_plays) and malformed rows (import_rejects).",
)
def import_reports_sum_to_rows_read(
    warehouse: dg.ResourceParam[Warehouse],
) -> dg.AssetCheckResult:
    rows = _run("import_reports.sql", warehouse, [IMPORT_REPORTS, EXPORTED_PLAYS, IMPORT_REJECTS])
    unsummed = [r for r in rows if r["categorised"] != r["rows_read"]]
    unkept = [
        r for r in rows if r["kept"] != r["exported_rows"] or r["malformed"] != r["rejected_rows"]
    ]
    bad = len(unsummed) + len(unkept)
    return dg.AssetCheckResult(
        passed=bad == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(unsummed)} report(s) whose categories do not sum to rows_read, {len(unkept)} "
            "whose rows in the lake differ from the report: re-import those files from raw "
            "(docs/operations.md, 'Rebuild from raw')"
            if bad
            else f"{len(rows)} imported file(s), every row accounted for"
        ),
        metadata={
            "files": len(rows),
            "rows_read": sum(r["rows_read"] for r in rows),
            "not_summing": len(unsummed),
            "lake_differs": len(unkept),
        },
    )
