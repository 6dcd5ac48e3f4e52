"""What an asset's page shows of a materialization besides its row counts: a preview of the
rows a run wrote and, where a person would rather look than read, a chart.

Dagster's event log outlives `users remove`, so nothing here names a listener or an item only
one listener has: a preview counts (rows and listeners per day; rows per status, method or
kind), and a chart names an item (a track, an artist) only when at least `SHARED_BY` listeners
share it. Even tables without a user column (MusicBrainz ids, release listings) are made of what
single listeners played, so their rows are counted, not shown.

Previews are added by the `Warehouse` as it writes (`Previews.observe`, one accumulator per run
and table), so every asset gets one without code of its own; charts are asked for by the assets
that have one (`bar_chart`).
"""

from __future__ import annotations

import base64
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.lib.lake import TableSpec

SHARED_BY = 2
PREVIEW_DAYS = 7
CATEGORIES = 8
CELL_CHARS = 40
USER_COLUMN = "user_id"

log = logging.getLogger(__name__)


def escape(text: str) -> str:
    """Markdown text as written: `|` would end a table cell and `<` would start an HTML tag."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def cell(value: object) -> str:
    """A Markdown table cell, short."""
    if isinstance(value, float):
        value = round(value, 2)
    text = "" if value is None else str(value)
    if len(text) > CELL_CHARS:
        text = text[: CELL_CHARS - 1] + "…"
    return escape(text)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _when_column(schema: pa.Schema) -> str | None:
    """The table's first date column (or timestamp, read as its UTC day): what a personal
    table's preview counts rows by."""
    for f in schema:
        if pa.types.is_date(f.type):
            return f.name
    for f in schema:
        if pa.types.is_timestamp(f.type):
            return f.name
    return None


# Columns that name or identify a thing are never counted by value: with few rows, a count
# by name would name it.
_IDENTIFYING = re.compile(
    r"name|title|label|_id$|^id$|_ids$|key|uri|url|isrc|upc|barcode|mbid|handle|user"
)


@dataclass
class _Accumulator:
    """What one run wrote to one table, kept small: rows per day and listeners for a table with
    listeners; rows per value of each categorical column (status, method...) for the others."""

    spec: TableSpec
    rows: int = 0
    users: set[str] = field(default_factory=set)
    by_day: dict[str, tuple[int, set[str]]] = field(default_factory=dict)
    by_value: dict[str, Counter] = field(default_factory=dict)

    @property
    def personal(self) -> bool:
        return USER_COLUMN in self.spec.column_names

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if not table.num_rows:
            return
        if not self.personal:
            self._count_values(table)
            return
        users = table.column(USER_COLUMN)
        self.users.update(u for u in pc.unique(users).to_pylist() if u is not None)
        when = _when_column(table.schema)
        if when is None:
            return
        days = table.column(when)
        if pa.types.is_timestamp(days.type):
            days = pc.cast(days, pa.date32())
        pairs = pa.table({"day": days, "user": users}).group_by(["day", "user"]).aggregate(
            [([], "count_all")]
        )
        for day, user, count in zip(
            pairs["day"].to_pylist(), pairs["user"].to_pylist(), pairs["count_all"].to_pylist(),
            strict=True,
        ):
            key = str(day)
            rows, listeners = self.by_day.get(key, (0, set()))
            listeners.add(user)
            self.by_day[key] = (rows + count, listeners)

    def _count_values(self, table: pa.Table) -> None:
        for f in table.schema:
            if _IDENTIFYING.search(f.name) or not (
                pa.types.is_string(f.type) or pa.types.is_boolean(f.type)
            ):
                continue
            counts = self.by_value.setdefault(f.name, Counter())
            if len(counts) > CATEGORIES:
                continue  # not categorical: too many values to be a status or a kind
            for value in table.column(f.name).value_counts().to_pylist():
                counts[str(value["values"])] += value["counts"]

    def markdown(self) -> str:
        if not self.personal:
            categorical = {
                column: counts
                for column, counts in self.by_value.items()
                if 0 < len(counts) <= CATEGORIES and len(counts) < max(2, self.rows)
            }
            body = [
                [column, value, count]
                for column, counts in sorted(categorical.items())
                for value, count in counts.most_common()
            ]
            if not body:
                return f"This run wrote {self.rows} rows."
            return f"This run wrote {self.rows} rows, by kind:\n\n" + markdown_table(
                ["column", "value", "rows"], body
            )
        # The run's whole write, also on each partition it materialized (Dagster attaches run
        # metadata to every partition): say so, or a month would seem to hold the next one's days.
        summary = f"This run wrote {self.rows} rows for {len(self.users)} listener(s), in all."
        if not self.by_day:
            return summary
        when = _when_column(self.spec.schema) or "day"
        newest = sorted(self.by_day, reverse=True)[:PREVIEW_DAYS]
        body = [[d, len(self.by_day[d][1]), self.by_day[d][0]] for d in newest]
        more = len(self.by_day) - len(newest)
        tail = f"\n\n({more} earlier day(s) not shown)" if more > 0 else ""
        return (
            f"{summary} Newest days (listeners are counted, never named):\n\n"
            + markdown_table([when, "listeners", "rows"], body)
            + tail
        )


