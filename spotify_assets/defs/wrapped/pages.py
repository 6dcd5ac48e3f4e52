"""The wrapped report pages, built from the lake tables: one HTML page per user and local
month (and year) with plays, under `data/reports/<handle>/<YYYY-MM>.html` (`<YYYY>.html`),
charts embedded as SVG so it opens offline (`lib/wrapped/`). The folder is named by the user's
handle, never their id; `users remove` deletes it.

The materialization's metadata links every report by a `file://` URL (absolute, so it can be
pasted into a browser's address bar; browsers do not follow file links from the UI's page).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.common import month_key, user_partition
from spotify_assets.defs.wrapped.tables import (
    MONTHLY_WRAPPED,
    MONTHLY_WRAPPED_CAPTURED,
    MONTHLY_WRAPPED_PLAYLISTS,
    MONTHLY_WRAPPED_TOPS,
    YEARLY_WRAPPED,
    YEARLY_WRAPPED_TOPS,
)
from spotify_assets.lib.atomic import write_bytes_atomic
from spotify_assets.lib.settings import Settings

SHOWN = 5
METADATA_LINKS = 50


def report_path(settings: Settings, handle: str, key: str) -> Path:
    """`key` is `YYYY-MM` for a month, `YYYY` for a year."""
    return settings.reports_dir / handle / f"{key}.html"


def report_url(path: Path) -> str:
    return path.resolve().as_uri()


def _items(rows: Iterable[dict]) -> dict[str, list]:
    from spotify_assets.lib.wrapped.page import Item

    tops: dict[str, list] = {}
    for row in sorted(rows, key=lambda r: (r["entity"], r["rank"])):
        if row["rank"] <= SHOWN:
            tops.setdefault(row["entity"], []).append(
                Item(row["name"] or "?", row["artist_name"] or "", row["plays"], row["minutes"])
            )
    return tops


def _captured(warehouse: Warehouse, user: Any, month: date) -> list:
    from spotify_assets.lib.wrapped.page import CapturedList

    table = warehouse.scan(
        MONTHLY_WRAPPED_CAPTURED, "rank <= ?", [SHOWN], [user_partition(month, user.handle)]
    )
    lists: dict[tuple[str, str], list[str]] = {}
    for row in sorted(table.to_pylist(), key=lambda r: r["rank"]):
        label = row["name"] or "?"
        if row["kind"] == "tracks" and row["artist_names"]:
            label = f"{label} — {row['artist_names'][0]}"
        lists.setdefault((row["kind"], row["time_range"]), []).append(label)
    return [CapturedList(kind, time_range, names) for (kind, time_range), names in lists.items()]


def _captured_note(summary: dict, what: str) -> str:
    status = summary["captured_status"]
    if status == "captured":
        at = summary["captured_at"]
        when = f" ({at:%Y-%m-%d %H:%M} UTC)" if at else ""
        return f"As Spotify ranked them when the {what} ended{when}."
    if status == "before_enrollment":
        return (f"Not captured: this {what} ended before you enrolled, and Spotify only tells "
                "the present.")
    return f"Not captured: no capture run reached you when the {what} ended."


def _playlist_url(warehouse: Warehouse, user: Any, month: date) -> str | None:
    rows = warehouse.scan(
        MONTHLY_WRAPPED_PLAYLISTS, partitions=[user_partition(month, user.handle)]
    ).to_pylist()
    if rows and rows[0]["playlist_id"] and rows[0]["status"] in ("synced", "partial"):
        return f"https://open.spotify.com/playlist/{rows[0]['playlist_id']}"
    return None


def month_report(warehouse: Warehouse, user: Any, month: date,
                 summary: dict | None = None, tops: list[dict] | None = None):
    """The `Report` of a user's month, or None when they have no plays in it."""
    from spotify_assets.lib.wrapped.page import Report

    key = month_key(month)
    if summary is None:
        rows = warehouse.scan(MONTHLY_WRAPPED, "user_id = ?", [user.id], [key]).to_pylist()
        summary = rows[0] if rows else None
    if summary is None:
        return None
    if tops is None:
        tops = warehouse.scan(
            MONTHLY_WRAPPED_TOPS, "user_id = ? and rank <= ?", [user.id, SHOWN], [key]
        ).to_pylist()
    captured = _captured(warehouse, user, month) if summary["captured_status"] == "captured" \
        else []
    return Report(
        kind="month",
        title=f"{month:%B %Y}",
        listener=user.display_name,
        start=month,
        summary=summary,
        tops=_items(tops),
        captured=captured,
        captured_note=_captured_note(summary, "month"),
        playlist_url=_playlist_url(warehouse, user, month),
    )


