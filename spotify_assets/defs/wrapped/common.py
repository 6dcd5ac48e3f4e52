"""What the wrapped assets share: periods of the user's local calendar, what all of history
knows about names (recordings, ids, first plays), and the SQL that computes a period."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.musicbrainz.tables import GENRES
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.recordings import recording_keys
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED_CAPTURED
from spotify_assets.lib import query
from spotify_assets.lib.query import LakeView
from spotify_assets.lib.settings import Settings

SQL_DIR = Path(__file__).parent / "sql"
GROUP = "wrapped"
# Set by `monthly_wrapped_schedule`'s tick at the end of a month: only such a run asks Spotify
# for the top lists (an operator can add it to a run by hand for a tick that was missed).
CAPTURE_TAG = "spotify_assets/wrapped_capture"
TOP_N = 50
ONE_DAY = timedelta(days=1)
# UTC+14 is the first place a month ends: before that, nowhere is it over.
EARLIEST_OFFSET = timedelta(hours=14)
GENRE_SCHEMA = pa.schema([("artist_id", pa.string()), ("genre", pa.string())])
TZ_SCHEMA = pa.schema([("user_id", pa.string()), ("tz", pa.string())])


def run_sql(sql_file: str, views: Mapping[str, LakeView] | None = None,
            tables: Mapping[str, pa.Table] | None = None) -> pa.Table:
    """Run `sql/<sql_file>` of the wrapped domain (see `lib.query.run_sql`)."""
    return query.run_sql(SQL_DIR / sql_file, views, tables)


# --- periods -----------------------------------------------------------------------------------


def next_month(month: date) -> date:
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def months_in(window: dg.TimeWindow) -> list[date]:
    """First days of the months of the run's monthly partitions (one, or a backfill range)."""
    month, months = window.start.date(), []
    while month < window.end.date():
        months.append(month)
        month = next_month(month)
    return months


def years_in(window: dg.TimeWindow) -> list[int]:
    return list(range(window.start.year, window.end.year))


def month_key(month: date) -> str:
    return month.isoformat()


def user_partition(month: date, handle: str) -> str:
    """`<YYYY-MM-01>/<handle>`: per-user files are named by the user's handle, never their id,
    since paths get into run metadata and logs, which Dagster keeps after `users remove`."""
    return f"{month_key(month)}/{handle}"


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def month_has_ended(month: date, now: datetime) -> bool:
    """Whether the month is over somewhere on earth (a capture describes its end)."""
    return now >= datetime.combine(next_month(month), time(), tzinfo=UTC) - EARLIEST_OFFSET


@dataclass(frozen=True)
class Period:
    """A stretch of the user's local calendar, [start, end)."""

    name: str  # month | year | Q1..Q4 | 01..12
    start: date
    end: date


def year_periods(year: int) -> list[Period]:
    """The year, its quarters and its months."""
    periods = [Period("year", date(year, 1, 1), date(year + 1, 1, 1))]
    for quarter in range(4):
        start = date(year, 3 * quarter + 1, 1)
        periods.append(Period(f"Q{quarter + 1}", start, next_month(next_month(next_month(start)))))
    for month in range(1, 13):
        start = date(year, month, 1)
        periods.append(Period(f"{month:02d}", start, next_month(start)))
    return periods


def periods_table(periods: Iterable[Period]) -> pa.Table:
    periods = list(periods)
    return pa.table(
        {
            "period": pa.array([p.name for p in periods], pa.string()),
            "period_start": pa.array([p.start for p in periods], pa.date32()),
            "period_end": pa.array([p.end for p in periods], pa.date32()),
        }
    )


# --- what history knows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """Read once per run: everything a period's numbers need besides its own plays."""

    default_tz: str
    timezones: pa.Table
    recordings: pa.Table
    names: pa.Table  # sql/known.sql
    genres: pa.Table


def timezones_of(users: Any) -> pa.Table:
    rows = [{"user_id": u.id, "tz": u.timezone} for u in users.list()]
    return pa.Table.from_pylist(rows, schema=TZ_SCHEMA)


def artist_genres(warehouse: Warehouse) -> pa.Table:
    """(artist_id, genre): the `genres` table's artist rows (empty before enrichment)."""
    table = warehouse.scan(GENRES, "entity = 'artist'")
    return pa.table(
        {"artist_id": table["spotify_id"], "genre": table["genre"]}, schema=GENRE_SCHEMA
    )


