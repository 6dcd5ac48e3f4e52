"""Tops computed from our own plays, for the ranges ListenBrainz users know."""

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.partitions import daily
from spotify_assets.defs.previews import shared_top_chart
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.common import (
    LakeView,
    run_sql,
    window_days,
)
from spotify_assets.defs.tops.recordings import recording_keys
from spotify_assets.defs.tops.tables import TOPS_FROM_PLAYS
from spotify_assets.lib import catalog
from spotify_assets.lib.settings import Settings

TOP_N = 50
# The range the asset page charts: long enough to be shared, short enough to be news.
CHART_RANGE = "this_year"
# Issue 7 (MusicBrainz enrichment) provides this view; until then genres are left out.
ARTIST_GENRES = ("musicbrainz", "artist_genres")
GENRE_SCHEMA = pa.schema([("artist_id", pa.string()), ("genre", pa.string())])
# A local day D, anywhere from UTC-12 to UTC+14, ends by D+1 12:00 UTC.


@dataclass(frozen=True)
class StatsRange:
    name: str
    start: date | None  # first local day; None = since the first play
    end: date  # local day after the range


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def stats_ranges(as_of: date) -> list[StatsRange]:
    """ListenBrainz's ranges relative to the local day `as_of` (whole days, end exclusive).

    this_week / this_month / this_year: from the start of the period holding `as_of` through
    `as_of` (to date; weeks start on Monday). week / month / quarter / half_yearly / year: the
    previous complete calendar period. all_time: everything through `as_of`. Unlike
    ListenBrainz, the first day of a period does not fall back to the previous period:
    ListenBrainz computes early in the day from a nearly empty day, while our as-of day is
    complete (or, for today's partition, up to date).
    """
    end = as_of + timedelta(days=1)
    week = as_of - timedelta(days=as_of.weekday())
    month = as_of.replace(day=1)
    quarter = date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    half = date(as_of.year, 1 if as_of.month <= 6 else 7, 1)
    year = date(as_of.year, 1, 1)
    return [
        StatsRange("this_week", week, end),
        StatsRange("this_month", month, end),
        StatsRange("this_year", year, end),
        StatsRange("week", week - timedelta(days=7), week),
        StatsRange("month", _add_months(month, -1), month),
        StatsRange("quarter", _add_months(quarter, -3), quarter),
        StatsRange("half_yearly", _add_months(half, -6), half),
        StatsRange("year", date(as_of.year - 1, 1, 1), year),
        StatsRange("all_time", None, end),
    ]


def _ranges_table(as_of: date) -> pa.Table:
    ranges = stats_ranges(as_of)
    return pa.table(
        {
            "time_range": [r.name for r in ranges],
            "period_start": pa.array([r.start for r in ranges], pa.date32()),
            "period_end": pa.array([r.end for r in ranges], pa.date32()),
        }
    )


def _timezones(users) -> pa.Table:
    rows = [{"user_id": u.id, "tz": u.timezone} for u in users.list()]
    return pa.Table.from_pylist(
        rows, schema=pa.schema([("user_id", pa.string()), ("tz", pa.string())])
    )


def plays_files(warehouse: Warehouse, as_of: date) -> list[Path]:
    """`plays` files (one per UTC day) that can hold a play started by the end of local day
    `as_of` in any timezone."""
    last = as_of + timedelta(days=1)
    keys = []
    for key in warehouse.partitions(PLAYS):
        try:
            day = date.fromisoformat(key)
        except ValueError:
            continue
        if day <= last:
            keys.append(key)
    return warehouse.files(PLAYS, keys)


