"""A large generated extended file parses with memory that does not follow the file's size.

Each parse runs in its own process (bench.py --measure) so its peak RSS is its own. Two files
give the memory cost per extra row: loading the file whole with json.load costs about 2 KB per
row here, a parse must stay under 1 KB (its Arrow output is ~0.3 KB per row). No timing is
asserted.

DuckDB's JSON reader holds up to about twice a piece's size while it reads (bounded: +77 MB for
a 38 MB piece, +46 MB for a 200 MB one, measured), so its files are past that: 120k and 240k
rows (two pieces each). From 20k to 120k rows it costs 2.3 KB per row, all of it that buffer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spotify_assets.lib.exports.bench import write_extended_file

ROOT = Path(__file__).resolve().parents[3]
# Rows of the smaller and the larger file, per engine.
SIZES = {"ijson": (20_000, 120_000), "duckdb": (120_000, 240_000)}
MAX_BYTES_PER_EXTRA_ROW = 1024


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("large")
    out = {}
    for rows in sorted({rows for sizes in SIZES.values() for rows in sizes}):
        out[rows] = folder / f"Streaming_History_Audio_{rows}.json"
        write_extended_file(out[rows], rows)
    return out


def _measure(path: Path, engine: str) -> dict:
    command = [sys.executable, "-m", "spotify_assets.lib.exports.bench", "--file", str(path),
               "--engine", engine, "--measure"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("engine", ["ijson", "duckdb"])
def test_memory_per_row_stays_far_below_loading_the_file(files, engine):
    small_rows, large_rows = SIZES[engine]
    small, large = _measure(files[small_rows], engine), _measure(files[large_rows], engine)
    assert (small["rows"], large["rows"]) == (small_rows, large_rows)
    assert small["engine"] == large["engine"] == engine

    def growth(m: dict) -> int:
        return (m["peak_rss_mb"] - m["rss_after_imports_mb"]) * 1024**2

    per_row = (growth(large) - growth(small)) / (large_rows - small_rows)
    assert per_row < MAX_BYTES_PER_EXTRA_ROW, (small, large)
