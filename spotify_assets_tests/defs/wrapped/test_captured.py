"""The captured part against the emulator: the schedule's tick at the end of March captures each
enrolled user's 6 top lists as the emulator ranks them, once; re-running the capture or
re-materializing the month asks Spotify nothing and leaves every captured file byte-identical
(same content hash, so the same file), and says so; a user who enrolled after the month has no
captured part, stated as such.
"""

from __future__ import annotations

import dagster as dg

from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.tables import TIME_RANGES
from spotify_assets.defs.wrapped.captured import monthly_wrapped_captured
from spotify_assets.defs.wrapped.common import CAPTURE_TAG, user_partition
from spotify_assets.defs.wrapped.monthly import monthly_wrapped
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED, MONTHLY_WRAPPED_CAPTURED
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.defs.wrapped.conftest import (
    LATE,
    MONTH,
    TICK,
    USERS,
    materialize,
    metadata,
    run_tick,
)

TOP = "GET /v1/me/top/{type}"


def captured_files(warehouse: Warehouse) -> dict[str, str]:
    return {e.partition: e.path for e in warehouse.lake.entries(MONTHLY_WRAPPED_CAPTURED.name)}


def test_the_tick_captures_the_emulators_lists_once_and_never_rewrites_them(
    emu: EmulatorHandle, enrolled: Settings
) -> None:
    world = emu.state.world
    warehouse = Warehouse(enrolled)
    registry = UserRegistry(enrolled)
    handles = {u.id: u.handle for u in registry.list()}
    with dg.instance_for_test() as instance:
        first = run_tick(enrolled, TICK, instance)

        assert emu.state.request_counts_snapshot()[TOP] == 6 * (len(USERS) - 1)
        for uid in USERS:
            key = user_partition(MONTH, handles[uid])
            if uid == LATE:
                assert not warehouse.has_partition(MONTHLY_WRAPPED_CAPTURED, key)
                continue
            rows = warehouse.scan(MONTHLY_WRAPPED_CAPTURED, partitions=[key]).to_pylist()
            for kind in ("tracks", "artists"):
                for time_range in TIME_RANGES:
                    mine = sorted((r for r in rows if (r["kind"], r["time_range"])
                                   == (kind, time_range)), key=lambda r: r["rank"])
                    want = world.top(uid, kind, time_range)
                    assert [r["spotify_id"] for r in mine] == want, (uid, kind, time_range)
                    names = world.tracks if kind == "tracks" else world.artists
                    assert [r["name"] for r in mine] == [names[i].name for i in want]
                    assert [r["rank"] for r in mine] == list(range(1, len(want) + 1))
            assert {r["month"] for r in rows} == {MONTH} and {r["user_id"] for r in rows} == {uid}
        status = {r["user_id"]: r["captured_status"] for r in warehouse.scan(MONTHLY_WRAPPED)
                  .to_pylist()}
        assert status == {u: "before_enrollment" if u == LATE else "captured" for u in USERS}
        meta = metadata(first, "monthly_wrapped_captured", MONTH.isoformat())
        assert meta["users"] == {"before_enrollment": 1, "captured": len(USERS) - 1}
        files = captured_files(warehouse)
        assert len(files) == len(USERS) - 1
        # Paths and metadata name handles, never user ids.
        assert not any(uid in path for uid in USERS for path in files.values())

        # The same tick again (a retry), then a plain re-materialization of the month.
        emu.state.reset_request_counts()
        again = run_tick(enrolled, TICK, instance)
        later = materialize(enrolled, [monthly_wrapped_captured, monthly_wrapped], instance,
                            partition_key=MONTH.isoformat())

        assert TOP not in emu.state.request_counts_snapshot()
        assert captured_files(warehouse) == files  # the same bytes, so the same files
        for result in (again, later):
            meta = metadata(result, "monthly_wrapped_captured", MONTH.isoformat())
            assert meta["users"] == {"before_enrollment": 1, "kept": len(USERS) - 1}
            assert meta["captured_part"].startswith(f"{len(USERS) - 1} user(s) kept")
        assert metadata(later, "monthly_wrapped", MONTH.isoformat())["captured_part"][
            "kept_as_captured"] == len(USERS) - 1
        assert "not touched" in metadata(later, "monthly_wrapped")["captured_part_rule"]


def test_only_a_capture_run_after_the_month_asks_spotify(
    emu: EmulatorHandle, enrolled: Settings
) -> None:
    warehouse = Warehouse(enrolled)
    with dg.instance_for_test() as instance:
        # A re-materialization without the tick's tag: nothing is fetched, nothing stamped.
        plain = materialize(enrolled, [monthly_wrapped_captured], instance,
                            partition_key=MONTH.isoformat())
        # The 12:30 tick completes the plays part; it never captures either.
        run_tick(enrolled, TICK.replace(hour=12, minute=30), instance)

    assert TOP not in emu.state.request_counts_snapshot()
    assert captured_files(warehouse) == {}
    users = metadata(plain, "monthly_wrapped_captured", MONTH.isoformat())["users"]
    assert users == {"before_enrollment": 1, "not_a_capture_run": len(USERS) - 1}
    assert {r["captured_status"] for r in warehouse.scan(MONTHLY_WRAPPED).to_pylist()} == {
        "not_captured", "before_enrollment"}
    assert CAPTURE_TAG  # the tag the capture waits for
