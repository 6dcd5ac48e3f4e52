"""The enrichment pass itself: back-off of not-found entities (injected clock), two processes
enriching at once against the emulator's real 1 request/s rule, and the recorded real
MusicBrainz XML (emulator test mode) through the enrichment asset.

All against the emulator over real HTTP, with the real SQLite cache; requests are counted by
the emulator, not by the code under test.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.bench.musicbrainz import world_plays, write_plays
from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.musicbrainz.assets import cache_path, musicbrainz_enrichment
from spotify_assets.defs.musicbrainz.cache import MbCache
from spotify_assets.defs.musicbrainz.enrich import Enricher
from spotify_assets.defs.musicbrainz.entities import Seen, SeenTrack, seen_entities
from spotify_assets.defs.musicbrainz.tables import MB_ARTISTS, MB_RECORDINGS
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.defs.tops.tables import TOP_ARTISTS
from spotify_assets.emulator.musicbrainz import mb_state
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.settings import Settings
from spotify_assets_tests.defs.musicbrainz.conftest import fast_client

REPO = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def mb_requests(emu: EmulatorHandle) -> int:
    return sum(n for k, n in emu.state.request_counts_snapshot().items() if "/ws/2/" in k)


def seen_track(emu: EmulatorHandle, track_id: str) -> SeenTrack:
    world = emu.state.world
    track = world.tracks[track_id]
    names = tuple(world.artists[a].name for a in track.artist_ids)
    return SeenTrack(track.id, track.name, track.artist_ids, names, None, track.duration_ms,
                     track.isrc, 1)


def test_a_not_found_entity_is_asked_again_only_after_1_then_7_then_30_days(
    mb_fast: EmulatorHandle, emu_settings: Settings
):
    world = mb_fast.state.world
    known_isrcs = {code for t in world.tracks.values() if t.mb for code in t.mb.isrcs}
    missing = next(t for _, t in sorted(world.tracks.items())
                   if t.mb is None and t.isrc not in known_isrcs)
    present = next(t for _, t in sorted(world.tracks.items())
                   if t.mb is not None and t.isrc in t.mb.isrcs)
    both = Seen(tracks={t.id: seen_track(mb_fast, t.id) for t in (missing, present)})
    clock = Clock(datetime(2026, 1, 1, 12, tzinfo=UTC))
    with MbCache(cache_path(emu_settings)) as cache:
        enricher = Enricher(cache, fast_client(emu_settings), clock)

        def run_at(moment: datetime, seen: Seen = both) -> int:
            clock.now = moment
            mb_fast.state.reset_request_counts()
            enricher.run(seen)
            return mb_requests(mb_fast)

        t0 = clock.now
        assert run_at(t0, Seen(tracks={present.id: both.tracks[present.id]})) == 1  # its ISRC
        asked_for_missing = run_at(t0)
        assert asked_for_missing == 2  # ISRC lookup (404), then a search: nothing acceptable
        decisions = cache.matches("track")
        assert decisions[present.id].mbid == present.mb.mbid
        assert decisions[missing.id].status == "unmatched"
        second = timedelta(seconds=1)
        schedule = [(t0 + timedelta(days=1), 2), (t0 + timedelta(days=8), 3),
                    (t0 + timedelta(days=38), 4), (t0 + timedelta(days=68), 5)]
        for due_at, attempts in schedule:
            assert run_at(due_at - second) == 0, due_at
            # Past the back-off: asked again over HTTP (not from the cache), the matched
            # track never.
            assert run_at(due_at) == asked_for_missing, due_at
            row = cache.matches("track")[missing.id]
            assert (row.status, row.attempts) == ("unmatched", attempts)
            assert cache.matches("track")[present.id].checked_at == t0.timestamp()


# --- two processes at once ---------------------------------------------------------------------

CHILD = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from spotify_assets.defs.musicbrainz.assets import cache_path
from spotify_assets.defs.musicbrainz.cache import MbCache
from spotify_assets.defs.musicbrainz.enrich import Enricher
from spotify_assets.defs.musicbrainz.entities import seen_entities
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.musicbrainz.client import MusicBrainzClient
from spotify_assets.lib.settings import load_settings

data_dir, port, agent, start_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
settings = load_settings(mode="emulator", data_dir=Path(data_dir), emulator_port=port,
                         musicbrainz_url=f"http://127.0.0.1:{port}",
                         musicbrainz_user_agent=agent)
seen = seen_entities(Warehouse(settings))
time.sleep(max(0.0, start_at - time.time()))
with MbCache(cache_path(settings)) as cache:
    report = Enricher(cache, MusicBrainzClient(settings), lambda: datetime.now(UTC)).run(seen)
print(report.requests, report.stopped)
"""