def year_report(warehouse: Warehouse, user: Any, year: int,
                summary: dict | None = None, tops: list[dict] | None = None):
    """The `Report` of a user's year, or None when they have no plays in it."""
    from spotify_assets.lib.wrapped.page import Report

    if summary is None:
        rows = warehouse.scan(YEARLY_WRAPPED, "user_id = ?", [user.id], [str(year)]).to_pylist()
        summary = rows[0] if rows else None
    if summary is None:
        return None
    if tops is None:
        tops = warehouse.scan(
            YEARLY_WRAPPED_TOPS, "user_id = ? and rank <= ?", [user.id, SHOWN], [str(year)]
        ).to_pylist()
    by_period: dict[str, list[dict]] = {}
    for row in tops:
        by_period.setdefault(row["period"], []).append(row)
    december = date(year, 12, 1)
    captured = _captured(warehouse, user, december) \
        if summary["captured_status"] == "captured" else []
    return Report(
        kind="year",
        title=str(year),
        listener=user.display_name,
        start=date(year, 1, 1),
        summary=summary,
        tops=_items(by_period.get("year", [])),
        captured=captured,
        captured_note=_captured_note(summary, "year"),
        quarters={q: _items(by_period.get(q, [])) for q in ("Q1", "Q2", "Q3", "Q4")},
        month_tracks={
            f"{m:02d}": _items(r for r in by_period.get(f"{m:02d}", [])
                               if r["entity"] == "track").get("track", [])
            for m in range(1, 13)
        },
    )


def write_report(path: Path, report: Any) -> bool:
    """Render and write the page (atomically); False when the file already had these bytes."""
    from spotify_assets.lib.wrapped.page import render

    body = render(report).encode()
    if path.exists() and path.read_bytes() == body:
        return False
    write_bytes_atomic(path, body)
    return True


def render_period(
    settings: Settings,
    warehouse: Warehouse,
    users: Any,
    key: str,
    summaries: pa.Table,
    tops: pa.Table,
    build,
) -> dict[str, Path]:
    """Write the report of every registered user with a row in `summaries`; remove the report
    of a user who no longer has plays in the period. Returns handle -> path written."""
    rows = {r["user_id"]: r for r in summaries.to_pylist()}
    top_rows: dict[str, list[dict]] = {}
    for row in tops.to_pylist():
        top_rows.setdefault(row["user_id"], []).append(row)
    written: dict[str, Path] = {}
    for user in users.list():
        path = report_path(settings, user.handle, key)
        if user.id not in rows:
            path.unlink(missing_ok=True)
            continue
        report = build(warehouse, user, rows[user.id], top_rows.get(user.id, []))
        write_report(path, report)
        written[user.handle] = path
    return written


def links_markdown(written: dict[str, Path], settings: Settings) -> str:
    """A table of handle -> file:// link (the first METADATA_LINKS of them)."""
    lines = ["| listener (handle) | report |", "|---|---|"]
    for handle, path in sorted(written.items())[:METADATA_LINKS]:
        lines.append(f"| {handle} | [{path.name}]({report_url(path)}) |")
    if len(written) > METADATA_LINKS:
        lines.append(f"| ... | {len(written) - METADATA_LINKS} more in {settings.reports_dir} |")
    if not written:
        lines.append("| (none) | no listener has plays in this period |")
    return "\n".join(lines)
