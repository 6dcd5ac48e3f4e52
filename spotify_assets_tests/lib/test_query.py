"""Named SQL (`run_sql`) cuts instants into days in UTC, whatever the machine's time zone."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from datetime import UTC, datetime
import pyarrow as pa
from spotify_assets.lib.query import run_sql
plays = pa.table({"t": pa.array([datetime(2026, 1, 1, 23, 50, tzinfo=UTC)],
                                 pa.timestamp("ms", tz="UTC"))})
out = run_sql(sys.argv[1], tables={"plays": plays})
print(out["day"][0], out["hour"][0], out["t"].type.tz)
"""


def test_days_and_hours_are_utc_on_a_machine_in_tokyo(tmp_path: Path) -> None:
    sql = tmp_path / "days.sql"
    sql.write_text("select cast(t as date) as day, hour(t) as hour, t from plays")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(sql)],
        env={**os.environ, "TZ": "Asia/Tokyo"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["2026-01-01", "23", "UTC"]