class Previews:
    """Adds a `preview` of what the current run wrote to the asset being materialized.

    Called by the lake for every write (`Lake.observers`); outside an asset (a CLI command, a
    sensor, a thread) there is no asset page to show it on, and nothing happens. A preview can
    never fail a write.
    """

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], _Accumulator] = {}

    def observe(self, spec: TableSpec, table: pa.Table) -> None:
        try:
            context = dg.AssetExecutionContext.get()
        except dg.DagsterInvariantViolationError:
            return
        try:
            key = dg.AssetKey(spec.name)
            if key not in context.selected_asset_keys:
                return
            acc = self._runs.setdefault((context.run.run_id, spec.name), _Accumulator(spec))
            acc.add(table)
            context.add_asset_metadata(
                {"preview": dg.MetadataValue.md(acc.markdown())}, asset_key=key
            )
        except Exception:  # a preview is a courtesy: the write it describes must go on
            log.warning("no preview for %s", spec.name, exc_info=True)


# -- charts -----------------------------------------------------------------------------------


# The Vega-Lite version Altair's specs name: only a label, vl-convert renders with its own.
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"


def bar_chart_spec(rows: list[dict], title: str, unit: str, horizontal: bool) -> dict:
    """The Vega-Lite spec of `bar_chart`, written out: the very dict Altair builds for it
    (test_previews compares them), without importing Altair (0.6 s) in every run that charts."""
    label: dict = {"field": "label", "sort": {"field": "order"}, "title": None, "type": "nominal"}
    label["axis"] = {"labelLimit": 260} if horizontal else {"labelAngle": 0}
    value = {"field": "value", "title": unit, "type": "quantitative"}
    return {
        "config": {"view": {"continuousWidth": 300, "continuousHeight": 300}},
        "data": {"values": rows},
        "mark": {"type": "bar", "color": "#1db954"},
        "encoding": {"x": value, "y": label} if horizontal else {"x": label, "y": value},
        "height": 22 * len(rows) if horizontal else 180,
        "title": title,
        "width": 560,
        "$schema": VEGA_LITE_SCHEMA,
    }


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    unit: str,
    horizontal: bool = False,
) -> dg.MetadataValue:
    """A small bar chart as a Markdown image (a PNG rendered by vl-convert, inline, so the
    page needs nothing from the network), with the numbers beneath for a screen reader."""
    import vl_convert

    rows = [
        {"label": str(label), "value": round(float(value), 1), "order": i}
        for i, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    if not rows:
        return dg.MetadataValue.md(f"**{title}**: nothing to show yet.")
    png = vl_convert.vegalite_to_png(bar_chart_spec(rows, title, unit, horizontal), scale=1)
    image = base64.b64encode(png).decode()
    numbers = "; ".join(
        f"{r['label']}: {r['value']:.0f}" if r["value"] == int(r["value"])
        else f"{r['label']}: {r['value']:.1f}"
        for r in rows
    )
    return dg.MetadataValue.md(
        f"![{escape(title)}](data:image/png;base64,{image})\n\n{escape(numbers)}"
    )


def shared_top(
    table: pa.Table, name: str, score: str, *, limit: int = 10, group: str = USER_COLUMN
) -> tuple[list[str], list[float], list[int]]:
    """The items (by `name`) that at least SHARED_BY listeners (`group`) have, best `score`
    (summed over listeners) first: (names, scores, listeners)."""
    if not table.num_rows:
        return [], [], []
    totals = (
        table.select([name, group, score])
        .group_by(name)
        .aggregate([(group, "count_distinct"), (score, "sum")])
        .filter(pc.field(f"{group}_count_distinct") >= SHARED_BY)
        .sort_by([(f"{score}_sum", "descending"), (f"{group}_count_distinct", "descending"),
                  (name, "ascending")])
        .slice(0, limit)
    )
    return (
        totals[name].to_pylist(),
        totals[f"{score}_sum"].to_pylist(),
        totals[f"{group}_count_distinct"].to_pylist(),
    )


def shared_top_chart(
    table: pa.Table, name: str, score: str, *, title: str, unit: str
) -> Mapping[str, dg.MetadataValue]:
    """`{"top10": chart}` of `shared_top`, titled with how it protects the listeners."""
    names, scores, _ = shared_top(table, name, score)
    return {
        "top10": bar_chart(
            names, scores, title=f"{title} (shared by >= {SHARED_BY} listeners)", unit=unit,
            horizontal=True,
        )
    }


def listeners_top_chart(
    rows: Sequence[Mapping[str, object]], label: str, *, title: str
) -> Mapping[str, dg.MetadataValue]:
    """`{"top10": chart}` of the labels most listeners have (each row: one listener's item,
    `rows[i][label]` its label, `rows[i]["user_id"]` the listener)."""
    table = pa.table(
        {
            "label": [str(r[label]) for r in rows],
            USER_COLUMN: [r[USER_COLUMN] for r in rows],
            "listeners": [1] * len(rows),
        },
        schema=pa.schema(
            [("label", pa.string()), (USER_COLUMN, pa.string()), ("listeners", pa.int64())]
        ),
    )
    return shared_top_chart(table, "label", "listeners", title=title, unit="listeners")