def test_two_processes_enriching_at_once_never_send_two_requests_within_a_second(
    emu: EmulatorHandle, emu_settings: Settings
):
    mbs = mb_state(emu.state)
    mbs.reset()  # the real rule: a second request within 1 s of the last is refused (503)
    world = emu.state.world
    artist = next(a for _, a in sorted(world.artists.items()) if a.mb is not None)
    tracks = [t for _, t in sorted(world.tracks.items())
              if t.artist_ids == (artist.id,) and t.mb is not None and t.isrc in t.mb.isrcs][:2]
    assert len(tracks) == 2
    frame = world_plays(world)
    write_plays(Warehouse(emu_settings), frame[frame["track_id"].isin([t.id for t in tracks])])
    agents = ("mb-rate-test-a/1.0 ( test )", "mb-rate-test-b/1.0 ( test )")
    start_at = time.time() + 3.0  # both start together, after their imports
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(emu_settings.data_dir), str(emu.port), agent,
             str(start_at)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for agent in agents
    ]
    try:
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-2000:]
        assert out.split()[-1] == "None", out  # neither stopped early
    # musicbrainzngs sends "app/version python-musicbrainzngs/0.7.1 ( contact )".
    apps = tuple(agent.split()[0] for agent in agents)
    ours = [a for a in mbs.arrivals if a.client[1].startswith(apps)]
    mbs.reset()
    assert {a.client[1].split()[0] for a in ours} == set(apps)  # both really asked
    assert all(a.status == 200 for a in ours), [(a.path, a.status) for a in ours]
    times = sorted(a.at for a in ours)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 4 and min(gaps) >= 0.999, gaps
    with MbCache(cache_path(emu_settings)) as cache:
        decided = cache.matches("track")
    assert {t.id: decided[t.id].mbid for t in tracks} == {t.id: t.mb.mbid for t in tracks}


# --- recorded real XML -------------------------------------------------------------------------

# From the recorded search-recording.xml / search-artist.xml (real MusicBrainz answers).
THIEF_OF_HEARTS = "cb4d4d70-930c-4d1a-a157-776de18be66a"
DYNAMO_GO = "952a4205-023d-4235-897c-6fdb6f58dfaa"


@pytest.fixture
def test_mode(mb_fast: EmulatorHandle):
    mb_fast.state.mb_test_mode = True
    try:
        yield mb_fast
    finally:
        mb_fast.state.mb_test_mode = False


def test_recorded_real_xml_goes_through_the_enrichment_asset(
    test_mode: EmulatorHandle, emu_settings: Settings
):
    warehouse = Warehouse(emu_settings)
    when = datetime(2026, 1, 2, 10, tzinfo=UTC)
    # An export-style play: track id and names, no ISRC or album (so: a recording search).
    play = {
        "user_id": "demo_heavy", "play_id": "p1", "day": when.date(),
        "started_at": when, "ended_at": when + timedelta(milliseconds=198_586),
        "listened_ms": 198_586, "track_id": "4thiefofhearts00000000",
        "track_key": "dynamo go\tthief of hearts", "track_name": "Thief of Hearts",
        "artist_name": "Dynamo Go", "artist_ids": ["0dynamogo0000000000000"],
        "duration_ms": 198_586,
    }
    frame = pd.DataFrame([{c: play.get(c) for c in PLAYS.column_names}])
    warehouse.write(PLAYS, frame, when.date().isoformat())
    # "Dynamo": several artists of that name in MusicBrainz, nothing to tell them apart.
    warehouse.write(TOP_ARTISTS, [{
        "user_id": "demo_heavy", "snapshot_date": date(2026, 1, 2), "time_range": "short_term",
        "rank": 1, "artist_id": "0dynamo000000000000000", "artist_name": "Dynamo",
        "fetched_at": when,
    }], "2026-01-02/demo_heavy")
    resources = build_resources(emu_settings)
    resources["musicbrainz"] = fast_client(emu_settings)
    result = dg.materialize([musicbrainz_enrichment], resources=resources,
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    recordings = {r["track_id"]: r for r in warehouse.scan(MB_RECORDINGS).to_pylist()}
    artists = {r["artist_id"]: r for r in warehouse.scan(MB_ARTISTS).to_pylist()}
    track = recordings["4thiefofhearts00000000"]
    assert (track["recording_mbid"], track["method"]) == (THIEF_OF_HEARTS, "search")
    assert artists["0dynamogo0000000000000"]["artist_mbid"] == DYNAMO_GO
    assert artists["0dynamo000000000000000"]["status"] == "unmatched"
    seen = seen_entities(warehouse)
    assert set(seen.artists) == set(artists)
