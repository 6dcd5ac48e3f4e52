"""Listening statistics computed from `plays` with DuckDB: per local day, sessions, coverage
(month partitions of day files, see `history.py`), and the hour x weekday heatmap."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.defs.listening.history import (
    AROUND_MONTH,
    RefreshPlan,
    history_asset_kwargs,
    logged_ranges,
    logs_progress,
    month_metadata,
    nothing_to_rewrite,
    plan_refresh,
    write_days,
)
from spotify_assets.defs.listening.plays import polled_partitions
from spotify_assets.defs.listening.tables import (
    DAILY_LISTENING,
    LISTENING_COVERAGE,
    LISTENING_HEATMAP,
    LISTENING_SESSIONS,
    PLAYS,
    POLLED_PLAYS,
)
from spotify_assets.defs.previews import bar_chart
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.query import LakeView, run_sql
from spotify_assets.lib.settings import Settings

SQL_DIR = Path(__file__).parent / "sql"
SESSION_GAP_MINUTES = 10
# A backfill of years would spend seconds drawing charts nobody opens: the newest months only.
CHARTED_MONTHS = 3


def _timezones(users, settings: Settings) -> pa.Table:
    rows = [{"user_id": u.id, "tz": u.timezone} for u in users.list()]
    return pa.Table.from_pylist(
        rows, schema=pa.schema([("user_id", pa.string()), ("tz", pa.string())])
    )


def _query(sql_file: str, files: list[Path], **tables: pa.Table) -> pa.Table:
    """Run a named SQL file over the given `plays` files (view `plays`) and Arrow tables."""
    return run_sql(SQL_DIR / sql_file, {"plays": LakeView(PLAYS, files)}, tables)


def plays_files(warehouse: Warehouse, first: date, end: date, margin_days: int) -> list[Path]:
    """`plays` day files of [first - margin, end + margin)."""
    lo, hi = first - timedelta(days=margin_days), end + timedelta(days=margin_days)
    keys = [k for k in warehouse.partitions(PLAYS) if lo.isoformat() <= k < hi.isoformat()]
    return warehouse.files(PLAYS, keys)


def _per_range(context: dg.AssetExecutionContext, plan: RefreshPlan, compute) -> pa.Table | None:
    """`compute(first, end)` for each range of the plan's days, as one table."""
    tables = [compute(first, end) for first, end in logged_ranges(context, plan)]
    return pa.concat_tables(tables) if tables else None


@dg.asset(
    **history_asset_kwargs(
        "daily_listening", deps=[dg.AssetDep("plays", partition_mapping=AROUND_MONTH)]
    )
)
@logs_progress
def daily_listening(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
) -> dg.MaterializeResult:
    """One row per user per local day (the user's timezone) with any listening: minutes,
    plays, distinct tracks and artists, top track and artist. Partition: the month of the local
    date; one file per local date."""
    plan = plan_refresh(context, warehouse)
    if not plan.days:
        return nothing_to_rewrite(context, warehouse, DAILY_LISTENING, plan)
    timezones = _timezones(users, settings)

    def compute(first: date, end: date) -> pa.Table:
        return _query(
            "daily_listening.sql",
            plays_files(warehouse, first, end, 1),
            timezones=timezones,
            params=pa.table(
                {
                    "first_day": [first],
                    "end_day": [end],
                    "default_tz": [settings.default_timezone],
                }
            ),
        )

    result = _per_range(context, plan, compute)
    write_days(warehouse, DAILY_LISTENING, result, plan, "date")
    warehouse.publish()
    rewritten = sorted({d.isoformat()[:7] for d in plan.days})[-CHARTED_MONTHS:]
    by_month = _minutes_charts(warehouse, rewritten)
    charts = {
        key: {"minutes_per_day": by_month[key[:7]]}
        for key in context.partition_keys
        if key[:7] in by_month
    }
    month_metadata(context, warehouse, DAILY_LISTENING, plan, charts)
    minutes = pc.sum(result["minutes"]).as_py() or 0.0
    return dg.MaterializeResult(
        metadata={"user_days_rewritten": result.num_rows, "minutes_rewritten": round(minutes, 1)}
    )


