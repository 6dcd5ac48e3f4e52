"""The wrapped report: one self-contained HTML page (inline CSS, inline SVG charts, no script,
no external font or image), so it opens offline from `data/reports/<handle>/`.

The page is a pure function of a `Report`: the same numbers give the same bytes (no clock is
read), so re-rendering an unchanged month rewrites nothing.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from spotify_assets.lib.wrapped import charts

SHOWN = 5
RANGES = {"short_term": "last 4 weeks", "medium_term": "last 6 months", "long_term": "last year"}


@dataclass(frozen=True)
class Item:
    """One line of a top list."""

    name: str
    detail: str = ""  # the artist of a track or album
    plays: int = 0
    minutes: float = 0.0


@dataclass(frozen=True)
class CapturedList:
    kind: str  # tracks | artists
    time_range: str
    items: Sequence[str]


@dataclass(frozen=True)
class Report:
    kind: Literal["month", "year"]
    title: str  # "February 2026", "2025"
    listener: str
    start: date  # first local day of the period
    summary: Mapping[str, Any]  # the monthly_wrapped / yearly_wrapped row
    tops: Mapping[str, Sequence[Item]]  # entity -> ranked items
    captured: Sequence[CapturedList] = ()
    captured_note: str = ""
    playlist_url: str | None = None
    quarters: Mapping[str, Mapping[str, Sequence[Item]]] = field(default_factory=dict)
    month_tracks: Mapping[str, Sequence[Item]] = field(default_factory=dict)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float) -> str:
    return f"{round(value):,}"


def _share(value: float | None, known: int) -> str:
    if value is None or known == 0:
        return "not recorded"
    return f"{value:.0%}"


def _known(plays: int) -> str:
    if not plays:
        return "only privacy exports say, and none covers these plays yet"
    return f"of the {plays:,} plays an export says it for"


def _when(value: date | datetime | None) -> str:
    return value.strftime("%a %-d %b %Y") if value else "-"


def _list(items: Sequence[Item], *, show_plays: bool = False, empty: str = "none") -> str:
    if not items:
        return f'<p class="none">{_e(empty)}</p>'
    lines = []
    for rank, item in enumerate(items[:SHOWN], start=1):
        detail = f'<span class="detail">{_e(item.detail)}</span>' if item.detail else ""
        amount = f"{_number(item.minutes)} min"
        if show_plays:
            amount += f"<br>{item.plays:,} plays"
        lines.append(
            f'<li><span class="rank">{rank}</span><span class="what">'
            f'<span class="name">{_e(item.name)}</span>{detail}</span>'
            f'<span class="amount">{amount}</span></li>'
        )
    return '<ol class="top">' + "".join(lines) + "</ol>"


def _card(title: str, body: str, cls: str = "") -> str:
    return f'<section class="card {cls}"><h2>{_e(title)}</h2>{body}</section>'


def _stats(summary: Mapping[str, Any]) -> str:
    cells = [
        ("minutes", _number(summary["minutes"])),
        ("plays", f"{summary['plays']:,}"),
        ("tracks", f"{summary['distinct_tracks']:,}"),
        ("artists", f"{summary['distinct_artists']:,}"),
        ("albums", f"{summary['distinct_albums']:,}"),
        ("new artists", f"{summary['new_artists']:,}"),
    ]
    return '<div class="stats">' + "".join(
        f'<div class="stat"><b>{value}</b><span>{_e(label)}</span></div>'
        for label, value in cells
    ) + "</div>"


def _highlights(summary: Mapping[str, Any]) -> str:
    streak = summary["longest_streak_days"]
    start = summary["longest_streak_start"]
    track = summary.get("top_track_name")
    facts = [
        ("Top track", f"{_e(track)}" if track else "-",
         f"{_e(summary.get('top_track_artist') or '')} · "
         f"{summary.get('top_track_plays') or 0:,} plays"),
        ("Top artist", _e(summary.get("top_artist_name") or "-"), ""),
        ("Peak day", _when(summary.get("peak_day")),
         f"{_number(summary.get('peak_day_minutes') or 0)} minutes"),
        ("Longest streak", f"{streak} day{'s' if streak != 1 else ''}",
         f"from {_when(start)}" if start else ""),
        ("Skipped", _share(summary.get("skipped_share"), summary["skip_known_plays"]),
         _known(summary["skip_known_plays"])),
        ("Shuffle", _share(summary.get("shuffle_share"), summary["shuffle_known_plays"]),
         _known(summary["shuffle_known_plays"])),
    ]
    return '<div class="facts">' + "".join(
        f'<div class="fact"><span class="label">{label}</span><b>{value}</b>'
        f'<span class="detail">{detail}</span></div>'
        for label, value, detail in facts
    ) + "</div>"


def _chart(title: str, svg: str, cls: str = "") -> str:
    return f'<section class="card chart {cls}"><h2>{_e(title)}</h2>{svg}</section>'


def _charts(report: Report) -> str:
    summary = report.summary
    yearly = report.kind == "year"
    days = [report.start + timedelta(days=i) for i in range(len(summary["minutes_by_day"]))]
    parts = [_chart("Minutes per day",
                    charts.minutes_per_day(days, summary["minutes_by_day"], yearly=yearly),
                    "wide")]
    if yearly:
        months = [date(report.start.year, m, 1) for m in range(1, 13)]
        parts.append(_chart("Minutes per month",
                            charts.minutes_per_month(months, summary["minutes_by_month"]),
                            "wide"))
    artists = report.tops.get("artist", [])[:SHOWN]
    genres = report.tops.get("genre", [])[:SHOWN]
    if artists:
        parts.append(_chart("Top artists", charts.ranked_bars(
            [a.name for a in artists], [a.minutes for a in artists], color="artists")))
    if genres:
        parts.append(_chart("Top genres", charts.ranked_bars(
            [g.name for g in genres], [g.minutes for g in genres], color="genres")))
    else:
        parts.append(_card("Top genres", '<p class="none">no genres yet: they come from '
                                         "MusicBrainz once enrichment has matched the artists"
                                         "</p>"))
    parts.append(_chart("Hours of the day", charts.minutes_per_hour(summary["minutes_by_hour"])))
    return '<div class="grid charts">' + "".join(parts) + "</div>"


def _tops(report: Report) -> str:
    cards = [
        _card("Top tracks", _list(report.tops.get("track", []), show_plays=True)),
        _card("Top artists", _list(report.tops.get("artist", []))),
        _card("Top albums", _list(report.tops.get("album", []))),
        _card("Top genres", _list(report.tops.get("genre", []),
                                  empty="none yet: genres come from MusicBrainz")),
        _card("Heard for the first time ever", _list(
            report.tops.get("new_artist", []),
            empty=f"none: every artist of this {report.kind} was heard before")),
    ]
    return '<div class="grid lists">' + "".join(cards) + "</div>"


def _quarters(report: Report) -> str:
    if not report.quarters:
        return ""
    cards = []
    for quarter in ("Q1", "Q2", "Q3", "Q4"):
        tops = report.quarters.get(quarter, {})
        body = (f"<h3>tracks</h3>{_list(tops.get('track', []), show_plays=True)}"
                f"<h3>artists</h3>{_list(tops.get('artist', []))}")
        cards.append(_card(quarter, body, "quarter"))
    return ('<h2 class="section">How your taste moved</h2><div class="grid quarters">'
            + "".join(cards) + "</div>")


def _months(report: Report) -> str:
    if not report.month_tracks:
        return ""
    cells = []
    for month in range(1, 13):
        items = report.month_tracks.get(f"{month:02d}", [])
        names = "".join(f"<li>{_e(i.name)}<span class='detail'>{_e(i.detail)}</span></li>"
                        for i in items[:3])
        body = f"<ol>{names}</ol>" if names else '<p class="none">no plays</p>'
        cells.append(f'<div class="month"><h3>{date(2000, month, 1):%b}</h3>{body}</div>')
    return ('<h2 class="section">The months\' top tracks, side by side</h2>'
            '<div class="months">' + "".join(cells) + "</div>")


def _captured(report: Report) -> str:
    if not report.captured:
        return _card("Spotify's own top lists", f'<p class="none">{_e(report.captured_note)}</p>',
                     "wide")
    cells = []
    for kind in ("tracks", "artists"):
        for time_range, label in RANGES.items():
            found = [c for c in report.captured if c.kind == kind and c.time_range == time_range]
            names = found[0].items[:SHOWN] if found else []
            items = "".join(f"<li>{_e(n)}</li>" for n in names)
            body = f"<ol>{items}</ol>" if items else '<p class="none">empty list</p>'
            cells.append(f'<div class="captured"><h3>{kind}, {label}</h3>{body}</div>')
    note = f'<p class="note">{_e(report.captured_note)}</p>' if report.captured_note else ""
    return _card("Spotify's own top lists", note + '<div class="capgrid">' + "".join(cells)
                 + "</div>", "wide")


def render(report: Report) -> str:
    """The whole page."""
    summary = report.summary
    period = "month" if report.kind == "month" else "year"
    playlist = (
        f'<p class="playlist"><a href="{_e(report.playlist_url)}">Your playlist of the '
        f"{period}'s top tracks on Spotify</a></p>" if report.playlist_url else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Wrapped · {_e(report.title)}</title>
<style>{STYLE}</style></head>
<body><main>
<header><p class="kicker">spotify_assets wrapped</p>
<h1>{_e(report.title)}</h1>
<p class="who">{_e(report.listener)}'s {period} in music · local time
{_e(summary["timezone"])}</p>{playlist}</header>
{_stats(summary)}
{_highlights(summary)}
{_charts(report)}
{_tops(report)}
{_quarters(report)}
{_months(report)}
{_captured(report)}
<footer>From {summary["plays"]:,} plays of at least 30 s, {_when(summary["first_play_at"])}
to {_when(summary["last_play_at"])} (UTC). A track is a recording: the same song on a single and
on its album counts once. Minutes partly estimated for plays only polling saw:
{_number(summary["estimated_minutes"])}.</footer>
</main></body></html>
"""