def load_known(warehouse: Warehouse, settings: Settings, users: Any) -> Known:
    timezones = timezones_of(users)
    names = run_sql(
        "known.sql",
        views={
            "plays": LakeView(
                PLAYS,
                warehouse.files(PLAYS),
                "user_id, started_at, track_key, artist_ids, album_id, album_name",
            )
        },
        tables={
            "timezones": timezones,
            "params": pa.table({"default_tz": [settings.default_timezone]}),
        },
    )
    return Known(
        settings.default_timezone,
        timezones,
        recording_keys(warehouse),
        names,
        artist_genres(warehouse),
    )


def plays_files(warehouse: Warehouse, first: date, end: date) -> list[Path]:
    """`plays` day files that can hold a play started on a local day in [first, end) anywhere
    on earth (UTC-12 .. UTC+14): the UTC days first - 1 .. end."""
    lo, hi = (first - ONE_DAY).isoformat(), (end + ONE_DAY).isoformat()
    return warehouse.files(PLAYS, [k for k in warehouse.partitions(PLAYS) if lo <= k < hi])


def compute(
    warehouse: Warehouse,
    known: Known,
    first: date,
    end: date,
    periods: list[Period],
    main: Period,
) -> tuple[pa.Table, pa.Table]:
    """(summary of `main`, tops of every period) for every user with plays in [first, end)."""
    staged = run_sql(
        "wrapped_plays.sql",
        views={"plays": LakeView(PLAYS, plays_files(warehouse, first, end))},
        tables={
            "timezones": known.timezones,
            "params": pa.table(
                {"first_day": [first], "end_day": [end], "default_tz": [known.default_tz]}
            ),
            "recordings": known.recordings,
            "known": known.names,
        },
    )
    tops = run_sql(
        "wrapped_tops.sql",
        tables={
            "wrapped_plays": staged,
            "periods": periods_table(periods),
            "artist_genres": known.genres,
            "params": pa.table({"top_n": [TOP_N]}),
        },
    )
    summary = run_sql(
        "wrapped_summary.sql",
        tables={"wrapped_plays": staged, "periods": periods_table([main]), "tops": tops},
    )
    return summary, tops


# --- the captured part -------------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    status: str  # captured | before_enrollment | not_captured
    captured_at: datetime | None = None


def captures_of_month(warehouse: Warehouse, month: date, users: Any) -> dict[str, Capture]:
    """user id -> what the month's captured part is for every registered user."""
    registered = users.list()
    prefix = f"{month_key(month)}/"
    present = {
        key.removeprefix(prefix)
        for key in warehouse.partitions(MONTHLY_WRAPPED_CAPTURED)
        if key.startswith(prefix)
    }
    table = warehouse.scan(
        MONTHLY_WRAPPED_CAPTURED,
        partitions=[user_partition(month, u.handle) for u in registered if u.handle in present],
    )
    first_at: dict[str, datetime] = {}
    if table.num_rows:
        grouped = table.group_by("user_id").aggregate([("captured_at", "min")])
        first_at = dict(
            zip(grouped["user_id"].to_pylist(), grouped["captured_at_min"].to_pylist(),
                strict=True)
        )
    result = {}
    for user in registered:
        if user.handle in present:
            result[user.id] = Capture("captured", first_at.get(user.id))
        elif user.enrolled_at >= local_midnight(next_month(month), user.timezone):
            result[user.id] = Capture("before_enrollment")
        else:
            result[user.id] = Capture("not_captured")
    return result


def with_captures(summary: pa.Table, captures: Mapping[str, Capture]) -> pa.Table:
    users = summary["user_id"].to_pylist()
    found = [captures.get(u, Capture("not_captured")) for u in users]
    summary = summary.append_column(
        "captured_status", pa.array([c.status for c in found], pa.string())
    )
    return summary.append_column(
        "captured_at", pa.array([c.captured_at for c in found], pa.timestamp("ms", tz="UTC"))
    )


def count_by(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def total_minutes(table: pa.Table) -> float:
    return round(pc.sum(table["minutes"]).as_py() or 0.0, 1) if table.num_rows else 0.0
