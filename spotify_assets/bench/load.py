"""Benchmark: loading the definitions, as a ratio to importing Dagster with an empty Definitions.

Each measurement is a fresh interpreter (what `dagster dev`'s code server and every run worker
pay); the median of several runs is reported.
"""

import statistics
import subprocess
import sys
import time

BASELINE = "import dagster as dg; dg.Definitions()"
OURS = "from spotify_assets.definitions import defs; defs().resolve_asset_graph()"


def _seconds(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(repeat: int = 5) -> dict:
    baseline, ours = _seconds(BASELINE, repeat), _seconds(OURS, repeat)
    return {"baseline_s": baseline, "ours_s": ours, "ratio": ours / baseline}


def report(result: dict) -> str:
    return (
        f"definitions load (fresh interpreter, median): {result['ours_s']:.2f} s; "
        f"bare `import dagster` + empty Definitions: {result['baseline_s']:.2f} s; "
        f"ratio {result['ratio']:.2f}x"
    )
