"""`tops_from_plays` against an independent reference query over the world's ground truth.

The world's true plays (tracks, >= 30 s) are written straight into the `plays` lake table, as
the listening merge leaves them (`defs/world_plays.py`): older plays look like extended-export
rows (names and track id, no artist or album id), the last day like polls (with ids);
`listened_ms` is the exact `ms_played`. The world ends on 2026-01-03 after 14 days, so around
the new year every ListenBrainz range has plays and each user's timezone decides where a play
falls. The reference computes the periods with dateutil (not with the asset's code) and groups
by the world's ids (a track by its recording: the world's ISRC, which single and album share),
so the asset's name-based keys for artists and albums, and its recording rule, are checked too.
No Spotify API is involved: users are enrolled in the registry directly, only for their
timezones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from dateutil.relativedelta import MO, relativedelta

from spotify_assets.defs.catalog_map import table_schemas
from spotify_assets.defs.resources import DEFS_DIR, Warehouse, build_resources
from spotify_assets.defs.tops.from_plays import stats_ranges, tops_from_plays
from spotify_assets.defs.tops.tables import TOPS_FROM_PLAYS
from spotify_assets.emulator.world import World, WorldConfig
from spotify_assets.lib.catalog import load_view_sql, refresh_catalog
from spotify_assets.lib.lake import Column, TableSpec
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.defs.tops.conftest import charted
from spotify_assets_tests.defs.world_plays import as_plays, truth_frame, write_plays

END = datetime(2026, 1, 3, 12, tzinfo=UTC)
POLLED_SINCE = END - timedelta(days=1)
DEFAULT_TZ = "America/Los_Angeles"
# demo_light is not enrolled: its plays use the default timezone.
ENROLLED = ("demo_heavy", "demo_skipper", "demo_tokyo", "demo_podcast")
FIRST_DAY, LAST_DAY = date(2025, 12, 31), date(2026, 1, 2)  # across the new year
COMPARED = ["name", "artist_name", "plays", "listened_ms", "period_start", "period_end"]


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldConfig(seed=7, end=END, days=14, n_artists=40, n_tracks=400))


@pytest.fixture(scope="module")
def truth(world: World) -> pd.DataFrame:
    """One row per true play (track, >= 30 s), with the world's ids."""
    return truth_frame(world)


@pytest.fixture
def settings(emu_settings: Settings) -> Settings:
    return emu_settings.model_copy(update={"default_timezone": DEFAULT_TZ, "token_key": None})


@pytest.fixture
def lake(settings: Settings, world: World, truth: pd.DataFrame) -> Warehouse:
    warehouse = Warehouse(settings)
    write_plays(warehouse, as_plays(truth, POLLED_SINCE))
    registry = UserRegistry(settings)
    for uid in ENROLLED:
        registry.enroll(uid, uid, "unused-refresh-token", timezone=world.users[uid].timezone)
    return warehouse


def reference_periods(as_of: date) -> dict[str, tuple[date | None, date]]:
    """ListenBrainz's offsets (relativedelta), without its first-day fallback."""
    end = as_of + relativedelta(days=1)
    monday = as_of + relativedelta(weekday=MO(-1))
    quarter = as_of + relativedelta(day=1)
    while quarter.month % 3 != 1:
        quarter -= relativedelta(months=1)
    half = as_of + relativedelta(day=1)
    while half.month not in (1, 7):
        half -= relativedelta(months=1)
    return {
        "this_week": (monday, end),
        "this_month": (as_of + relativedelta(day=1), end),
        "this_year": (as_of + relativedelta(month=1, day=1), end),
        "week": (monday - relativedelta(weeks=1), monday),
        "month": (as_of + relativedelta(months=-1, day=1), as_of + relativedelta(day=1)),
        "quarter": (quarter - relativedelta(months=3), quarter),
        "half_yearly": (half - relativedelta(months=6), half),
        "year": (
            as_of + relativedelta(years=-1, month=1, day=1),
            as_of + relativedelta(month=1, day=1),
        ),
        "all_time": (None, end),
    }


