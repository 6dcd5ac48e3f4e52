"""MusicBrainzClient against the running emulator (real HTTP through musicbrainzngs).

Covers: every recorded real XML file served in test mode parses through our client exactly as
`mbxml.parse_message` parses the file; world entities (ISRC, barcode variants in one request,
searches, lookups with tags and genres, 404 -> None/[]); 503/500/429 retried with skipped
sleeps then success, or MusicBrainzUnavailable naming the path; socket timeouts; settings
errors; musicbrainzngs's module state left as it was. The real-time limiter is in
test_ratelimit.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import musicbrainzngs
import pytest
from musicbrainzngs import mbxml
from musicbrainzngs import musicbrainz as mb_module

from spotify_assets.emulator.musicbrainz import fixture_catalogue, mb_state
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.musicbrainz.client import (
    MusicBrainzClient,
    MusicBrainzConfigError,
    MusicBrainzUnavailable,
    parse_base_url,
    parse_user_agent,
)
from spotify_assets.lib.settings import Settings

REALDATA = Path(__file__).parent / "realdata"
# Which search field to use for each recorded search file (any value will do in test mode).
SEARCH_FIELD = {"artist": "artist", "label": "label", "recording": "recording",
                "release": "release", "release-group": "releasegroup", "work": "work"}


@pytest.fixture
def fast_emu(emu: EmulatorHandle) -> Iterator[EmulatorHandle]:
    """The emulator without its 1 req/s refusal (our client runs with the limiter at 0 here)."""
    state = mb_state(emu.state)
    state.reset()
    state.min_interval_s = 0.0
    yield emu
    state.reset()


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def client(emu_settings: Settings, fast_emu: EmulatorHandle, sleeps, tmp_path) -> MusicBrainzClient:
    return MusicBrainzClient(emu_settings, sleep=sleeps, lock_path=tmp_path / "mb.lock",
                             min_interval_s=0.0)


def _count(handle: EmulatorHandle, template: str) -> int:
    return handle.state.request_counts_snapshot().get(template, 0)


def _set_fault(handle: EmulatorHandle, **rule) -> None:
    response = httpx.post(f"{handle.base_url}/_emulator/faults", json=rule)
    assert response.status_code < 300, response.text


# --- recorded real responses ---------------------------------------------------------------------


@pytest.fixture
def test_mode(fast_emu: EmulatorHandle) -> Iterator[EmulatorHandle]:
    fast_emu.state.mb_test_mode = True
    mb_state(fast_emu.state).fixture_dir = REALDATA
    yield fast_emu
    fast_emu.state.mb_test_mode = False
    mb_state(fast_emu.state).fixture_dir = None


@pytest.mark.parametrize("fixture", fixture_catalogue(REALDATA), ids=lambda f: f.path.name)
def test_recorded_file_parses_through_the_client_like_musicbrainzngs(client, test_mode, fixture):
    expected = mbxml.parse_message(fixture.path.read_bytes())
    if fixture.entity_id is None:
        field = SEARCH_FIELD[fixture.entity]
        got = client.search_message(fixture.entity, limit=25, **{field: "anything"})
    else:
        got = client.lookup_message(fixture.entity, fixture.entity_id, sorted(fixture.incs))
    assert got == expected


def test_recorded_responses_through_the_typed_methods(client, test_mode):
    isrc = client.recordings_by_isrc("JPA600102460", includes=("releases", "isrcs"))
    assert [r["id"] for r in isrc] == ["487cac92-eed5-4efa-8563-c9a818079b9a"]
    release = client.release("8eb2b179-643d-3507-b64c-29fcc6745156", includes=("recordings",))
    assert release["barcode"] == "093624966524"
    assert release["title"] == "Sea of Cowards"
    group = client.release_group("f52bc6a1-c848-49e6-85de-f8f53459a624", includes=())
    assert group["secondary-type-list"] == ["Soundtrack"]
    hits = client.search_artists("Dynamo Go", limit=25)
    assert hits[0]["name"] == "Dynamo Go" and hits[0]["ext:score"] == "100"


# --- the emulator world --------------------------------------------------------------------------


def test_isrc_lookup_finds_the_truth_recording_with_credits(client, fast_emu):
    world = fast_emu.state.world
    track = next(t for t in world.tracks.values() if t.mb and t.isrc in t.mb.isrcs)
    recordings = client.recordings_by_isrc(track.isrc.lower())  # normalised before sending
    assert track.mb.mbid in [r["id"] for r in recordings]
    truth = next(r for r in recordings if r["id"] == track.mb.mbid)
    assert [c["artist"]["id"] for c in truth["artist-credit"] if isinstance(c, dict)] == list(
        track.mb.artist_mbids)
    assert {r["id"] for r in truth["release-list"]} == set(track.mb.release_mbids)


def test_not_found_and_malformed_give_empty_results_not_errors(client, fast_emu):
    assert client.recordings_by_isrc("ZZZZZ0000001") == []
    assert client.artist("00000000-0000-4000-8000-000000000000") is None
    assert client.release_group("00000000-0000-4000-8000-000000000000") is None
    before = _count(fast_emu, "GET /ws/2/isrc/{isrc}")
    assert client.recordings_by_isrc("not an isrc") == []
    assert client.recordings_by_isrc("") == []
    assert _count(fast_emu, "GET /ws/2/isrc/{isrc}") == before  # no request for those


def test_barcode_search_tries_every_variant_in_one_request(client, fast_emu):
    world = fast_emu.state.world
    album = next(a for a in world.albums.values()
                 if a.mb and a.mb.barcode and a.mb.barcode != a.upc)
    assert album.upc.startswith("0")  # MusicBrainz stores it without the leading zero
    before = _count(fast_emu, "GET /ws/2/release/")
    releases = client.search_releases_by_barcode(album.upc)
    assert [r["id"] for r in releases] == [album.mb.mbid]
    assert releases[0]["release-group"]["id"] == album.mb.release_group_mbid
    assert _count(fast_emu, "GET /ws/2/release/") == before + 1


def test_searches_return_scored_hits(client, fast_emu):
    world = fast_emu.state.world
    track = next(t for t in world.tracks.values() if t.mb and t.mb.title == t.name)
    artist = world.mb_artists[track.mb.artist_mbids[0]]
    recordings = client.search_recordings(track.name, artist.name, limit=5)
    assert recordings[0]["id"] == track.mb.mbid and recordings[0]["ext:score"] == "100"
    assert len(recordings) <= 5
    artists = client.search_artists(artist.name)
    assert artist.mbid in [a["id"] for a in artists]
    album = next(a for a in world.albums.values() if a.mb)
    releases = client.search_releases(album.mb.title, world.mb_artists[
        album.mb.artist_mbids[0]].name)
    assert album.mb.mbid in [r["id"] for r in releases]
    groups = client.search_release_groups(album.mb.title, "")
    assert album.mb.release_group_mbid in [g["id"] for g in groups]


def test_lookups_bring_tags_and_genres(client, fast_emu):
    world = fast_emu.state.world
    artist = next(a.mb for a in world.artists.values() if a.mb and a.mb.genres)
    got = client.artist(artist.mbid)
    assert {(t["name"], int(t["count"])) for t in got["tag-list"]} == set(artist.tags)
    assert {(g["name"], int(g["count"])) for g in got["genre-list"]} == set(artist.genres)
    track = next(t for t in world.tracks.values() if t.mb)
    recording = client.recording(track.mb.mbid)
    assert recording["title"] == track.mb.title
    album = next(a for a in world.albums.values() if a.mb)
    release = client.release(album.mb.mbid)
    assert release["release-group"]["id"] == album.mb.release_group_mbid


def _library_state() -> tuple:
    return (mb_module.hostname, mb_module.https, mb_module._useragent, mb_module.parser_fun,
            mb_module.do_rate_limit, mb_module._safe_read,
            list(mb_module.VALID_INCLUDES["artist"]))


def test_musicbrainzngs_module_state_is_left_as_it_was(client, fast_emu):
    saved = _library_state()
    client.recordings_by_isrc("ZZZZZ0000001")
    artist = next(a.mb for a in fast_emu.state.world.artists.values() if a.mb)
    client.artist(artist.mbid)
    assert _library_state() == saved
    with pytest.raises(musicbrainzngs.InvalidIncludeError):
        musicbrainzngs.get_artist_by_id(artist.mbid, includes=["genres"])  # still 0.7.1 rules


# --- failures and retries ------------------------------------------------------------------------


def test_503_is_retried_with_backoff_then_succeeds(client, fast_emu, sleeps):
    track = next(t for t in fast_emu.state.world.tracks.values() if t.mb and t.mb.isrcs)
    _set_fault(fast_emu, path="/ws/2/isrc/*", kind="status", status=503, times=2)
    recordings = client.recordings_by_isrc(track.mb.isrcs[0])
    assert track.mb.mbid in [r["id"] for r in recordings]
    assert _count(fast_emu, "GET /ws/2/isrc/{isrc}") == 3
    # Exponential backoff (2 s, 4 s, plus up to 25% jitter), through the injected sleep.
    assert len(sleeps.calls) == 2
    assert 2.0 <= sleeps.calls[0] <= 2.5 and 4.0 <= sleeps.calls[1] <= 5.0


def test_500_and_429_retry_after_are_retried(client, fast_emu, sleeps):
    _set_fault(fast_emu, path="/ws/2/artist/*", kind="status", status=500, times=1)
    _set_fault(fast_emu, path="/ws/2/artist/*", kind="rate_limit", retry_after=7, times=1)
    artist = next(a.mb for a in fast_emu.state.world.artists.values() if a.mb)
    assert client.artist(artist.mbid)["id"] == artist.mbid
    assert len(sleeps.calls) == 2
    assert max(sleeps.calls) >= 7.0  # Retry-After honoured over the shorter backoff


def test_persistent_503_raises_unavailable_naming_the_path(client, fast_emu, sleeps):
    _set_fault(fast_emu, path="/ws/2/recording/*", kind="status", status=503)
    with pytest.raises(MusicBrainzUnavailable) as caught:
        client.search_recordings("Any Title", "Any Artist")
    assert caught.value.path == "/ws/2/recording/"
    assert "/ws/2/recording/" in str(caught.value) and "503" in str(caught.value)
    assert _count(fast_emu, "GET /ws/2/recording/") == 6  # max_attempts, then give up
    assert len(sleeps.calls) == 5


def test_an_unreadable_body_is_retried(client, fast_emu, sleeps):
    _set_fault(fast_emu, path="/ws/2/isrc/*", kind="malformed", times=1)
    track = next(t for t in fast_emu.state.world.tracks.values() if t.mb and t.mb.isrcs)
    assert track.mb.mbid in [r["id"] for r in client.recordings_by_isrc(track.mb.isrcs[0])]
    assert len(sleeps.calls) == 1


def test_permanent_http_errors_are_not_retried(client, fast_emu, sleeps):
    _set_fault(fast_emu, path="/ws/2/artist/*", kind="status", status=403)
    with pytest.raises(MusicBrainzUnavailable, match="HTTP 403"):
        client.artist("00000000-0000-4000-8000-000000000000")
    assert _count(fast_emu, "GET /ws/2/artist/{mbid}") == 1
    assert sleeps.calls == []


def test_a_hung_server_times_out_and_is_retried(emu_settings, fast_emu, sleeps, tmp_path):
    settings = emu_settings.model_copy(update={"http_timeout_s": 0.3})
    client = MusicBrainzClient(settings, sleep=sleeps, lock_path=tmp_path / "mb.lock",
                               min_interval_s=0.0)
    _set_fault(fast_emu, path="/ws/2/isrc/*", kind="slow", delay_s=1, times=1)
    assert client.recordings_by_isrc("ZZZZZ0000001") == []
    assert len(sleeps.calls) == 1  # one timeout, one backoff, then the 404


def test_unreachable_server_raises_unavailable(emu_settings, sleeps, tmp_path):
    settings = emu_settings.model_copy(update={"musicbrainz_url": "http://127.0.0.1:9"})
    client = MusicBrainzClient(settings, sleep=sleeps, lock_path=tmp_path / "mb.lock",
                               min_interval_s=0.0, max_attempts=2)
    with pytest.raises(MusicBrainzUnavailable, match="/ws/2/isrc/ZZZZZ0000001"):
        client.recordings_by_isrc("ZZZZZ0000001")


def test_every_attempt_goes_through_the_shared_limiter(emu_settings, fast_emu, sleeps, tmp_path):
    # Production interval, skipped sleeps: each attempt (retries too) waits for a slot.
    client = MusicBrainzClient(emu_settings, sleep=sleeps, lock_path=tmp_path / "mb.lock")
    _set_fault(fast_emu, path="/ws/2/isrc/*", kind="status", status=503, times=1)
    client.recordings_by_isrc("ZZZZZ0000001")
    client.recordings_by_isrc("ZZZZZ0000002")
    limiter_waits = [s for s in sleeps.calls if 0.9 <= s <= 1.0]
    assert len(limiter_waits) == 2  # before the retry and before the second call
    assert (tmp_path / "mb.lock").exists()


# --- configuration -------------------------------------------------------------------------------


def test_user_agent_and_url_parsing():
    assert parse_user_agent("spotify_assets/0.1 ( ops@example.org )") == (
        "spotify_assets", "0.1", "ops@example.org")
    assert parse_user_agent("app/2.0") == ("app", "2.0", None)
    with pytest.raises(MusicBrainzConfigError, match="MUSICBRAINZ_USER_AGENT"):
        parse_user_agent("just-a-name")
    assert parse_base_url("https://musicbrainz.org") == ("musicbrainz.org", True)
    assert parse_base_url("http://127.0.0.1:8765") == ("127.0.0.1:8765", False)
    with pytest.raises(MusicBrainzConfigError, match="MUSICBRAINZ_URL"):
        parse_base_url("https://example.org/mirror/")


def test_client_sends_the_configured_user_agent(client, fast_emu):
    client.recordings_by_isrc("ZZZZZ0000001")
    arrival = mb_state(fast_emu.state).arrivals[-1]
    assert arrival.client[1] == (
        "spotify_assets-demo/0.1 python-musicbrainzngs/0.7.1 ( emulator )")
