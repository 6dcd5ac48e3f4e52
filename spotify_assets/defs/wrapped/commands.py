"""`spotify-assets wrapped USER [--month YYYY-MM | --year YYYY]`: a listener's wrapped in the
terminal, and where its HTML report is (rendered from the lake if the file is missing).

Without --month or --year: the latest month with a wrapped. Bad input (unknown listener, a
malformed month, both flags, a period without a wrapped) is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import re
from datetime import date
from typing import Any

from spotify_assets.lib.errors import OperatorError
from spotify_assets.lib.settings import Settings, get_settings

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^\d{4}$")


def parse_period(month: str | None, year: str | None) -> tuple[str, date | int | None]:
    """('month', first day) | ('year', year) | ('latest', None), or OperatorError."""
    if month is not None and year is not None:
        raise OperatorError("give --month or --year, not both")
    if month is not None:
        found = _MONTH.match(month)
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise OperatorError(f"--month {month!r}: use YYYY-MM, e.g. --month 2026-02")
        return "month", date(int(found.group(1)), int(found.group(2)), 1)
    if year is not None:
        if not _YEAR.match(year):
            raise OperatorError(f"--year {year!r}: use YYYY, e.g. --year 2025")
        return "year", int(year)
    return "latest", None


def _latest_month(warehouse: Any, user_id: str) -> date:
    from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED

    months = warehouse.scan(MONTHLY_WRAPPED, "user_id = ?", [user_id])["month"].to_pylist()
    if not months:
        raise OperatorError(
            f"no monthly wrapped for {user_id!r} yet: materialize monthly_wrapped for a month "
            "with plays (its schedule runs on the 1st)"
        )
    return max(months)


def _minutes(value: float) -> str:
    return f"{round(value):,}"


def summary_lines(report: Any) -> list[str]:
    """The wrapped as terminal text."""
    s = report.summary
    lines = [
        f"{report.listener} · {report.title} ({s['timezone']})",
        f"  {_minutes(s['minutes'])} minutes, {s['plays']:,} plays, {s['distinct_tracks']:,} "
        f"tracks, {s['distinct_artists']:,} artists, {s['distinct_albums']:,} albums, "
        f"{s['new_artists']:,} new artists",
    ]
    if s.get("top_track_name"):
        lines.append(f"  top track: {s['top_track_name']} — {s['top_track_artist']} "
                     f"({s['top_track_plays']:,} plays)")
    if s.get("peak_day"):
        lines.append(f"  peak day: {s['peak_day']} ({_minutes(s['peak_day_minutes'])} min); "
                     f"longest streak: {s['longest_streak_days']} days from "
                     f"{s['longest_streak_start']}")
    for label, share, known in (("skipped", "skipped_share", "skip_known_plays"),
                                ("shuffle", "shuffle_share", "shuffle_known_plays")):
        if s[known]:
            lines.append(f"  {label}: {s[share]:.0%} of {s[known]:,} plays the source reports on")
    for entity, title in (("track", "tracks"), ("artist", "artists"), ("album", "albums"),
                          ("genre", "genres"), ("new_artist", "new artists")):
        items = report.tops.get(entity, [])
        if items:
            lines.append(f"  top {title}:")
            for rank, item in enumerate(items, start=1):
                detail = f" — {item.detail}" if item.detail else ""
                lines.append(f"    {rank}. {item.name}{detail} ({_minutes(item.minutes)} min)")
    lines.append(f"  Spotify's lists: {report.captured_note}")
    return lines


def show_wrapped(settings: Settings, user_id: str, month: str | None = None,
                 year: str | None = None) -> tuple[list[str], str]:
    """(summary lines, report path) of the user's wrapped; OperatorError when there is none."""
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.defs.wrapped.pages import (
        month_report,
        report_path,
        write_report,
        year_report,
    )
    from spotify_assets.lib.users.registry import UserRegistry

    kind, value = parse_period(month, year)
    user = UserRegistry(settings).require_listener(user_id)
    warehouse = Warehouse(settings)
    if kind == "latest":
        kind, value = "month", _latest_month(warehouse, user.id)
    if kind == "month":
        assert isinstance(value, date)
        report = month_report(warehouse, user, value)
        key = f"{value:%Y-%m}"
    else:
        assert isinstance(value, int)
        report = year_report(warehouse, user, value)
        key = str(value)
    if report is None:
        raise OperatorError(
            f"no wrapped for {user_id!r} in {key}: no plays that {kind}, or "
            f"{kind}ly_wrapped was not materialized for it"
        )
    path = report_path(settings, user.handle, key)
    if not path.exists():
        write_report(path, report)
    return summary_lines(report), str(path.resolve())


def _cmd_wrapped(args: argparse.Namespace) -> int:
    lines, path = show_wrapped(get_settings(), args.user, args.month, args.year)
    for line in lines:
        print(line)
    print(f"report: {path}")
    return 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    command = sub.add_parser(
        "wrapped", help="a listener's monthly or yearly wrapped, and the path of its HTML report"
    )
    command.add_argument("user", metavar="USER", help="the listener's id (see `users list`)")
    command.add_argument("--month", metavar="YYYY-MM", help="a month (default: the latest)")
    command.add_argument("--year", metavar="YYYY", help="a calendar year")
    command.set_defaults(func=_cmd_wrapped)
