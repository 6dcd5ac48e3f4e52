"""`listening_sessions`' rule, checked against a plain Python sessionizer on plays written to a
real lake: a session may run across midnight and across the days a refresh rewrites, and a gap
of months without plays costs no extra reads."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from spotify_assets.defs.listening import stats
from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.settings import load_settings

GAP = timedelta(minutes=stats.SESSION_GAP_MINUTES)


def _plays(rng: random.Random) -> list[dict]:
    """Two listeners. `night` streams from 22:00 on 2026-01-05 to 04:00 on 01-08 without a gap
    of 10 minutes (one session over four UTC days), listens in short bursts in between, then
    stops until April (a gap of months, as between an old export and polling)."""
    starts: dict[str, list[datetime]] = {"night": [], "day": []}
    at = datetime(2026, 1, 5, 22, 0, tzinfo=UTC)
    while at < datetime(2026, 1, 8, 4, 0, tzinfo=UTC):
        starts["night"].append(at)
        at += timedelta(minutes=rng.choice([3, 4, 5]))
    for day in (date(2026, 1, 2), date(2026, 1, 10), date(2026, 4, 20), date(2026, 4, 21)):
        for user in ("night", "day"):
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
                hours=rng.randint(0, 20)
            )
            for _ in range(rng.randint(1, 6)):
                starts[user].append(at)
                at += timedelta(minutes=rng.choice([4, 4, 9, 15, 40]))
    rows = []
    for user, begins in starts.items():
        for i, begin in enumerate(sorted(set(begins))):
            listened = rng.randint(30_000, 240_000)
            rows.append(
                {
                    "user_id": user,
                    "play_id": f"{user}-{i:05d}",
                    "day": begin.date(),
                    "started_at": begin,
                    "ended_at": begin + timedelta(milliseconds=listened),
                    "listened_ms": listened,
                    "track_key": f"artist {i % 7}\ttitle {i % 11}",
                    "artist_name": f"artist {i % 7}",
                }
            )
    return rows


def _expected(rows: list[dict]) -> set[tuple]:
    """(user, started_at, ended_at, plays) of every session: a play starting more than 10
    minutes after the previous one of that user stopped starts a new one."""
    out = set()
    for user in {r["user_id"] for r in rows}:
        mine = sorted(
            (r for r in rows if r["user_id"] == user), key=lambda r: (r["started_at"], r["play_id"])
        )
        session = [mine[0]]
        for row in mine[1:]:
            if row["started_at"] > session[-1]["ended_at"] + GAP:
                out.add(
                    (
                        user,
                        session[0]["started_at"],
                        max(r["ended_at"] for r in session),
                        len(session),
                    )
                )
                session = []
            session.append(row)
        out.add((user, session[0]["started_at"], max(r["ended_at"] for r in session), len(session)))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_sessions_equal_a_plain_sessionizer_whatever_days_are_asked(
    tmp_path: Path, seed, monkeypatch
) -> None:
    rows = _plays(random.Random(seed))
    warehouse = Warehouse(load_settings(data_dir=tmp_path / "data"))
    days = sorted({r["day"].isoformat() for r in rows})
    warehouse.write_partitions(PLAYS, _full(rows), "day", days)
    reads: list[list[Path]] = []
    real_query = stats._query
    monkeypatch.setattr(
        stats, "_query", lambda sql, files, **t: reads.append(files) or real_query(sql, files, **t)
    )
    expected = _expected(rows)
    with_plays = sorted(warehouse.partitions(PLAYS))
    # Asked for the day the night-long stream began (it goes on for two more days), a day
    # inside it, the month, the gap, or everything: every session that started in the days
    # asked, whole, and nothing else.
    for first, end in [
        (date(2026, 1, 5), date(2026, 1, 6)),
        (date(2026, 1, 6), date(2026, 1, 7)),
        (date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 4, 21)),
        (date(2025, 12, 1), date(2026, 5, 1)),
    ]:
        reads.clear()
        table = stats.sessions_between(warehouse, with_plays, first, end)
        got = {
            (r["user_id"], r["started_at"], r["ended_at"], r["plays"]) for r in table.to_pylist()
        }
        assert got == {s for s in expected if first <= s[1].date() < end}, (first, end)
        # The window grew until no session touched its edge, never reading the same days twice.
        assert len(reads) == len({tuple(sorted(map(str, f))) for f in reads}), (first, end)
    night = [s for s in expected if s[0] == "night" and s[3] > 100]
    assert len(night) == 1 and night[0][2] - night[0][1] > timedelta(days=2)


def _full(rows: list[dict]) -> list[dict]:
    """The rows with every other `plays` column null (the rule reads none of them)."""
    names = [c.name for c in PLAYS.columns]
    return [{name: row.get(name) for name in names} for row in rows]


def test_a_newcomer_does_not_send_a_refresh_through_everyones_history(
    tmp_path: Path, monkeypatch
) -> None:
    """A listener whose first play is in the days asked has a session that begins with the
    first play read: more days before it cannot change it. A refresh of those days once read
    back through every day of everyone (one read per doubling of the window)."""
    rows = []
    for user, first_day in (("regular", date(2026, 1, 1)), ("newcomer", date(2026, 4, 21))):
        day = first_day
        while day <= date(2026, 4, 22):
            for i in range(3):  # a short session at noon every day
                begin = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
                    hours=12, minutes=4 * i
                )
                rows.append(
                    {
                        "user_id": user,
                        "play_id": f"{user}-{day}-{i}",
                        "day": day,
                        "started_at": begin,
                        "ended_at": begin + timedelta(minutes=3),
                        "listened_ms": 180_000,
                        "track_key": "artist\ttitle",
                    }
                )
            day += timedelta(days=1)
    warehouse = Warehouse(load_settings(data_dir=tmp_path / "data"))
    days = sorted({r["day"].isoformat() for r in rows})
    warehouse.write_partitions(PLAYS, _full(rows), "day", days)
    reads: list[int] = []
    real_query = stats._query
    monkeypatch.setattr(
        stats,
        "_query",
        lambda sql, files, **t: reads.append(len(files)) or real_query(sql, files, **t),
    )
    first, end = date(2026, 4, 21), date(2026, 4, 22)
    table = stats.sessions_between(warehouse, sorted(warehouse.partitions(PLAYS)), first, end)
    got = {(r["user_id"], r["started_at"], r["ended_at"], r["plays"]) for r in table.to_pylist()}
    assert got == {s for s in _expected(rows) if first <= s[1].date() < end}
    assert {s[0] for s in got} == {"regular", "newcomer"}
    # Two reads of the days around, then who has plays before them (one pass over every
    # file's two columns), not seven ever wider reads.
    assert len(reads) <= 3, reads
