"""Helpers shared by the releases assets: weeks of a run, the week a release belongs to, users'
failures, and named SQL of this domain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa

from spotify_assets.lib import query
from spotify_assets.lib.query import LakeView
from spotify_assets.lib.spotify.discography import date_span

SQL_DIR = Path(__file__).parent / "sql"
GROUP = "releases"
WEEK = timedelta(days=7)


def run_sql(
    sql_file: str,
    views: Mapping[str, LakeView] | None = None,
    tables: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Run `sql/<sql_file>` of the releases domain (see `lib.query.run_sql`)."""
    return query.run_sql(SQL_DIR / sql_file, views, tables)


def weeks_in(window: dg.TimeWindow) -> list[date]:
    """The Mondays of the run's weekly partitions (one, or a backfill range in one run)."""
    week, weeks = window.start.date(), []
    while week < window.end.date():
        weeks.append(week)
        week += WEEK
    return weeks


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_bounds(week: date) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) UTC."""
    start = datetime.combine(week, time(), tzinfo=UTC)
    return start, start + WEEK


def radar_week(release_date: str | None, first_seen_week: date) -> date | None:
    """The week whose radar lists a release (the rule of README.md, "Which week").

    A release date with a day belongs to the ISO week of that day. A month or a year cannot be
    placed in a week: such a release goes to the week it was first listed in, provided that week
    lies (at least partly) in the stated month or year; otherwise (an old release we only now
    saw) to no week's radar. An unreadable date never makes a radar.
    """
    low, high = date_span(release_date)
    if low == date.min:
        return None
    if low == high:
        return monday(low)
    if first_seen_week <= high and first_seen_week + timedelta(days=6) >= low:
        return first_seen_week
    return None


def album_url(album_id: str) -> str:
    return f"https://open.spotify.com/album/{album_id}"


@dataclass(frozen=True)
class UserFailure:
    user_id: str
    status: str  # needs_reauth | deferred | error
    message: str


def classify(user_id: str, exc: Exception) -> UserFailure:
    """A Spotify failure of one user as the checks report it; never fatal for the others."""
    from spotify_assets.lib.spotify.errors import (
        QuotaExceededError,
        RateLimitDeferred,
        ReauthorizationRequired,
    )

    if isinstance(exc, ReauthorizationRequired):
        return UserFailure(user_id, "needs_reauth", str(exc))
    if isinstance(exc, RateLimitDeferred | QuotaExceededError):
        return UserFailure(user_id, "deferred", str(exc))
    return UserFailure(user_id, "error", str(exc))
