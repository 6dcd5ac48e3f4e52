"""Long work says how far it got (issue 17): an import's run log has a progress line (files,
rows, percent, rate) at least every few seconds, ending with every row of the file; the history
refresh of its months logs each range of days it rewrites, and a line every few seconds while one
runs. The file is generated (300,000 extended rows, ~190 MB). How far apart the lines come is a
measurement (docs/benchmarks.md), not an assertion: tests never assert wall-clock times.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import dagster as dg
import pytest

from spotify_assets.defs.listening import imports as imports_module
from spotify_assets.defs.listening.imports import export_import
from spotify_assets.defs.resources import build_resources
from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets.lib.orchestrate import QUIET
from spotify_assets.lib.progress import report_every
from spotify_assets.lib.settings import load_settings
from spotify_assets.lib.users.registry import UserRegistry

ROWS = 300_000
EVERY = 0.2  # seconds between an import's progress lines in this test
LINE = re.compile(r"^import of (?P<who>\S+): file 1/1, (?P<rows>[\d,]+) rows, (?P<pct>\d+)% of ")
SUMMARY = re.compile(r"^import of \S+: imported, 1 history file\(s\), (?P<rows>[\d,]+) rows in ")


def step_messages(instance: dg.DagsterInstance, run_id: str, step: str) -> list[tuple[float, str]]:
    """(timestamp, message) of a step's events, from its start to its end, in order."""
    out = []
    for entry in instance.all_logs(run_id):
        if entry.step_key != step:
            continue
        event = entry.dagster_event
        out.append((entry.timestamp, event.event_type_value if event else entry.user_message))
    names = [m for _, m in out]
    return out[names.index("STEP_START") : names.index("STEP_SUCCESS") + 1]


@pytest.mark.slow
def test_an_import_logs_progress_at_least_every_few_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A line every 0.2 s, not EVERY_S: the import of this file takes about as long as one
    # EVERY_S, so at the real interval it would often say nothing before its summary.
    monkeypatch.setattr(imports_module, "report_every", partial(report_every, every_s=EVERY))
    settings = load_settings(data_dir=tmp_path / "data")
    registry = UserRegistry(settings)
    registry.enroll("keeper", "Keeper", "a-token", timezone="Europe/Berlin")
    handle = registry.require("keeper").handle
    inbox = settings.inbox_dir / "keeper"
    inbox.mkdir(parents=True)
    write_extended_file(inbox / "Streaming_History_Audio_2020-2022.json", ROWS, seed=5)

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [export_import],
            resources=build_resources(settings),
            instance=instance,
            run_config=QUIET,
        )
        assert result.success
        events = step_messages(instance, result.run_id, "export_import")

    messages = [m for _, m in events]
    progress = [(t, LINE.match(m)) for t, m in events if LINE.match(m)]
    [(done_at, summary)] = [(t, SUMMARY.match(m)) for t, m in events if SUMMARY.match(m)]
    # Every row of the file, counted by the import itself, and the listener by handle only.
    assert int(summary["rows"].replace(",", "")) == ROWS
    assert all(match["who"] == f"{handle}/Streaming_History_Audio_2020-2022.json"
               for _, match in progress)  # fmt: skip
    assert not any("keeper" in m for m in messages)
    # Rows and percent only move forward.
    rows = [int(m["rows"].replace(",", "")) for _, m in progress]
    percents = [int(m["pct"]) for _, m in progress]
    assert rows == sorted(rows) and percents == sorted(percents) and rows[-1] <= ROWS
    # Lines come every EVERY while it works, before the summary: a step that ran for two
    # intervals said something. How far apart they come is measured, not asserted here
    # (docs/benchmarks.md, "Progress"): tests never assert wall-clock times.
    if done_at - events[0][0] > 2 * EVERY:
        assert progress, events
    assert all(" rows/s, " in m for _, m in events if LINE.match(m))
    assert all(t <= done_at for t, _ in progress)
