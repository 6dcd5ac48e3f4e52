"""What a materialization's preview shows (defs/previews.py): counts a person can read at a
glance, never a listener's id or what only one listener played."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from spotify_assets.defs.listening.tables import DAILY_LISTENING
from spotify_assets.defs.musicbrainz.tables import MB_RECORDINGS
from spotify_assets.defs.previews import _Accumulator, bar_chart, bar_chart_spec


def _days(rows: list[tuple[str, date, str]]) -> pa.Table:
    users, days, tracks = zip(*rows, strict=True)
    return pa.table({"user_id": list(users), "date": list(days), "top_track_name": list(tracks)})


def test_a_personal_table_counts_rows_and_listeners_per_day_and_names_nobody() -> None:
    acc = _Accumulator(DAILY_LISTENING)
    acc.add(_days([("alice_1984", date(2026, 3, 1), "Only Alice Plays This"),
                   ("bob_77", date(2026, 3, 1), "Bobs Song"),
                   ("alice_1984", date(2026, 3, 2), "Only Alice Plays This")]))  # fmt: skip
    acc.add(_days([("bob_77", date(2026, 3, 2), "Bobs Song")]))  # a second write, same run
    text = acc.markdown()
    assert "This run wrote 4 rows for 2 listener(s), in all." in text
    assert "| 2026-03-02 | 2 | 2 |" in text and "| 2026-03-01 | 2 | 2 |" in text
    for private in ("alice_1984", "bob_77", "Only Alice Plays This", "Bobs Song"):
        assert private not in text


def test_a_shared_table_counts_categorical_values_but_not_identifying_ones() -> None:
    acc = _Accumulator(MB_RECORDINGS)
    columns = {f.name for f in MB_RECORDINGS.schema}
    status = next(c for c in ("status", "method", "match_method") if c in columns)
    rows = {name: [None, None, None] for name in columns}
    rows[status] = ["matched", "matched", "unresolved"]
    rows["track_id"] = ["t1", "t2", "t3"]
    table = pa.table({n: pa.array(v, MB_RECORDINGS.schema.field(n).type)
                      for n, v in rows.items()})  # fmt: skip
    acc.add(table)
    text = acc.markdown()
    assert "This run wrote 3 rows, by kind:" in text
    assert f"| {status} | matched | 2 |" in text and f"| {status} | unresolved | 1 |" in text
    assert "t1" not in text


def test_a_chart_is_an_inline_png_with_its_numbers_beneath() -> None:
    value = bar_chart(["1", "2", "3"], [10.04, 20.0, 5.55], title="Minutes per day", unit="min")
    text = value.value
    assert text.startswith("![Minutes per day](data:image/png;base64,")
    assert text.endswith(")\n\n1: 10; 2: 20; 3: 5.5")  # rounded, as a person reads them


@pytest.mark.parametrize("horizontal", [False, True])
def test_the_chart_spec_is_the_one_altair_builds(horizontal: bool) -> None:
    """`bar_chart` writes its Vega-Lite spec out rather than import Altair in every run that
    charts: it must stay the dict Altair would build (so the PNG is the same)."""
    import altair as alt

    rows = [{"label": "a", "value": 1.5, "order": 0}, {"label": "b", "value": 3.0, "order": 1}]
    label = alt.X("label:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelAngle=0))
    value = alt.Y("value:Q", title="min")
    if horizontal:
        label = alt.Y(
            "label:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelLimit=260)
        )
        value = alt.X("value:Q", title="min")
    chart = (
        alt.Chart(alt.Data(values=rows), title="Top")
        .mark_bar(color="#1db954")
        .encode(label, value)
        .properties(width=560, height=22 * len(rows) if horizontal else 180)
    )
    assert bar_chart_spec(rows, "Top", "min", horizontal) == chart.to_dict()