def artist_genres(warehouse: Warehouse) -> tuple[pa.Table, str]:
    """(artist_id, genre) pairs from the catalog's `artist_genres` (issue 7), and a note.

    The hook for genre tops: while the catalog has no such view (or it lacks the columns
    artist_id and genre), an empty table comes back and the genre entity has no rows.
    """
    empty = GENRE_SCHEMA.empty_table()
    view = ".".join(ARTIST_GENRES)
    if not warehouse.path.exists():
        return empty, "no catalog yet"
    con = catalog.connect(warehouse.path)
    try:
        names = set(
            con.execute(
                "select schema_name, view_name from duckdb_views() where not internal "
                "union select schema_name, table_name from duckdb_tables()"
            ).fetchall()
        )
        if ARTIST_GENRES not in names:
            return empty, f"no {view} view yet (MusicBrainz enrichment)"
        table = con.sql(
            f"select distinct cast(artist_id as varchar) as artist_id, "
            f"cast(genre as varchar) as genre from {view} "
            "where artist_id is not null and genre is not null"
        ).to_arrow_table()
        return table.cast(GENRE_SCHEMA), f"{table.num_rows} artist genres"
    except duckdb.Error as exc:
        return empty, f"{view} unreadable, genres skipped: {exc}"
    finally:
        con.close()


def tops_for_day(
    warehouse: Warehouse,
    settings: Settings,
    timezones: pa.Table,
    genres: pa.Table,
    as_of: date,
    recordings: pa.Table | None = None,
) -> pa.Table:
    params = pa.table(
        {
            "as_of": pa.array([as_of], pa.date32()),
            "default_tz": [settings.default_timezone],
            "top_n": [TOP_N],
        }
    )
    return run_sql(
        "tops_from_plays.sql",
        views={"plays": LakeView(PLAYS, plays_files(warehouse, as_of))},
        tables={
            "timezones": timezones,
            "params": params,
            "ranges": _ranges_table(as_of),
            "artist_genres": genres,
            "recordings": recording_keys(warehouse) if recordings is None else recordings,
        },
    )




@dg.asset(
    group_name="tops",
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Genre tops read the `artist_genres` view over `genres`, when enrichment has run.
    # The as-of day D depends on the month of `plays` holding D (Dagster maps a day to its
    # month); it reads every day file up to D+1, across months.
    # Track tops group by recording, with ISRCs from top lists and MusicBrainz matches too.
    deps=["plays", "genres", "top_tracks", "mb_recordings"],
    kinds={"duckdb", "parquet"},
)
def tops_from_plays(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
) -> dg.MaterializeResult:
    """One row per (user, range, entity, metric, rank): the top 50 tracks, artists, albums
    (and genres, once `artist_genres` exists) by listened minutes and by plays, for the
    ListenBrainz ranges this_week, this_month, this_year, week, month, quarter, half_yearly,
    year and all_time, in each user's timezone. Partition: the as-of date.

    Daily, not unpartitioned: partition D holds the tops as of the end of local day D, so a
    run derives everything from its partition key (never from the clock), re-running a day
    after an import corrects exactly that day, and the history of "this_month so far" is kept.
    Every play up to D counts (all_time, this_year), so the asset reads all `plays` files up
    to D+1, not only the mapped ones. Ranges: `stats_ranges`. Keys: a track is a recording
    (ISRC, else MusicBrainz recording id, else normalised artist and title: `recordings.py`),
    shown with its most played track id's names; an artist is its normalised primary-artist
    name; an album is normalised primary artist plus album title (exports name albums but
    carry no album id), with the id polling showed.
    """
    timezones = _timezones(users)
    recordings = recording_keys(warehouse)
    genres, genre_note = artist_genres(warehouse)
    counts: dict[str, int] = {}
    last = TOPS_FROM_PLAYS.schema.empty_table()
    for as_of in window_days(context):
        table = tops_for_day(warehouse, settings, timezones, genres, as_of, recordings)
        counts[as_of.isoformat()] = warehouse.write(TOPS_FROM_PLAYS, table, as_of.isoformat()).rows
        last = table
    warehouse.publish()
    metadata: dict[str, object] = {
        "dagster/row_count": sum(counts.values()),
        "rows_by_day": dg.MetadataValue.json(counts),
        "genres": genre_note,
    }
    # What our listeners share this year: minutes summed over those who have the artist.
    shared = last.filter(
        (pc.field("time_range") == CHART_RANGE)
        & (pc.field("entity") == "artist")
        & (pc.field("metric") == "minutes")
    )
    metadata.update(
        shared_top_chart(
            shared,
            "name",
            "minutes",
            title=f"Top artists {CHART_RANGE.replace('_', ' ')} as of {max(counts)}, minutes",
            unit="minutes",
        )
    )
    return dg.MaterializeResult(metadata=metadata)
