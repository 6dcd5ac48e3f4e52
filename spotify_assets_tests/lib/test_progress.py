"""Progress lines: the reporter speaks while the worker blocks, the parser's callback follows a
real parse with either engine, and an item's progress adds up its files."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from spotify_assets.lib.exports import ExportFile, parse_export_file
from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets.lib.exports.progress import ImportProgress
from spotify_assets.lib.progress import Progress, report_every


def test_the_reporter_keeps_speaking_while_the_worker_blocks() -> None:
    progress = Progress("plays", unit="days", total=40)
    lines: list[str] = []
    with report_every(progress, lines.append, every_s=0.05):
        progress.update(done=10.0, stage="range 1/2")
        # A worker stuck in one long call (a DuckDB query, a Parquet write) updates nothing.
        threading.Event().wait(0.6)
    assert len(lines) >= 3
    assert all(line.startswith("plays: 25% of 40 days, ") for line in lines)
    assert all(line.endswith("(range 1/2)") for line in lines)
    count = len(lines)
    time.sleep(0.2)
    assert len(lines) == count  # it stops with the block


def test_a_line_names_files_rows_percent_and_rate() -> None:
    progress = Progress("import of l-1/x.zip", unit="bytes", total=200 * 1024**2)
    progress.update(files_total=3, files_done=1, rows=120_000, done=50 * 1024**2, stage="parsing")
    line = progress.snapshot().line()
    assert line.startswith("import of l-1/x.zip: file 2/3, 120,000 rows, 25% of 200 MB, ")
    assert " rows/s, " in line and line.endswith(" s (parsing)")


@pytest.mark.parametrize("engine", ["ijson", "duckdb"])
def test_the_parser_reports_rows_and_the_share_of_the_file_read(
    tmp_path: Path, engine: str
) -> None:
    path = tmp_path / "Streaming_History_Audio_2020.json"
    write_extended_file(path, 45_000, seed=3)
    export_file = ExportFile.from_path(path)
    calls: list[tuple[int, float | None]] = []
    with_progress = parse_export_file(
        "keeper", export_file, engine=engine, progress=lambda r, f: calls.append((r, f))
    )
    without = parse_export_file("keeper", export_file, engine=engine)
    assert with_progress.engine == engine
    assert with_progress.observations.equals(without.observations)
    rows = [r for r, _ in calls]
    fractions = [f for _, f in calls if f is not None]
    assert len(calls) >= 2 and rows == sorted(rows) and rows[-1] <= 45_000
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1.0
    if engine == "duckdb":
        assert rows[-1] == 45_000 and fractions[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("at_once", [1, 2], ids=["one file at a time", "two files at once"])
def test_an_items_progress_adds_up_its_files(tmp_path: Path, at_once: int) -> None:
    files = []
    for seed, rows in ((1, 30_000), (2, 25_000)):
        path = tmp_path / f"Streaming_History_Audio_{seed}.json"
        write_extended_file(path, rows, seed=seed)
        files.append(ExportFile.from_path(path))
    progress = ImportProgress("import of l-1/export.zip")
    progress.start(files)
    seen: list[tuple[int, float]] = []
    progress.listen(lambda s: seen.append((s.rows, s.done)))

    def parse(export_file: ExportFile) -> None:
        parsed = parse_export_file("keeper", export_file, engine="ijson",
                                   progress=progress.parsing(export_file))  # fmt: skip
        progress.parsed(export_file, parsed.report.rows_read)

    # As the importer parses a zip's files: several threads report into one progress.
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(parse, files))
    state = progress.snapshot()
    assert (state.rows, state.files_done, state.files_total) == (55_000, 2, 2)
    assert state.done == state.total == sum(f.size for f in files)
    assert [r for r, _ in seen] == sorted(r for r, _ in seen)  # never backwards across files
    assert [d for _, d in seen] == sorted(d for _, d in seen)
    assert "2 history file(s), 55,000 rows in " in progress.summary("imported")


def test_files_parsed_at_once_each_count_once(tmp_path: Path) -> None:
    files = []
    for seed in (1, 2):
        path = tmp_path / f"Streaming_History_Audio_{seed}.json"
        write_extended_file(path, 10, seed=seed)
        files.append(ExportFile.from_path(path))
    progress = ImportProgress("import of l-1/export.zip")
    progress.start(files)
    first, second = (progress.parsing(f) for f in files)
    first(4, 0.5)
    second(6, 0.5)
    first(8, 1.0)  # a file's later batch replaces its earlier count, never adds to it
    state = progress.snapshot()
    assert state.rows == 14
    assert state.done == pytest.approx(files[0].size + 0.5 * files[1].size)
    progress.parsed(files[1], 10)
    state = progress.snapshot()
    assert (state.rows, state.files_done) == (18, 1)
    assert state.done == pytest.approx(files[0].size + files[1].size)
