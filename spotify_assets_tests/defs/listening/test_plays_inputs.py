"""Which `polled_plays` files a range of `plays` reads: its own days' (and a key without a day),
not every user's every day."""

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from spotify_assets.defs.listening.plays import polled_partitions
from spotify_assets.defs.listening.tables import POLLED_PLAYS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.settings import load_settings


def test_a_range_reads_the_polled_days_it_covers(tmp_path: Path) -> None:
    warehouse = Warehouse(load_settings(data_dir=tmp_path))
    empty = POLLED_PLAYS.schema.empty_table()
    keys = ["alice/2026-01-04", "alice/2026-01-05", "bob/2026-01-07", "bob/2026-01-09", "legacy"]
    with warehouse.transaction() as tx:
        for key in keys:
            tx.write(POLLED_PLAYS, pa.Table.from_pylist([], empty.schema), key)
    lo = datetime(2026, 1, 5, tzinfo=UTC)
    hi = datetime(2026, 1, 7, 12, tzinfo=UTC)  # a margin may end inside a day: it is read
    assert polled_partitions(warehouse, lo, hi) == ["alice/2026-01-05", "bob/2026-01-07", "legacy"]
