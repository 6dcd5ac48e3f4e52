"""How docs/wrapped-demo_heavy.png was made: the demo's pipeline on a pinned world (2026-10-27 to
2026-12-01 12:00 UTC, so November is a whole month), then what `monthly_wrapped_schedule` runs
at the end of November (the 00:00 capture and the 12:30 final tick), then a headless Chromium
screenshot of demo_heavy's November report.

One staging step: the demo enrolls its users today, after November, so their November has no
captured part ("before_enrollment", as it should). To show what a captured month looks like, the
script moves their enrollment to 2026-10-01 before the capture tick.

    .venv/bin/python docs/make_wrapped_screenshot.py   # needs Debian's chromium
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END = "2026-12-01T12:00:00+00:00"
OUT = ROOT / "docs" / "wrapped-demo_heavy.png"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="wrapped-shot-"))
    os.environ.update(
        SPOTIFY_ASSETS_DATA_DIR=str(work / "data"),
        SPOTIFY_ASSETS_DEMO_END=END,
        SPOTIFY_ASSETS_DEMO_DAYS="35",
        SPOTIFY_ASSETS_EMULATOR_PORT=os.environ.get("SPOTIFY_ASSETS_EMULATOR_PORT", "8799"),
        MUSICBRAINZ_MIN_INTERVAL="0",
    )
    import dagster as dg

    from spotify_assets.definitions import defs
    from spotify_assets.demo import run_pipeline, running_emulator_process
    from spotify_assets.defs.wrapped.pages import report_path
    from spotify_assets.defs.wrapped.schedules import monthly_wrapped_schedule
    from spotify_assets.lib.instance import prepare_dagster_home
    from spotify_assets.lib.orchestrate import (
        RANGE_END_TAG,
        RANGE_START_TAG,
        materialize_selection,
    )
    from spotify_assets.lib.settings import get_settings
    from spotify_assets.lib.users.registry import UserRegistry

    settings = get_settings()
    prepare_dagster_home(settings)
    with running_emulator_process(settings) as base_url:
        run_pipeline(settings, base_url)
        registry = UserRegistry(settings)
        con = sqlite3.connect(registry.path)
        con.execute("update users set enrolled_at = ?",
                    (datetime(2026, 10, 1, tzinfo=UTC).isoformat(timespec="microseconds"),))
        con.commit()
        con.close()
        for tick in (datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
                     datetime(2026, 12, 1, 12, 30, tzinfo=UTC)):
            context = dg.build_schedule_context(
                scheduled_execution_time=tick, repository_def=defs().get_repository_def()
            )
            [request] = monthly_wrapped_schedule.evaluate_tick(context).run_requests
            print(f"[tick] {tick:%Y-%m-%d %H:%M} UTC: {request.run_key}", flush=True)
            materialize_selection(
                settings, [k.to_user_string() for k in request.asset_selection],
                # The tick's partition, as the range tags materialize_selection runs by.
                tags={**{k: v for k, v in request.tags.items() if k != "dagster/partition"},
                      RANGE_START_TAG: request.partition_key,
                      RANGE_END_TAG: request.partition_key},
            )
        handle = registry.require("demo_heavy").handle
    page = report_path(settings, handle, "2026-11")
    chromium = shutil.which("chromium") or sys.exit("install Debian's chromium first")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--no-first-run", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={work / 'chromium'}", "--hide-scrollbars",
         "--window-size=1320,2080", f"--screenshot={OUT}", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    print(f"{page} -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
