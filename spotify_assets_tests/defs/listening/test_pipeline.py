"""The listening pipeline end to end: real HTTP to the emulator, real Dagster runs, real lake.

Covers issue 6's checks: exports + polling over the whole window give exactly the world's
plays (>= 30 s) and its daily minutes; re-importing and re-polling change nothing; bad inbox
items are refused without touching other users; a backdated import refreshes only the days it
touched (issue 12: in month partitions, one run per range of months); a revoked token parks
only that user and turns the check red.
"""

import hashlib
import io
import json
import zipfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import httpx
import pyarrow.compute as pc
import pytest

from spotify_assets.defs.listening.history import REFRESH_TAG, STALE_SCOPE
from spotify_assets.defs.listening.imports import export_import
from spotify_assets.defs.listening.plays import episode_plays, plays
from spotify_assets.defs.listening.poll import USERS_CHECK, polled_plays
from spotify_assets.defs.listening.sensors import (
    refresh_requests,
    settle,
    stale_days_sensor,
    stats_after_refresh_sensor,
)
from spotify_assets.defs.listening.stats import (
    daily_listening,
    listening_coverage,
)
from spotify_assets.defs.listening.tables import EXPORTED_PLAYS, POLLED_PLAYS
from spotify_assets.lib.dedupe import MIN_PLAY_MS, track_key
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
from spotify_assets_tests.defs.conftest import DEMO_USERS, Pipeline

LISTENING = [export_import, polled_plays, plays, episode_plays, daily_listening, listening_coverage]


def drop_export(p: Pipeline, user_id: str) -> Path:
    body = httpx.get(f"{p.emulator.base_url}/_emulator/exports/{user_id}.zip").content
    target = p.settings.inbox_dir / user_id / "my_spotify_data.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    return target


def poll_through(p: Pipeline, start: datetime, end: datetime, step: timedelta) -> None:
    moment = start
    while moment <= end:
        p.control("POST", "clock", json={"now": moment.isoformat()})
        assert p.materialize([polled_plays]).success
        moment += step


def window(p: Pipeline) -> tuple[datetime, datetime, dict]:
    config = p.control("GET", "config")
    return datetime.fromisoformat(config["start"]), datetime.fromisoformat(config["end"]), config


HISTORY = dg.AssetSelection.assets(plays, episode_plays, daily_listening, listening_coverage)


def month(day: datetime | str) -> str:
    text = day if isinstance(day, str) else day.date().isoformat()
    return text[:7] + "-01"


def materialize_months(p: Pipeline, first: str, last: str) -> dg.ExecuteInProcessResult:
    """One run over a range of months, every day of them (as the UI's Materialize)."""
    tags = {RANGE_START_TAG: month(first), RANGE_END_TAG: month(last)}
    result = p.materialize(LISTENING, selection=HISTORY, tags=tags)
    assert result.success
    settle(result.dagster_run, p.warehouse.lake.manifest)
    return result


def refresh_stale(p: Pipeline) -> list[dg.ExecuteInProcessResult]:
    """What the stale-days sensor requests, run and settled."""
    requests, _ = refresh_requests(p.instance, p.warehouse.lake.manifest, datetime.now(UTC))
    results = []
    for request in requests:
        result = p.materialize(LISTENING, selection=HISTORY, tags=request.tags)
        assert result.success
        settle(result.dagster_run, p.warehouse.lake.manifest)
        results.append(result)
    return results


def query(p: Pipeline, sql: str) -> list[tuple]:
    return p.query(sql)