STYLE = """
*{box-sizing:border-box}
body{margin:0;background:#121018;color:#f4f1ea;
font-family:Inter,'Helvetica Neue',Arial,'Noto Sans CJK JP',sans-serif}
main{max-width:1320px;margin:0 auto;padding:32px 40px 48px}
header{padding:28px 32px;border-radius:20px;
background:linear-gradient(120deg,#1ed760 0%,#169c46 35%,#6d3ad8 75%,#ff6b9a 100%);color:#0d0b12}
header h1{font-size:64px;margin:0;letter-spacing:-2px}
.kicker{margin:0;text-transform:uppercase;letter-spacing:3px;font-size:12px;font-weight:700}
.who{margin:6px 0 0;font-size:16px}
.playlist a{color:#0d0b12;font-weight:700}
.stats{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin:20px 0}
.stat{background:#1d1a27;border-radius:14px;padding:16px 18px}
.stat b{display:block;font-size:34px;color:#1ed760}
.stat span{color:#a9a6b8;font-size:13px}
.facts{display:grid;grid-template-columns:repeat(3,1fr);gap:12px;margin-bottom:20px}
.fact{background:#1d1a27;border-radius:14px;padding:14px 18px;display:flex;flex-direction:column}
.fact .label{color:#a9a6b8;font-size:12px;text-transform:uppercase;letter-spacing:1px}
.fact b{font-size:20px;margin:4px 0}
.detail{color:#a9a6b8;font-size:13px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-bottom:16px}
.grid.lists,.grid.charts{grid-template-columns:repeat(3,1fr)}
.grid.quarters{grid-template-columns:repeat(4,1fr)}
.card{background:#1d1a27;border-radius:16px;padding:18px 20px;overflow:hidden}
.card.wide{grid-column:1/-1}
.card h2{margin:0 0 10px;font-size:15px;color:#a9a6b8;font-weight:600}
h2.section{font-size:22px;margin:28px 0 12px}
h3{font-size:12px;color:#a9a6b8;text-transform:uppercase;letter-spacing:1px;margin:10px 0 4px}
ol.top{list-style:none;margin:0;padding:0}
ol.top li{display:flex;align-items:center;gap:10px;padding:6px 0;border-bottom:1px solid #2a2638}
ol.top li:last-child{border-bottom:0}
.rank{width:22px;color:#1ed760;font-weight:700}
.what{flex:1;display:flex;flex-direction:column;min-width:0}
.name{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.amount{color:#a9a6b8;font-size:13px;white-space:nowrap;text-align:right}
.none{color:#6f6b80}
.months{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin-bottom:16px}
.month{background:#1d1a27;border-radius:12px;padding:10px 12px;font-size:13px}
.month ol,.captured ol{margin:0;padding-left:18px}
.month li,.captured li{margin:3px 0}
.month .detail{display:block;font-size:11px}
.capgrid{display:grid;grid-template-columns:repeat(3,1fr);gap:8px 24px;font-size:14px}
.note{color:#a9a6b8;font-size:13px;margin:0 0 6px}
footer{color:#6f6b80;font-size:12px;margin-top:24px;line-height:1.6}
svg{max-width:100%;height:auto}
"""