def _minutes_charts(warehouse: Warehouse, months: list[str]) -> dict[str, dg.MetadataValue]:
    """Per month (YYYY-MM): minutes per local day, summed over every listener; their day files
    are read once for all of them."""
    days = [k for k in warehouse.partitions(DAILY_LISTENING) if k[:7] in months]
    table = warehouse.scan(DAILY_LISTENING, partitions=days)
    sums = table.group_by("date").aggregate([("minutes", "sum")]).sort_by("date")
    points: dict[str, tuple[list[str], list[float]]] = {month: ([], []) for month in months}
    for day, minutes in zip(sums["date"].to_pylist(), sums["minutes_sum"].to_pylist(), strict=True):
        labels, values = points[day.isoformat()[:7]]
        labels.append(str(day.day))
        values.append(minutes)
    return {
        month: bar_chart(
            labels, values, title=f"Minutes per day, {month}, all listeners", unit="minutes"
        )
        for month, (labels, values) in points.items()
    }


def sessions_between(
    warehouse: Warehouse, days_with_plays: list[str], first: date, end: date
) -> pa.Table:
    """Sessions that started in [first, end): read a day around it, and more while a session
    touches the edge of what was read (a night-long stream would otherwise be cut where the
    read began, and a session's rows would depend on which days a run happened to rewrite).

    Only while the user of such a session has plays beyond that edge: a listener whose first
    play is in the window (a new one), or who did not listen the day before it, made every
    run walk back through everyone's whole history (7 reads up to 2,438 day files, 2.3 s for a
    3-day refresh); their sessions cannot change, and nobody else's are open. The answer is
    the same either way (tested)."""
    params = pa.table(
        {"first_day": [first], "end_day": [end], "gap_minutes": [SESSION_GAP_MINUTES]}
    )
    before = after = 1
    oldest = date.fromisoformat(days_with_plays[0]) if days_with_plays else first
    newest = date.fromisoformat(days_with_plays[-1]) if days_with_plays else end
    read: list[str] | None = None
    reads = 0
    spans: dict[str, tuple[date, date]] | None = None
    while True:
        lo, hi = first - timedelta(days=before), end + timedelta(days=after)
        keys = [k for k in days_with_plays if lo.isoformat() <= k < hi.isoformat()]
        # Days without plays add nothing: the same files give the same answer. Across a gap in
        # a history (an old export, then polling) the window doubles without reading again: 7
        # reads of the same 2,434 files (8 s) were one.
        if keys != read:
            result = _query("listening_sessions.sql", warehouse.files(PLAYS, keys), params=params)
            read, reads = keys, reads + 1
        open_before = _users(result, "open_before") if lo > oldest else set()
        open_after = _users(result, "open_after") if hi <= newest else set()
        more_before, more_after = bool(open_before), bool(open_after)
        if (more_before or more_after) and reads > 1:
            # Past the first read further out (usually enough), ask who has plays further out:
            # one read of two columns of every file, not a walk through all of them.
            spans = spans if spans is not None else user_days(warehouse, days_with_plays)
            more_before = any(spans[u][0] < lo for u in open_before)
            more_after = any(spans[u][1] >= hi for u in open_after)
        if not more_before and not more_after:
            return result.drop_columns(["open_before", "open_after"])
        before, after = before * (2 if more_before else 1), after * (2 if more_after else 1)


def _users(sessions: pa.Table, flag: str) -> set[str]:
    return set(pc.unique(sessions.filter(sessions[flag])["user_id"]).to_pylist())


def user_days(warehouse: Warehouse, days_with_plays: list[str]) -> dict[str, tuple[date, date]]:
    """Each user's first and last UTC day with plays (two columns of every `plays` file)."""
    table = _query("user_days.sql", warehouse.files(PLAYS, days_with_plays))
    return {row["user_id"]: (row["first_day"], row["last_day"]) for row in table.to_pylist()}


