"""The wrapped report's charts: Vega-Lite specs built with Altair, rendered to SVG by
vl-convert (a Rust build of Vega shipped in the wheel: no browser, no network, no CDN), so the
page embeds them inline and opens offline. The same data gives byte-identical SVG.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

INK = "#f4f1ea"
MUTED = "#a9a6b8"
GRID = "#3a3650"
FONT = "Inter, 'Helvetica Neue', Arial, 'Noto Sans CJK JP', sans-serif"
PALETTE = {
    "days": "#1ed760",
    "hours": "#ffcf40",
    "artists": "#ff6b9a",
    "genres": "#7c9cff",
    "months": "#1ed760",
}
WIDE = 1160
NARROW = 300


def _config() -> dict[str, Any]:
    return {
        "background": None,
        "font": FONT,
        "view": {"stroke": None},
        "axis": {
            "labelColor": MUTED,
            "titleColor": MUTED,
            "gridColor": GRID,
            "domainColor": GRID,
            "tickColor": GRID,
            "labelFontSize": 11,
            "titleFontSize": 11,
            "titleFontWeight": "normal",
        },
        "text": {"color": INK},
    }


def _svg(chart: Any, name: str) -> str:
    import vl_convert

    spec = chart.to_dict()
    spec["config"] = {**spec.get("config", {}), **_config()}
    return stable_ids(vl_convert.vegalite_to_svg(spec), name)


def stable_ids(svg: str, name: str) -> str:
    """Vega numbers its clip paths with a counter that lives as long as the process
    (`clip7`, then `clip38`...): renamed `<name>-1`, `<name>-2`... so the same chart gives the
    same bytes, and two charts inlined in one page never share an id."""
    ids = list(dict.fromkeys(re.findall(r'\bid="([^"]+)"', svg)))
    for number, old in enumerate(ids, start=1):
        new = f"{name}-{number}"
        svg = re.sub(rf'\bid="{re.escape(old)}"', f'id="{new}"', svg)
        svg = svg.replace(f"url(#{old})", f"url(#{new})").replace(f'href="#{old}"',
                                                                   f'href="#{new}"')
    return svg


def minutes_per_day(days: Sequence[date], minutes: Sequence[float], *, yearly: bool) -> str:
    """Bars of listened minutes for every local day of the period."""
    import altair as alt

    rows = [
        {"day": d.isoformat(), "label": d.day, "minutes": round(m, 1)}
        for d, m in zip(days, minutes, strict=True)
    ]
    if yearly:
        x = alt.X("day:T", title=None,
                  axis=alt.Axis(format="%b", labelAngle=0, tickCount="month", grid=False))
    else:
        x = alt.X("label:O", title=None, axis=alt.Axis(labelAngle=0))
    chart = (
        alt.Chart(alt.Data(values=rows))
        # Square bars: rounded corners make a year's 365 bars a 400 KB path and 5x slower.
        .mark_bar(color=PALETTE["days"])
        .encode(x=x, y=alt.Y("minutes:Q", title="minutes"))
        .properties(width=WIDE, height=170)
    )
    return _svg(chart, "chart-days")


def minutes_per_hour(minutes: Sequence[float]) -> str:
    """Bars of listened minutes by local hour of the day (when plays started)."""
    import altair as alt

    rows = [{"hour": h, "minutes": round(m, 1)} for h, m in enumerate(minutes)]
    chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_bar(color=PALETTE["hours"], cornerRadiusTopLeft=2, cornerRadiusTopRight=2)
        .encode(
            x=alt.X("hour:O", title="hour of the day",
                    axis=alt.Axis(labelAngle=0, values=list(range(0, 24, 3)))),
            y=alt.Y("minutes:Q", title="minutes"),
        )
        .properties(width=NARROW, height=170)
    )
    return _svg(chart, "chart-hours")


def ranked_bars(labels: Sequence[str], minutes: Sequence[float], *, color: str) -> str:
    """Horizontal bars, first label on top, each with its minutes."""
    import altair as alt

    rows = [
        {"label": label, "minutes": round(m), "order": i}
        for i, (label, m) in enumerate(zip(labels, minutes, strict=True))
    ]
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("label:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelLimit=190, labelColor=INK, labelFontSize=12, ticks=False,
                              domain=False)),
        x=alt.X("minutes:Q", title="minutes", axis=alt.Axis(grid=False, labels=False,
                                                             ticks=False, domain=False)),
    )
    bars = base.mark_bar(color=PALETTE[color], cornerRadiusEnd=3, height=18)
    text = base.mark_text(align="left", dx=4, color=MUTED, fontSize=11).encode(
        text=alt.Text("minutes:Q", format=",")
    )
    chart = (bars + text).properties(width=NARROW - 120, height=34 * max(1, len(rows)))
    return _svg(chart, f"chart-{color}")


def minutes_per_month(months: Sequence[date], minutes: Sequence[float]) -> str:
    import altair as alt

    rows = [{"month": m.strftime("%b"), "minutes": round(v), "order": i}
            for i, (m, v) in enumerate(zip(months, minutes, strict=True))]
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=alt.X("month:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("minutes:Q", title="minutes"),
    )
    bars = base.mark_bar(color=PALETTE["months"], cornerRadiusTopLeft=3, cornerRadiusTopRight=3)
    text = base.mark_text(dy=-6, color=MUTED, fontSize=10).encode(
        text=alt.Text("minutes:Q", format=",")
    )
    return _svg((bars + text).properties(width=WIDE, height=180), "chart-months")
