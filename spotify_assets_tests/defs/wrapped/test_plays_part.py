"""The plays part of the monthly and yearly wrapped against an independent reference computed
with pandas from the world's ground truth, for every user and every month of the window and
the year.

The world runs from 2025-11-19 to 2026-01-03 12:00 UTC, so November, December and January and
the year 2025 all have plays, and the December/January edge is a month and a year edge. Local
months: demo_tokyo is in Asia/Tokyo (UTC+9); demo_heavy, a heavy listener in the world, is
registered in Pacific/Honolulu (UTC-10), so ~130 of its plays fall in another month than their
UTC day's. The reference groups tracks by the world's ISRC (single and album share it), artists
and albums by the world's ids, genres by the world's MusicBrainz genres, and converts times with
pandas; it knows nothing of the asset's SQL. What the lake cannot know is modelled as the
lake's knowledge: skip and shuffle flags exist on export rows only, and an artist's genres apply
to plays whose artist some play showed by id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.monthly import monthly_wrapped
from spotify_assets.defs.wrapped.tables import (
    MONTHLY_WRAPPED,
    MONTHLY_WRAPPED_TOPS,
    YEARLY_WRAPPED,
    YEARLY_WRAPPED_TOPS,
)
from spotify_assets.defs.wrapped.yearly import yearly_wrapped
from spotify_assets.emulator.world import World, WorldConfig
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.defs.wrapped.conftest import (
    as_plays,
    genre_rows,
    materialize,
    metadata,
    truth_frame,
    write_genres,
    write_plays,
)

END = datetime(2026, 1, 3, 12, tzinfo=UTC)
POLLED_SINCE = END - timedelta(days=12)
MONTHS = [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1)]
TIMEZONES = {"demo_heavy": "Pacific/Honolulu", "demo_tokyo": "Asia/Tokyo"}
ENTITIES = ("track", "artist", "album", "genre", "new_artist")


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldConfig(seed=7, end=END, days=45, n_artists=40, n_tracks=400))


@pytest.fixture(scope="module")
def truth(world: World) -> pd.DataFrame:
    return truth_frame(world)


def zones(world: World) -> dict[str, str]:
    return {u: TIMEZONES.get(u, world.users[u].timezone) for u in world.users}


@pytest.fixture
def lake(settings: Settings, world: World, truth: pd.DataFrame) -> Warehouse:
    warehouse = Warehouse(settings)
    write_plays(warehouse, as_plays(truth, POLLED_SINCE))
    write_genres(warehouse, world)
    registry = UserRegistry(settings)
    for uid, tz in zones(world).items():
        registry.enroll(uid, world.users[uid].display_name, "unused-token", timezone=tz)
    return warehouse


# --- the reference --------------------------------------------------------------------------


def local(truth: pd.DataFrame, world: World) -> pd.DataFrame:
    frame = truth.copy()
    tz = zones(world)
    starts = [ts.tz_convert(tz[u]) for u, ts in zip(frame["user_id"], frame["started_at"],
                                                      strict=True)]
    frame["local_date"] = [s.date() for s in starts]
    frame["hour"] = [s.hour for s in starts]
    first = frame.groupby(["user_id", "artist_id"])["local_date"].transform("min")
    frame["artist_first_day"] = first
    frame["flags_known"] = frame["ended_at"] < POLLED_SINCE
    return frame


def ranked(frame: pd.DataFrame, key: str, names: pd.DataFrame) -> list[dict]:
    """Groups by `key`, top 50 by minutes, then plays, then name and artist; `names` has
    `key`, `name`, `artist_name` (and `spotify_id`) per group."""
    sums = frame.groupby(key).agg(plays=("ms_played", "size"), ms=("ms_played", "sum"))
    out = sums.reset_index().merge(names, on=key)
    out["artist_sort"] = out["artist_name"].fillna("")
    out = out.sort_values(["ms", "plays", "name", "artist_sort"],
                          ascending=[False, False, True, True])
    return out.head(50).to_dict("records")


def most_played_ids(rows: pd.DataFrame) -> pd.DataFrame:
    """Per ISRC (recording): its most played track id (then longest, then smaller id)."""
    per_id = rows.groupby(["isrc", "track_id"]).agg(
        plays=("ms_played", "size"), ms=("ms_played", "sum"),
        name=("track_name", "first"), artist_name=("artist_name", "first"),
    ).reset_index()
    per_id = per_id.sort_values(["isrc", "plays", "ms", "track_id"],
                                ascending=[True, False, False, True])
    best = per_id.drop_duplicates("isrc")
    return best.rename(columns={"track_id": "spotify_id"})[
        ["isrc", "spotify_id", "name", "artist_name"]
    ]


def first_names(rows: pd.DataFrame, key: str, name: str, artist: str | None) -> pd.DataFrame:
    names = rows.groupby(key).agg(name=(name, "first")).reset_index()
    names["artist_name"] = rows.groupby(key)[artist].min().values if artist else None
    return names


def reference_tops(rows: pd.DataFrame, start: date, end: date, world: World) -> dict:
    known_artists = set(rows.attrs["known_artists"])
    genres = rows.attrs["genres"]
    new = rows[(rows["artist_first_day"] >= start) & (rows["artist_first_day"] < end)]
    with_genres = rows[rows["artist_id"].isin(known_artists)].merge(genres, on="artist_id")
    return {
        "track": ranked(rows, "isrc", most_played_ids(rows)),
        "artist": ranked(rows, "artist_id", first_names(rows, "artist_id", "artist_name", None)),
        "album": ranked(rows, "album_id",
                        first_names(rows, "album_id", "album_name", "artist_name")),
        "new_artist": ranked(new, "artist_id",
                             first_names(new, "artist_id", "artist_name", None)),
        "genre": ranked(with_genres, "genre", first_names(with_genres, "genre", "genre", None)),
    }


def streak(days: list[date]) -> tuple[int, date]:
    best, best_start, run, run_start, previous = 0, None, 0, None, None
    for day in sorted(days):
        run, run_start = (run + 1, run_start) if previous and day == previous + timedelta(1) \
            else (1, day)
        if run > best:
            best, best_start = run, run_start
        previous = day
    return best, best_start


def reference_summary(rows: pd.DataFrame, start: date, end: date, tops: dict) -> dict:
    per_day = rows.groupby("local_date")["ms_played"].sum()
    peak = sorted(per_day.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    days, day = [], start
    while day < end:
        days.append(per_day.get(day, 0) / 60000.0)
        day += timedelta(days=1)
    hours = rows.groupby("hour")["ms_played"].sum()
    months, month = [], start
    while month < end:
        following = (month + timedelta(days=32)).replace(day=1)
        inside = rows[(rows["local_date"] >= month) & (rows["local_date"] < following)]
        months.append(inside["ms_played"].sum() / 60000.0)
        month = following
    known = rows[rows["flags_known"]]
    longest, longest_start = streak(list(per_day.index))
    new = rows[(rows["artist_first_day"] >= start) & (rows["artist_first_day"] < end)]
    return {
        "minutes": rows["ms_played"].sum() / 60000.0,
        "plays": len(rows),
        "distinct_tracks": rows["isrc"].nunique(),
        "distinct_artists": rows["artist_id"].nunique(),
        "distinct_albums": rows["album_id"].nunique(),
        "new_artists": new["artist_id"].nunique(),
        "days_listened": len(per_day),
        "peak_day": peak[0],
        "peak_day_minutes": peak[1] / 60000.0,
        "longest_streak_days": longest,
        "longest_streak_start": longest_start,
        "top_track_name": tops["track"][0]["name"],
        "top_track_id": tops["track"][0]["spotify_id"],
        "top_track_plays": tops["track"][0]["plays"],
        "top_artist_name": tops["artist"][0]["name"],
        "skipped_share": known["skipped"].mean() if len(known) else None,
        "skip_known_plays": len(known),
        "shuffle_share": known["shuffle"].mean() if len(known) else None,
        "minutes_by_hour": [hours.get(h, 0) / 60000.0 for h in range(24)],
        "minutes_by_day": days,
        "minutes_by_month": months,
        "first_play_at": rows["started_at"].min().to_pydatetime(),
        "last_play_at": rows["ended_at"].max().to_pydatetime(),
    }


def same(got: object, want: object) -> bool:
    if isinstance(want, float):
        return got == pytest.approx(want, rel=1e-9, abs=1e-9)
    if isinstance(want, list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, datetime):
        return abs(got - want) < timedelta(milliseconds=1)
    return got == want


def check_period(got_summary: dict, got_tops: list[dict], rows: pd.DataFrame, start: date,
                 end: date, world: World) -> None:
    tops = reference_tops(rows, start, end, world)
    want = reference_summary(rows, start, end, tops)
    wrong = {k: (got_summary[k], v) for k, v in want.items() if not same(got_summary[k], v)}
    assert wrong == {}
    for entity in ENTITIES:
        mine = sorted((r for r in got_tops if r["entity"] == entity), key=lambda r: r["rank"])
        expected = tops[entity]
        assert [(r["name"], r["artist_name"], r["plays"]) for r in mine] == [
            (e["name"], e["artist_name"], e["plays"]) for e in expected
        ], entity
        assert all(same(r["minutes"], e["ms"] / 60000.0) for r, e in zip(mine, expected,
                                                                         strict=True))
        if entity == "track":
            assert [r["spotify_id"] for r in mine] == [e["spotify_id"] for e in expected]


def with_knowledge(rows: pd.DataFrame, truth: pd.DataFrame, world: World) -> pd.DataFrame:
    genres = pd.DataFrame(genre_rows(world)).rename(columns={"spotify_id": "artist_id"})
    rows.attrs["known_artists"] = truth[truth["ended_at"] >= POLLED_SINCE]["artist_id"].unique()
    rows.attrs["genres"] = genres[["artist_id", "genre"]]
    return rows


# --- the tests --------------------------------------------------------------------------------


def test_monthly_plays_part_equals_the_reference_for_every_user_and_month(
    settings: Settings, lake: Warehouse, truth: pd.DataFrame, world: World
) -> None:
    tags = {RANGE_START_TAG: MONTHS[0].isoformat(), RANGE_END_TAG: MONTHS[-1].isoformat()}

    result = materialize(settings, [monthly_wrapped], tags=tags)

    frame = local(truth, world)
    checked = 0
    for month in MONTHS:
        end = (month + timedelta(days=32)).replace(day=1)
        summaries = lake.scan(MONTHLY_WRAPPED, partitions=[month.isoformat()]).to_pylist()
        tops = lake.scan(MONTHLY_WRAPPED_TOPS, partitions=[month.isoformat()]).to_pylist()
        inside = frame[(frame["local_date"] >= month) & (frame["local_date"] < end)]
        assert sorted(s["user_id"] for s in summaries) == sorted(inside["user_id"].unique())
        for summary in summaries:
            uid = summary["user_id"]
            rows = with_knowledge(inside[inside["user_id"] == uid].copy(), truth, world)
            assert summary["timezone"] == zones(world)[uid]
            assert summary["month"] == month
            assert summary["captured_status"] == "before_enrollment"  # enrolled today
            check_period(summary, [t for t in tops if t["user_id"] == uid], rows, month, end,
                         world)
            checked += 1
        assert metadata(result, "monthly_wrapped", month.isoformat())["dagster/row_count"] == len(
            summaries
        )
    assert checked == 15
    # The local month really differs from the UTC month for both edge users.
    for uid in TIMEZONES:
        mine = frame[frame["user_id"] == uid]
        utc_month = mine["started_at"].dt.strftime("%Y-%m")
        local_month = pd.Series([d.strftime("%Y-%m") for d in mine["local_date"]],
                                index=mine.index)
        assert (utc_month != local_month).sum() > 20, uid
    # Single and album versions of one recording were played, and counted as one.
    december = frame[(frame["local_date"] >= MONTHS[1]) & (frame["local_date"] < MONTHS[2])]
    assert (december.groupby(["user_id", "isrc"])["track_id"].nunique() > 1).sum() > 5


def test_yearly_plays_part_equals_the_reference_with_quarters_and_months(
    settings: Settings, lake: Warehouse, truth: pd.DataFrame, world: World
) -> None:
    materialize(settings, [yearly_wrapped], partition_key="2025")

    frame = local(truth, world)
    summaries = lake.scan(YEARLY_WRAPPED, partitions=["2025"]).to_pylist()
    tops = lake.scan(YEARLY_WRAPPED_TOPS, partitions=["2025"]).to_pylist()
    assert len(summaries) == 5
    year = frame[(frame["local_date"] >= date(2025, 1, 1)) & (frame["local_date"] < date(2026, 1,
                                                                                          1))]
    for summary in summaries:
        uid = summary["user_id"]
        mine = year[year["user_id"] == uid]
        assert summary["year"] == 2025
        check_period(summary, [t for t in tops if t["user_id"] == uid and t["period"] == "year"],
                     with_knowledge(mine.copy(), truth, world), date(2025, 1, 1),
                     date(2026, 1, 1), world)
        for period, start, end in (
            ("Q4", date(2025, 10, 1), date(2026, 1, 1)),
            ("11", date(2025, 11, 1), date(2025, 12, 1)),
            ("12", date(2025, 12, 1), date(2026, 1, 1)),
        ):
            rows = mine[(mine["local_date"] >= start) & (mine["local_date"] < end)]
            got = [t for t in tops if t["user_id"] == uid and t["period"] == period]
            want = reference_tops(with_knowledge(rows.copy(), truth, world), start, end, world)
            assert [(t["name"], t["plays"]) for t in sorted(
                (t for t in got if t["entity"] == "track"), key=lambda t: t["rank"])
            ] == [(w["name"], w["plays"]) for w in want["track"]], (uid, period)
            assert {t["period_start"] for t in got} == {start}
        quiet = [t for t in tops if t["user_id"] == uid and t["period"] in ("Q1", "Q2", "Q3")]
        assert quiet == []  # no plays before 2025-11-19