@dg.asset(
    **history_asset_kwargs(
        "listening_sessions", deps=[dg.AssetDep("plays", partition_mapping=AROUND_MONTH)]
    )
)
@logs_progress
def listening_sessions(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per listening session (plays with at most 10 minutes between one's stop and the
    next one's start). Partition: the month (UTC) the session started; one file per UTC day."""
    plan = plan_refresh(context, warehouse)
    if not plan.days:
        return nothing_to_rewrite(context, warehouse, LISTENING_SESSIONS, plan)

    days_with_plays = sorted(warehouse.partitions(PLAYS))

    def compute(first: date, end: date) -> pa.Table:
        return sessions_between(warehouse, days_with_plays, first, end)

    result = _per_range(context, plan, compute)
    write_days(warehouse, LISTENING_SESSIONS, result, plan, "day")
    warehouse.publish()
    month_metadata(context, warehouse, LISTENING_SESSIONS, plan)
    return dg.MaterializeResult(metadata={"sessions_rewritten": result.num_rows})


_FLAGS = ["user_id", "played_at", "duration_ms", "late_synced", "gap_before"]


def polled_flags(warehouse: Warehouse, first: date, end: date) -> pa.Table:
    """How polling saw the plays that ended in [first - 1 day, end + 1 day): `late_synced` and
    `gap_before` of each `polled_plays` row (null in day files written before they existed)."""
    lo = datetime.combine(first - timedelta(days=1), time(), UTC)
    hi = datetime.combine(end + timedelta(days=1), time(), UTC)
    return warehouse.scan(
        POLLED_PLAYS,
        "played_at >= ? and played_at < ?",
        [lo, hi],
        partitions=polled_partitions(warehouse, lo, hi),
    ).select(_FLAGS)


@dg.asset(**history_asset_kwargs("listening_coverage", deps=["plays"]))
@logs_progress
def listening_coverage(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per user per UTC day: plays seen by polling vs by exports, so a user can see
    what polling missed (export_only) and what no export holds yet (poll_only), and how
    polling caught them: late (an offline device's plays, `late_synced`) or after a page that
    may have lost some (`possible_gaps`; both read from `polled_plays`, which is up to date
    once `plays` is, since `plays` depends on it). Partition: the month; one file per UTC
    day."""
    plan = plan_refresh(context, warehouse)
    if not plan.days:
        return nothing_to_rewrite(context, warehouse, LISTENING_COVERAGE, plan)
    result = _per_range(
        context,
        plan,
        lambda first, end: _query(
            "listening_coverage.sql",
            plays_files(warehouse, first, end, 0),
            polled=polled_flags(warehouse, first, end),
        ),
    )
    write_days(warehouse, LISTENING_COVERAGE, result, plan, "day")
    warehouse.publish()
    month_metadata(context, warehouse, LISTENING_COVERAGE, plan)

    def total(column: str) -> int:
        return pc.sum(result[column]).as_py() or 0

    return dg.MaterializeResult(
        metadata={
            "user_days_rewritten": result.num_rows,
            "plays_polling_missed": total("export_only"),
            "plays_synced_late": total("late_synced"),
            "possible_gaps": total("possible_gaps"),
        }
    )


@dg.asset(group_name="listening", deps=["plays"], kinds={"duckdb", "parquet"})
def listening_heatmap(
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
) -> dg.MaterializeResult:
    """One row per user, local ISO weekday and local hour with listening, over all history."""
    frame = _query(
        "listening_heatmap.sql",
        warehouse.files(PLAYS),
        timezones=_timezones(users, settings),
        params=pa.table({"default_tz": [settings.default_timezone]}),
    )
    warehouse.write(LISTENING_HEATMAP, frame)
    warehouse.publish()
    return dg.MaterializeResult(metadata={"dagster/row_count": frame.num_rows})