REFERENCE_SQL = """
with p as (
    select t.*, cast(timezone(coalesce(z.tz, ?), t.started_at) as date) as local_day
    from truth as t left join tz as z using (user_id)
),
scoped as (
    select r.time_range, r.period_start, r.period_end, p.*
    from p join periods as r
      on p.local_day < r.period_end
     and p.local_day >= coalesce(r.period_start, date '1900-01-01')
),
-- A track is a recording (the world's ISRC), named after its most played track id.
variants as (
    select user_id, time_range, isrc, track_id, track_name, artist_name,
           count(*) as plays, sum(ms_played) as listened_ms
    from scoped group by all
),
shown as (
    select * from variants
    qualify row_number() over (
        partition by user_id, time_range, isrc
        order by plays desc, listened_ms desc, track_id) = 1
),
grouped as (
    select v.user_id, v.time_range, any_value(s.period_start) as period_start,
           any_value(s.period_end) as period_end, 'track' as entity,
           any_value(w.track_id) as id, any_value(w.track_name) as name,
           any_value(w.artist_name) as artist_name, sum(v.plays) as plays,
           sum(v.listened_ms) as listened_ms
    from variants as v
    join shown as w using (user_id, time_range, isrc)
    join (select distinct user_id, time_range, period_start, period_end from scoped) as s
        using (user_id, time_range)
    group by v.user_id, v.time_range, v.isrc
    union all
    select user_id, time_range, period_start, period_end, 'artist', artist_id, artist_name,
           null, count(*), sum(ms_played)
    from scoped group by all
    union all
    select user_id, time_range, period_start, period_end, 'album', album_id, album_name,
           album_artist, count(*), sum(ms_played)
    from scoped group by all
    union all
    select user_id, time_range, period_start, period_end, 'genre', g.genre, g.genre,
           null, count(*), sum(ms_played)
    from scoped join genres as g using (artist_id) group by all
),
ranked as (
    select *, 'minutes' as metric, row_number() over (
        partition by user_id, time_range, entity
        order by listened_ms desc, plays desc, name, artist_name, id) as rank
    from grouped
    union all
    select *, 'plays' as metric, row_number() over (
        partition by user_id, time_range, entity
        order by plays desc, listened_ms desc, name, artist_name, id) as rank
    from grouped
)
select * from ranked where rank <= 50
"""


def reference(
    truth: pd.DataFrame, world: World, as_of: date, genres: pd.DataFrame | None = None
) -> pd.DataFrame:
    periods = pd.DataFrame(
        [(name, lo, hi) for name, (lo, hi) in reference_periods(as_of).items()],
        columns=["time_range", "period_start", "period_end"],
    )
    tz = pd.DataFrame([(u, world.users[u].timezone) for u in ENROLLED], columns=["user_id", "tz"])
    if genres is None:
        genres = pd.DataFrame({"artist_id": pd.Series([], dtype=str), "genre": []})
    con = duckdb.connect()
    try:
        for name, frame in (("truth", truth), ("periods", periods), ("tz", tz), ("genres", genres)):
            con.register(name, frame)
        con.execute(
            "create table periods_typed as select time_range, "
            "cast(period_start as date) as period_start, "
            "cast(period_end as date) as period_end from periods"
        )
        sql = REFERENCE_SQL.replace("join periods as r", "join periods_typed as r")
        return con.execute(sql, [DEFAULT_TZ]).df()
    finally:
        con.close()


def key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["user_id", "time_range", "entity", "metric", "rank"]).reset_index(
        drop=True
    )


def compare(got: pd.DataFrame, want: pd.DataFrame, *, ids: bool = True) -> None:
    got, want = key(got), key(want)
    assert len(got) == len(want)
    cols = ["user_id", "time_range", "entity", "metric", "rank", *COMPARED]
    got_rows = got[cols].astype(object).where(got[cols].notna(), None)
    want_rows = want[cols].astype(object).where(want[cols].notna(), None)
    for column in ("period_start", "period_end"):
        got_rows[column] = [None if v is None else pd.Timestamp(v).date() for v in got_rows[column]]
        want_rows[column] = [
            None if v is None else pd.Timestamp(v).date() for v in want_rows[column]
        ]
    want_rows.loc[want["time_range"] == "all_time", "period_start"] = None
    assert got_rows.to_dict("records") == want_rows.to_dict("records")
    if not ids:
        return
    # Ids: tracks always; artists and albums when a play showed one, and then the right one.
    assert (
        got["entity_id"][got["entity"] == "track"] == want["id"][got["entity"] == "track"]
    ).all()
    named = got["entity"].isin(["artist", "album"]) & got["entity_id"].notna()
    assert (got["entity_id"][named] == want["id"][named]).all()


def materialize(settings: Settings, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [tops_from_plays],
        resources=build_resources(settings),
        instance=dg.DagsterInstance.ephemeral(),
        **kwargs,
    )