@pytest.mark.slow
def test_exports_plus_polling_equal_the_worlds_plays_and_minutes(pipeline: Pipeline) -> None:
    p = pipeline
    start, end, config = window(p)
    world = p.emulator.state.world
    for user_id in DEMO_USERS:
        # Spotify's API has no timezone: the operator sets it (`users set-timezone`).
        p.registry.set_timezone(user_id, world.users[user_id].timezone)
        drop_export(p, user_id)
    assert p.materialize([export_import]).success
    export_end = end - timedelta(hours=config["export_end_offset_hours"])
    poll_through(p, export_end - timedelta(hours=2), end, timedelta(minutes=30))
    materialize_months(p, start.date().isoformat(), end.date().isoformat())

    got = defaultdict(list)
    for user_id, track_id, ended in query(p, "select user_id, track_id, ended_at from plays"):
        got[user_id].append((track_id, int(ended.timestamp())))
    for user_id in DEMO_USERS:
        truth = sorted(
            (x.item_id, int(x.ended_at.timestamp()))
            for x in world.plays(user_id)
            if x.kind == "track" and x.ms_played >= MIN_PLAY_MS
        )
        assert sorted(got[user_id]) == truth, user_id

    rows = query(p, "select user_id, date, minutes, estimated_minutes from daily_listening")
    minutes = {(u, d): (m, est) for u, d, m, est in rows}
    # Independently of the pipeline: a play an export holds counts its true ms_played; a play
    # only polling saw (recently-played has no ms_played) counts the documented estimate,
    # max(30 s, min(track length, time since the user's previous play stopped)).
    expected: dict[tuple, float] = defaultdict(float)
    estimated: dict[tuple, float] = defaultdict(float)
    # Per day: each track's (by key) and artist's [plays, ms], for the day's tops.
    by_track: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    by_artist: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for user_id in DEMO_USERS:
        tz = ZoneInfo(world.users[user_id].timezone)
        counted = [
            x for x in world.plays(user_id) if x.kind == "track" and x.ms_played >= MIN_PLAY_MS
        ]
        previous_end = None
        for x in counted:
            day = (user_id, x.started_at.astimezone(tz).date())
            ms = x.ms_played
            if x.ended_at >= export_end:
                gap = (x.ended_at - previous_end).total_seconds() * 1000 if previous_end else ms
                ms = max(MIN_PLAY_MS, min(world.tracks[x.item_id].duration_ms, gap))
                estimated[day] += ms / 60000
            expected[day] += ms / 60000
            previous_end = x.ended_at
            track = world.tracks[x.item_id]
            artist = world.artists[track.artist_ids[0]].name
            for tally, key in ((by_track, track_key(artist, track.name)), (by_artist, artist)):
                tally[day][key][0] += 1
                tally[day][key][1] += ms
    assert minutes.keys() == expected.keys()
    off = {k: (minutes[k], v) for k, v in expected.items() if abs(minutes[k][0] - v) > 1e-6}
    assert not off, f"daily minutes differ: {off}"
    assert {k: round(v[1], 6) for k, v in minutes.items() if v[1]} == {
        k: round(v, 6) for k, v in estimated.items()
    }

    # The day's top track and artist: most plays, then most time, then the first name.
    def top(tally: dict) -> tuple[str, int]:
        name, (plays, _) = min(tally.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        return name, plays

    tops = query(
        p,
        "select user_id, date, top_track_key, top_track_plays, top_artist_name, "
        "top_artist_plays, distinct_tracks, distinct_artists from daily_listening",
    )
    assert {(u, d): rest for u, d, *rest in tops} == {
        day: [*top(by_track[day]), *top(by_artist[day]), len(by_track[day]), len(by_artist[day])]
        for day in expected
    }
    podcast = query(p, "select count(*) from episode_plays where user_id = 'demo_podcast'")
    assert podcast[0][0] > 0


@pytest.mark.slow
def test_reimport_and_repoll_change_nothing(pipeline: Pipeline) -> None:
    p = pipeline
    _, end, _ = window(p)
    drop_export(p, "demo_heavy")
    assert p.materialize([export_import]).success
    poll_through(p, end - timedelta(hours=3), end, timedelta(hours=1))
    before, generation = p.current_files(), p.warehouse.lake.generation()

    drop_export(p, "demo_heavy")  # the same zip again
    result = p.materialize([export_import])
    assert result.success
    poll_through(p, end - timedelta(hours=3), end, timedelta(hours=1))  # the same window again
    assert p.current_files() == before
    assert p.warehouse.lake.generation() == generation  # not even a commit
    receipts = sorted((p.settings.inbox_dir / "demo_heavy" / "imported").iterdir())
    assert len(receipts) == 2  # a receipt for each, the second imported nothing
    assert "already_imported" in receipts[1].read_text()
    assert not list((p.settings.inbox_dir / "demo_heavy").glob("*.zip"))  # raw is the record


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def test_bad_inbox_items_are_refused_and_other_users_go_on(pipeline: Pipeline) -> None:
    p = pipeline
    good = json.dumps(
        [
            {
                "endTime": "2026-01-02 10:00",
                "artistName": "A",
                "trackName": "T",
                "msPlayed": 40000,
            }
        ]
    ).encode()
    bad = {
        "demo_skipper": ("truncated.json", good[: len(good) // 2]),
        "demo_tokyo": ("not_spotify.json", b'[{"foo": 1}]'),
        "demo_podcast": ("evil.zip", _zip({"../x.json": good})),
    }
    for user_id, (name, body) in bad.items():
        (p.settings.inbox_dir / user_id).mkdir(parents=True)
        (p.settings.inbox_dir / user_id / name).write_bytes(body)
    (p.settings.inbox_dir / "demo_light").mkdir(parents=True)
    (p.settings.inbox_dir / "demo_light" / "StreamingHistory_music_0.json").write_bytes(good)

    result = p.materialize([export_import])
    assert result.success
    imported = {key.split("/")[0] for key in p.warehouse.partitions(EXPORTED_PLAYS)}
    assert imported == {"demo_light"}
    for user_id in bad:
        failed = list((p.settings.inbox_dir / user_id / "failed").glob("*.error.txt"))
        assert len(failed) == 1 and failed[0].read_text().strip()
    # The raw copy is staged after the parse: a refused file never gets one.
    truncated = hashlib.sha256(bad["demo_skipper"][1]).hexdigest()
    assert not list(p.settings.raw_dir.rglob(f"{truncated}*"))
    assert list(p.settings.raw_dir.glob("exports/demo_light/*.json.gz"))
    metadata = result.asset_materializations_for_node("export_import")[0].metadata
    assert metadata["items"].value == {"failed": 3, "imported": 1}
    handles = {u.id: u.handle for u in p.registry.list()}
    assert all(handles[u] in metadata["report"].value for u in bad)
    assert not any(u in metadata["report"].value for u in bad)  # named by handle only


def test_a_backdated_import_refreshes_only_the_days_it_touched(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    monkeypatch.setattr("spotify_assets.lib.settings.get_settings", lambda: p.settings)
    # A year-old history: three plays on two days long before the world's window.
    rows = [
        {"endTime": "2025-03-03 10:00", "artistName": "A", "trackName": "T", "msPlayed": 40000},
        {"endTime": "2025-03-03 10:05", "artistName": "A", "trackName": "U", "msPlayed": 50000},
        {"endTime": "2025-03-09 23:59", "artistName": "B", "trackName": "V", "msPlayed": 90000},
    ]
    folder = p.settings.inbox_dir / "demo_light"
    folder.mkdir(parents=True)
    (folder / "StreamingHistory_music_0.json").write_text(json.dumps(rows))
    assert p.materialize([export_import]).success
    assert set(p.warehouse.lake.manifest.stale(STALE_SCOPE)) == {"2025-03-03", "2025-03-09"}

    context = dg.build_sensor_context(instance=p.instance)
    [request] = stale_days_sensor(context).run_requests
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
        "2025-03-01",
        "2025-03-01",
    )  # one month, one run: not one per day, and not the whole history
    assert request.tags[REFRESH_TAG]
    result = p.materialize(LISTENING, selection=HISTORY, tags=request.tags)
    assert result.success
    [plays_event] = [
        e for e in result.asset_materializations_for_node("plays") if e.partition == "2025-03-01"
    ]
    assert plays_event.metadata["days_rewritten"].value == 6
    assert plays_event.metadata["days"].value == (
        "2025-03-02 .. 2025-03-04, 2025-03-08 .. 2025-03-10"
    )
    assert plays_event.metadata["dagster/row_count"].value == 3  # the month's own rows
    assert settle(result.dagster_run, p.warehouse.lake.manifest) == 2
    assert p.warehouse.lake.manifest.stale(STALE_SCOPE) == {}
    assert stale_days_sensor(context).skip_reason  # nothing stale: nothing to run

    # Once a range run succeeded: the heatmap and today's tops, which read all of history.
    after = dg.build_run_status_sensor_context(
        sensor_name="stats_after_refresh_sensor",
        dagster_instance=p.instance,
        dagster_run=result.dagster_run,
        dagster_event=dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_SUCCESS.value, job_name="x"
        ),
    )
    stats = stats_after_refresh_sensor(after)
    assert sorted(r.job_name for r in stats) == ["listening_totals_job", "tops_from_plays_job"]
    counts = query(p, "select day, count(*) from plays group by day order by day")
    assert [(d.isoformat(), n) for d, n in counts] == [("2025-03-03", 2), ("2025-03-09", 1)]


def test_a_month_without_plays_is_materialized_and_empty(pipeline: Pipeline) -> None:
    p = pipeline
    result = materialize_months(p, "2019-01-01", "2019-02-01")
    events = result.asset_materializations_for_node("daily_listening")
    assert sorted(e.partition for e in events) == ["2019-01-01", "2019-02-01"]
    assert {e.metadata["dagster/row_count"].value for e in events} == {0}
    status = p.instance.get_status_by_partition(
        dg.AssetKey("daily_listening"),
        ["2019-01-01", "2019-02-01", "2019-03-01"],
        dg.MonthlyPartitionsDefinition(start_date="2008-10-01", end_offset=1),
    )
    assert status["2019-01-01"] == dg.AssetPartitionStatus.MATERIALIZED
    assert status["2019-03-01"] is None


@pytest.mark.slow
def test_a_stale_refresh_and_a_whole_month_give_the_same_files(pipeline: Pipeline) -> None:
    p = pipeline
    start, end, _ = window(p)
    world = p.emulator.state.world
    for user_id in ("demo_heavy", "demo_tokyo", "demo_podcast"):
        p.registry.set_timezone(user_id, world.users[user_id].timezone)
        drop_export(p, user_id)
    assert p.materialize([export_import]).success
    poll_through(p, end - timedelta(hours=3), end - timedelta(hours=1), timedelta(hours=1))
    first, last = start.date().isoformat(), end.date().isoformat()
    [incremental] = refresh_stale(p)
    assert p.warehouse.lake.manifest.stale(STALE_SCOPE) == {}
    after_stale = p.current_files()
    assert any(key[0] == "plays" for key in after_stale)
    rewritten = sum(
        e.metadata["days_rewritten"].value
        for e in incremental.asset_materializations_for_node("plays")
    )
    assert rewritten > 0
    materialize_months(p, first, last)  # every day of the months, recomputed
    assert p.current_files() == after_stale  # byte-identical (names are content hashes)

    # A poll's refresh rewrites only the days the poll changed (+/- 1), not the month.
    p.control("POST", "clock", json={"now": end.isoformat()})
    assert p.materialize([polled_plays]).success
    changed = p.warehouse.lake.manifest.stale(STALE_SCOPE)
    assert changed and len(changed) <= 2
    [poll_refresh] = refresh_stale(p)
    days = [
        e.metadata["days_rewritten"].value
        for e in poll_refresh.asset_materializations_for_node("plays")
    ]
    assert 0 < sum(days) <= 3 * len(changed)


def test_a_revoked_token_parks_only_that_user(pipeline: Pipeline) -> None:
    p = pipeline
    p.control("POST", "users/demo_tokyo/revoke")
    result = p.materialize([polled_plays])
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == USERS_CHECK and not check.passed
    tokyo = p.registry.require("demo_tokyo").handle
    assert tokyo in check.description and "demo_tokyo" not in check.description
    statuses = {u.id: u.status for u in p.registry.list()}
    assert statuses.pop("demo_tokyo") == "needs_reauth"
    assert set(statuses.values()) == {"active"}
    polled = {key.split("/")[0] for key in p.warehouse.partitions(POLLED_PLAYS)}
    assert "demo_tokyo" not in polled and len(polled) >= 3


@pytest.mark.slow
def test_forget_me_then_a_full_rebuild_leaves_no_row_of_that_user(pipeline: Pipeline) -> None:
    """`users remove` (issue 5) on a user with history everywhere, then every day rebuilt."""
    from spotify_assets.user_commands import run as users_command

    p = pipeline
    start, end, _ = window(p)
    for user_id in ("demo_light", "demo_heavy"):
        drop_export(p, user_id)
    assert p.materialize([export_import]).success
    poll_through(p, end - timedelta(hours=1), end, timedelta(hours=1))
    first, last = start.date().isoformat(), end.date().isoformat()
    materialize_months(p, first, last)

    def rows_of(user_id: str) -> int:
        lake = p.warehouse.lake
        return sum(
            pc.sum(pc.equal(lake.read(table).column("user_id"), user_id)).as_py() or 0
            for table in lake.tables()
            if lake.files(table) and "user_id" in lake.read(table).column_names
        )

    assert rows_of("demo_light") > 0
    heavy_before = rows_of("demo_heavy")
    assert users_command(["users", "remove", "demo_light", "--yes"], p.settings) == 0
    materialize_months(p, first, last)  # the full rebuild
    assert p.materialize([polled_plays]).success
    assert rows_of("demo_light") == 0
    assert rows_of("demo_heavy") == heavy_before
    raw = list(p.settings.raw_dir.glob("*/demo_light"))
    assert raw == []
    assert p.registry.get("demo_light") is None


def test_a_poll_that_was_outrun_is_flagged_as_possible_loss(pipeline: Pipeline) -> None:
    p = pipeline
    _, end, _ = window(p)
    p.control("POST", "clock", json={"now": (end - timedelta(hours=30)).isoformat()})
    first = p.materialize([polled_plays])
    metadata = first.asset_materializations_for_node("polled_plays")[0].metadata
    assert metadata["possible_loss"].value == []  # a first poll cannot know
    # 30 hours later a heavy listener has played far more than the 50 reachable plays.
    p.control("POST", "clock", json={"now": end.isoformat()})
    second = p.materialize([polled_plays])
    metadata = second.asset_materializations_for_node("polled_plays")[0].metadata
    flagged = metadata["possible_loss"].value  # handles: run metadata never names a user id
    assert p.registry.require("demo_heavy").handle in flagged
    assert p.registry.require("demo_light").handle not in flagged
    assert "**yes**" in metadata["users"].value


def test_inbox_sensor_scenarios(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.storage.dagster_run import DagsterRun

    from spotify_assets.defs.listening import imports
    from spotify_assets.defs.listening.sensors import RETRY_AFTER

    p = pipeline
    # The sensor reads the deployment's settings; point them at this test's data dir.
    monkeypatch.setattr("spotify_assets.lib.settings.get_settings", lambda: p.settings)
    context = dg.build_sensor_context(instance=p.instance)

    def last_import_run(status: dg.DagsterRunStatus, tags: dict, ended: datetime) -> None:
        run = DagsterRun(job_name=imports.import_job.name, tags=tags)
        p.instance.add_run(run)
        events = [dg.DagsterEventType.RUN_START]
        if status == dg.DagsterRunStatus.SUCCESS:
            events.append(dg.DagsterEventType.RUN_SUCCESS)
        elif status == dg.DagsterRunStatus.FAILURE:
            events.append(dg.DagsterEventType.RUN_FAILURE)
        for event in events:
            p.instance.handle_run_event(
                run.run_id,
                dg.DagsterEvent(event_type_value=event.value, job_name=run.job_name),
                update_timestamp=ended,
            )

    def said(result: dg.SensorResult) -> str:
        return result.skip_reason.skip_message if result.skip_reason else ""

    nothing = imports.inbox_export_sensor(context)
    assert not nothing.run_requests and said(nothing) == "inbox empty"
    drop_export(p, "demo_light")
    [request] = imports.inbox_export_sensor(context).run_requests
    assert "demo_light" not in json.dumps(request.tags)  # no listener in the run's tags
    now = datetime.now(UTC)
    # While an import runs, nothing more is asked.
    last_import_run(dg.DagsterRunStatus.STARTED, request.tags, now)
    assert said(imports.inbox_export_sensor(context)) == "an import is running"
    # The last run saw these very files and left them (failed, a full disk...): retry later.
    last_import_run(dg.DagsterRunStatus.FAILURE, request.tags, now)
    assert "retry later" in said(imports.inbox_export_sensor(context))
    last_import_run(dg.DagsterRunStatus.FAILURE, request.tags, now - 2 * RETRY_AFTER)
    assert imports.inbox_export_sensor(context).run_requests  # long enough: again
    # Files that changed since the last run are imported at once.
    last_import_run(dg.DagsterRunStatus.SUCCESS, {imports.INBOX_TAG: "another"}, now)
    assert imports.inbox_export_sensor(context).run_requests
    assert p.materialize([export_import]).success
    assert said(imports.inbox_export_sensor(context)) == "inbox empty"  # imported
