"""Rebuild from raw (issue 18), as the issue checks it: after the demo's whole pipeline (every
asset of the graph), a month-end capture and two listeners' playlists, delete the lake and the
catalog, run `rebuild`, and every table comes back with the same content: the same file names
(a lake file is named by the hash of its bytes), moments included (when each poll was answered,
which plays it judged late, when each file was imported, when each top list was read).

Late-synced plays are rebuilt in `spotify_assets_tests/defs/listening/test_poll_plan.py`.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import dagster as dg
import pytest

from spotify_assets.defs.listening.tables import IMPORT_REPORTS, POLLED_PLAYS
from spotify_assets.defs.operations.rebuild import (
    DERIVED,
    FROM_CACHE,
    REBUILT,
    REPORT_FILES,
    rebuild,
)
from spotify_assets.defs.releases.tables import RELEASE_RADAR
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.warehouse.housekeeping import LAKE_STORAGE
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
from spotify_assets_tests.defs.replayed import lake_files


def _report_files(settings) -> dict[str, bytes]:
    return {str(p.relative_to(settings.reports_dir)): p.read_bytes()
            for p in sorted(settings.reports_dir.rglob("*")) if p.is_file()}


def _moments(settings) -> tuple[int, int, int]:
    """Distinct poll moments, import moments, and files imported: what the rebuild must get
    back from raw's names and the receipts, not from the present."""
    polled = Warehouse(settings).scan(POLLED_PLAYS).to_pydict()
    imported = Warehouse(settings).scan(IMPORT_REPORTS).to_pydict()
    return (len(set(polled["polled_at"])), len(set(imported["imported_at"])),
            len(imported["imported_at"]))


def _month_end(settings, instance, world_start) -> None:
    """What the demo cannot show (its listeners enroll today, after the world's month): the
    1st-of-the-month capture, with enrollment moved before the month, and the year's review
    that reads it, as their schedules run them; then two listeners opt in to the playlists
    (rows that record what we did on Spotify)."""
    from spotify_assets.defs.releases.radar import OPT_IN as RADAR_OPT_IN
    from spotify_assets.defs.wrapped.common import CAPTURE_TAG
    from spotify_assets.defs.wrapped.playlists import OPT_IN as WRAPPED_OPT_IN
    from spotify_assets.lib.users.registry import UserRegistry
    from spotify_assets.materialize import materialize_selection
    from spotify_assets_tests.defs.wrapped.conftest import backdate_enrollment

    def run(keys: list[str], first: str, last: str, **tags: str) -> None:
        materialize_selection(settings, keys, instance=instance,
                              tags={RANGE_START_TAG: first, RANGE_END_TAG: last, **tags})

    registry = UserRegistry(settings)
    for user in registry.list():
        backdate_enrollment(registry, user.id, world_start - timedelta(days=40))
    month = world_start.date().replace(day=1).isoformat()
    run(["monthly_wrapped_captured", "monthly_wrapped", "monthly_wrapped_tops"], month, month,
        **{CAPTURE_TAG: "true"})
    run(["yearly_wrapped", "yearly_wrapped_tops"], month[:4], month[:4])
    for user in registry.list()[:2]:
        registry.opt_in(user.id, WRAPPED_OPT_IN)
        registry.opt_in(user.id, RADAR_OPT_IN)
    run(["monthly_wrapped_playlists"], month, month)
    weeks = sorted(Warehouse(settings).partitions(RELEASE_RADAR))
    run(["release_radar_playlists"], weeks[0], weeks[-1])
    # The reports read all of it (a playlist is linked from its month's page).
    run(["monthly_wrapped_reports"], month, month)
    run(["yearly_wrapped_reports"], month[:4], month[:4])


@pytest.mark.slow
def test_after_the_whole_pipeline_every_table_comes_back_from_raw(emu, demo_as_left) -> None:
    # The demo's pipeline ran into this deployment (spotify_assets_tests/demo_deployment.py),
    # shared with the token and UI tests, which run after this one.
    settings = demo_as_left.settings
    instance = demo_as_left.instance()
    try:
        _month_end(settings, instance, emu.state.world.start)
        before = lake_files(settings)
        compared = {*REBUILT, *DERIVED, *FROM_CACHE} - {LAKE_STORAGE.name, *REPORT_FILES}
        # Every lake table is compared, and every compared table was written: nothing vacuous.
        assert set(before) - compared == {LAKE_STORAGE.name}
        assert {t for t in compared if not before.get(t)} == set()
        reports = _report_files(settings)
        assert reports  # the wrapped's pages and charts
        polls, imports, files = _moments(settings)
        assert polls >= 3 and imports >= 5 and files >= imports

        shutil.rmtree(settings.lake_dir)
        settings.warehouse_path.unlink()
        shutil.rmtree(settings.reports_dir)  # derived too: they must come back
        report = rebuild(settings, instance)

        after = lake_files(settings)
        assert report.failed_runs == 0
        assert report.files_imported == files and report.files_unnamed == 0
        assert report.receipts_replayed > 0 and report.derived_runs > 0
        differ = sorted(t for t in compared if after.get(t) != before.get(t))
        assert differ == [], f"tables that differ after the rebuild: {differ}"
        # The wrapped's report files are written again from the rebuilt tables, the same bytes.
        assert _report_files(settings) == reports
        # The lake's own description is written again, for the new lake: the same files.
        rows = Warehouse(settings).scan(LAKE_STORAGE).to_pylist()
        assert {r["table_name"]: r["files"] for r in rows if r["table_name"] != "lake_storage"} == {
            t: len(p) for t, p in after.items() if t != LAKE_STORAGE.name}
        # The rebuild's runs went through the deployment's instance (the UI sees them).
        latest = instance.get_latest_materialization_event(dg.AssetKey("top_albums"))
        assert latest.run_id in {r.run_id for r in instance.get_runs(limit=report.derived_runs)}
        # What it cannot rebuild, it says: only the registry, which is not a lake table.
        assert report.not_rebuilt == ["user_registry"]

        # On a complete lake nothing is replayed, and nothing changes.
        again = rebuild(settings, instance)
        assert (again.files_imported, again.polled_days_written, again.receipts_replayed) == (
            0, 0, 0)
        assert lake_files(settings).keys() == after.keys()
        assert {t: p for t, p in lake_files(settings).items() if t != LAKE_STORAGE.name} == {
            t: p for t, p in after.items() if t != LAKE_STORAGE.name}
    finally:
        instance.dispose()