def test_tops_from_plays_equal_a_reference_query_for_every_range(
    settings: Settings, lake: Warehouse, truth: pd.DataFrame, world: World
) -> None:
    tags = {RANGE_START_TAG: FIRST_DAY.isoformat(), RANGE_END_TAG: LAST_DAY.isoformat()}

    result = materialize(settings, tags=tags)

    assert result.success
    day = FIRST_DAY
    while day <= LAST_DAY:
        got = lake.lake.read(TOPS_FROM_PLAYS.name, day.isoformat()).to_pandas()
        want = reference(truth, world, day)
        compare(got, want)
        day += timedelta(days=1)
    # The new-year day really exercises every range for every user.
    got = lake.lake.read(TOPS_FROM_PLAYS.name, LAST_DAY.isoformat()).to_pandas()
    # The polled last day shows artist and album ids, so earlier export-only plays get them.
    assert got[got["entity"].isin(["artist", "album"])]["entity_id"].notna().mean() > 0.5
    assert len(set(got["time_range"])) == 9
    assert got.groupby("user_id")["time_range"].nunique().min() >= 8
    light = got[got["user_id"] == "demo_light"]
    assert set(light["timezone"]) == {DEFAULT_TZ}
    assert set(got[got["user_id"] == "demo_tokyo"]["timezone"]) == {"Asia/Tokyo"}
    assert set(got["entity"]) == {"track", "artist", "album"}  # no artist_genres yet
    md = result.get_asset_materialization_events()[0].step_materialization_data
    metadata = md.materialization.metadata
    assert "no musicbrainz.artist_genres" in metadata["genres"].value
    # The page charts the artists listeners share this year (minutes summed), worked out here
    # from the written rows with pandas.
    year = got[
        (got["time_range"] == "this_year")
        & (got["entity"] == "artist")
        & (got["metric"] == "minutes")
    ]
    shared = year.groupby("name").agg(users=("user_id", "nunique"), minutes=("minutes", "sum"))
    shared = shared[shared["users"] >= 2].reset_index()
    shared = shared.sort_values(["minutes", "users", "name"], ascending=[False, False, True])
    want = [(n, round(m, 1)) for n, m in zip(shared["name"], shared["minutes"], strict=True)]
    assert want
    assert charted(metadata["top10"].value) == want[:10]


ARTIST_GENRES = TableSpec(
    "artist_genres",
    "stand-in for issue 7's view: one row per artist and genre",
    [Column("artist_id", pa.string(), "artist"), Column("genre", pa.string(), "genre")],
    partitioned=False,
)


def test_genres_join_in_once_artist_genres_exists(
    settings: Settings, lake: Warehouse, truth: pd.DataFrame, world: World
) -> None:
    # Artists whose id the plays show (the last day was polled): the hook maps names to ids.
    polled = truth[truth["ended_at"] >= POLLED_SINCE]
    artists = sorted(set(polled["artist_id"]))[:6]
    genres = pd.DataFrame(
        [(a, g) for i, a in enumerate(artists) for g in (["rock", "pop", "jazz"][i % 3], "all")],
        columns=["artist_id", "genre"],
    )
    lake.write(ARTIST_GENRES, genres)
    # Published where the real view lives (its own TableSpec is a test's, so no domain maps it).
    schemas = {**table_schemas(), ARTIST_GENRES.name: "musicbrainz"}
    refresh_catalog(lake.lake, lake.path, views=load_view_sql(DEFS_DIR), schemas=schemas)

    result = materialize(settings, partition_key=LAST_DAY.isoformat())

    assert result.success
    got = lake.lake.read(TOPS_FROM_PLAYS.name, LAST_DAY.isoformat()).to_pandas()
    want = reference(truth, world, LAST_DAY, genres)
    got_genres = got[got["entity"] == "genre"].reset_index(drop=True)
    want_genres = want[want["entity"] == "genre"].reset_index(drop=True)
    assert len(want_genres) > 0
    compare(got_genres, want_genres, ids=False)
    assert set(got_genres["name"]) == {"rock", "pop", "jazz", "all"}


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (
            date(2027, 1, 2),
            {
                "this_week": (date(2026, 12, 28), date(2027, 1, 3)),
                "this_month": (date(2027, 1, 1), date(2027, 1, 3)),
                "this_year": (date(2027, 1, 1), date(2027, 1, 3)),
                "week": (date(2026, 12, 21), date(2026, 12, 28)),
                "month": (date(2026, 12, 1), date(2027, 1, 1)),
                "quarter": (date(2026, 10, 1), date(2027, 1, 1)),
                "half_yearly": (date(2026, 7, 1), date(2027, 1, 1)),
                "year": (date(2026, 1, 1), date(2027, 1, 1)),
                "all_time": (None, date(2027, 1, 3)),
            },
        ),
        (
            date(2026, 5, 31),  # a Sunday in Q2 / H1
            {
                "this_week": (date(2026, 5, 25), date(2026, 6, 1)),
                "week": (date(2026, 5, 18), date(2026, 5, 25)),
                "month": (date(2026, 4, 1), date(2026, 5, 1)),
                "quarter": (date(2026, 1, 1), date(2026, 4, 1)),
                "half_yearly": (date(2025, 7, 1), date(2026, 1, 1)),
            },
        ),
    ],
)
def test_stats_ranges_by_hand(as_of: date, expected: dict) -> None:
    ranges = {r.name: (r.start, r.end) for r in stats_ranges(as_of)}
    assert {name: ranges[name] for name in expected} == expected


def test_stats_ranges_agree_with_the_relativedelta_reference_every_day() -> None:
    day = date(2023, 12, 1)
    while day < date(2026, 2, 1):
        got = {r.name: (r.start, r.end) for r in stats_ranges(day)}
        assert got == reference_periods(day), day
        day += timedelta(days=1)
