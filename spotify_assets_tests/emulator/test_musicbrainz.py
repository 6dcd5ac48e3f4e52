"""The emulator's MusicBrainz ws/2 over real HTTP, read back with musicbrainzngs's own parser.

Covers: ISRC lookup (200/400/404), barcode/recording/artist/release-group searches (format,
scores, decoys), lookups with tags and genres and track lists, User-Agent and 1 req/s rules,
request counting, test mode serving the recorded real files byte for byte, determinism.
Expected values come from the world's ground truth, never from the emulator's own index.
The client library (our wrapper) is tested in spotify_assets_tests/lib/musicbrainz/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from musicbrainzngs import mbxml

from spotify_assets.emulator.musicbrainz import MMD_NS, fixture_catalogue, mb_state
from spotify_assets.emulator.server import EmulatorHandle, running_emulator
from spotify_assets.emulator.world import WorldConfig
from spotify_assets.lib.musicbrainz.client import parse_genres

REALDATA = Path(__file__).parents[1] / "lib" / "musicbrainz" / "realdata"
UA = "spotify-assets-tests/1.0 ( tests@example.org )"


@pytest.fixture
def mb(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    """An HTTP client for /ws/2 with the emulator's per-client rate limit switched off."""
    state = mb_state(emu.state)
    state.reset()
    state.min_interval_s = 0.0
    with httpx.Client(base_url=emu.base_url, headers={"User-Agent": UA}, timeout=10) as client:
        yield client
    state.reset()


def _parse(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return parse_genres(response.content, mbxml.parse_message(response.content))


def _artist_names(world, mbids) -> list[str]:
    return [world.mb_artists[m].name for m in mbids]


def test_isrc_lookup_returns_the_recordings_with_credits_and_releases(mb, emu):
    world = emu.state.world
    track = next(t for t in world.tracks.values() if t.mb and t.isrc in t.mb.isrcs)
    message = _parse(mb.get(f"/ws/2/isrc/{track.isrc}", params={"inc": "artists releases isrcs"}))
    assert message["isrc"]["id"] == track.isrc
    recordings = {r["id"]: r for r in message["isrc"]["recording-list"]}
    truth = recordings[track.mb.mbid]
    assert truth["title"] == track.mb.title
    assert int(truth["length"]) == track.mb.length_ms
    assert track.isrc in truth["isrc-list"]
    credited = [c["artist"]["id"] for c in truth["artist-credit"] if isinstance(c, dict)]
    assert credited == list(track.mb.artist_mbids)
    assert truth["artist-credit-phrase"].startswith(world.mb_artists[credited[0]].name)
    assert sorted(r["id"] for r in truth["release-list"]) == sorted(track.mb.release_mbids)
    # Every recording listed really carries the ISRC in the world.
    assert all(track.isrc in world.mb_recordings[mbid].isrcs for mbid in recordings)


def test_isrc_errors_are_musicbrainz_shaped(mb):
    malformed = mb.get("/ws/2/isrc/not-an-isrc")
    assert malformed.status_code == 400
    assert b"<text>Invalid isrc.</text>" in malformed.content
    lower_case = mb.get("/ws/2/isrc/usrc17607839")  # the server's regex is case-sensitive
    assert lower_case.status_code == 400
    unknown = mb.get("/ws/2/isrc/ZZZZZ0000001")
    assert unknown.status_code == 404
    assert b"<text>Not Found</text>" in unknown.content
    bad_inc = mb.get("/ws/2/isrc/ZZZZZ0000001", params={"inc": "tags"})
    assert bad_inc.status_code == 400


def test_barcode_search_is_exact_and_carries_the_release_group(mb, emu):
    world = emu.state.world
    album = next(a for a in world.albums.values() if a.mb and a.mb.barcode
                 and a.mb.barcode != a.upc)  # stored without the UPC's leading zeros
    assert mb.get("/ws/2/release/", params={"query": f"barcode:({album.upc})"}).text.count(
        "<release ") == 0
    response = mb.get("/ws/2/release/", params={"query": f"barcode:({album.mb.barcode})"})
    hits = _parse(response)["release-list"]
    assert [h["id"] for h in hits] == [album.mb.mbid]
    assert hits[0]["barcode"] == album.mb.barcode
    assert hits[0]["release-group"]["id"] == album.mb.release_group_mbid
    assert hits[0]["ext:score"] == "100"
    assert hits[0]["medium-track-count"] == len(album.track_ids)


def test_search_documents_look_like_the_current_search_server(mb, emu):
    track = next(t for t in emu.state.world.tracks.values() if t.mb)
    response = mb.get("/ws/2/recording", params={"query": f"recording:({track.mb.title.lower()})"})
    body = response.content
    assert b"\n" not in body  # one compact line
    assert re.search(rb'<metadata created="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"', body)
    assert b'xmlns:ns2="http://musicbrainz.org/ns/ext#-2.0"' in body
    assert b' ns2:score="100"' in body
    assert f'xmlns="{MMD_NS}"'.encode() in body
    # Both the trailing-slash form musicbrainzngs sends and the bare form answer the same.
    slash = mb.get("/ws/2/recording/", params={"query": f"recording:({track.mb.title.lower()})"})
    assert _parse(slash)["recording-list"] == _parse(response)["recording-list"]


def test_recording_search_ranks_the_truth_first_among_decoys(mb, emu):
    world = emu.state.world
    decoy_titles = {d.title for d in world.mb_decoys if hasattr(d, "isrcs")}
    track = next(t for t in world.tracks.values()
                 if t.mb and t.mb.title == t.name and t.name in decoy_titles)
    artist = world.mb_artists[track.mb.artist_mbids[0]].name
    # Exactly what musicbrainzngs sends for search_recordings(recording=..., artist=...).
    query = f"recording:({track.name.lower()}) artist:({artist.lower()})"
    hits = _parse(mb.get("/ws/2/recording/", params={"query": query, "limit": "25"}))[
        "recording-list"]
    assert hits[0]["id"] == track.mb.mbid
    assert hits[0]["ext:score"] == "100"
    scores = [int(h["ext:score"]) for h in hits]
    assert scores == sorted(scores, reverse=True)
    decoys = {d.mbid for d in world.mb_decoys}
    assert any(h["id"] in decoys for h in hits), "the look-alikes must be among the hits"


def test_search_escaping_limit_and_offset(mb, emu):
    world = emu.state.world
    track = next(t for t in world.tracks.values() if t.mb and "(" not in t.mb.title)
    escaped = re.sub(r'([+\-&|!(){}\[\]^"~*?:\\/])', r"\\\1", track.mb.title.lower())
    first = _parse(mb.get("/ws/2/recording/", params={"query": f"recording:({escaped})",
                                                      "limit": "2"}))
    assert first["recording-list"][0]["title"].lower() == track.mb.title.lower()
    assert len(first["recording-list"]) <= 2
    page_two = _parse(mb.get("/ws/2/recording/", params={"query": f"recording:({escaped})",
                                                         "limit": "2", "offset": "2"}))
    assert first["recording-count"] == page_two["recording-count"]
    ids = [h["id"] for h in first["recording-list"] + page_two["recording-list"]]
    assert len(ids) == len(set(ids))
    assert mb.get("/ws/2/recording/", params={"query": ""}).status_code == 400


def test_artist_lookup_has_tags_and_genres(mb, emu):
    world = emu.state.world
    artist = next(a.mb for a in world.artists.values() if a.mb and a.mb.tags and a.mb.genres)
    message = _parse(mb.get(f"/ws/2/artist/{artist.mbid}", params={"inc": "tags genres"}))
    got = message["artist"]
    assert (got["id"], got["name"], got["sort-name"]) == (artist.mbid, artist.name,
                                                          artist.sort_name)
    assert {(t["name"], int(t["count"])) for t in got["tag-list"]} == set(artist.tags)
    assert {(g["name"], int(g["count"])) for g in got["genre-list"]} == set(artist.genres)
    assert all(len(g["id"]) == 36 for g in got["genre-list"])
    plain = _parse(mb.get(f"/ws/2/artist/{artist.mbid}"))["artist"]
    assert "tag-list" not in plain and "genre-list" not in plain


def test_release_and_release_group_lookups(mb, emu):
    world = emu.state.world
    album = next(a for a in world.albums.values() if a.mb and len(a.mb.recording_mbids) > 2)
    release = _parse(mb.get(f"/ws/2/release/{album.mb.mbid}",
                            params={"inc": "recordings artist-credits release-groups"}))["release"]
    assert release["title"] == album.mb.title
    assert release["release-group"]["id"] == album.mb.release_group_mbid
    tracks = release["medium-list"][0]["track-list"]
    assert [t["recording"]["id"] for t in tracks] == list(album.mb.recording_mbids)
    assert _artist_names(world, album.mb.artist_mbids)[0] == release["artist-credit-phrase"]
    group = _parse(mb.get(f"/ws/2/release-group/{album.mb.release_group_mbid}",
                          params={"inc": "releases"}))["release-group"]
    assert album.mb.mbid in [r["id"] for r in group["release-list"]]
    assert group["primary-type"] in ("Album", "Single", "EP")
    hits = _parse(mb.get("/ws/2/release-group/",
                         params={"query": f"releasegroup:({group['title'].lower()})"}))
    assert album.mb.release_group_mbid in [h["id"] for h in hits["release-group-list"]]


def test_lookup_errors(mb):
    assert mb.get("/ws/2/artist/not-a-uuid").status_code == 400
    assert mb.get("/ws/2/artist/00000000-0000-4000-8000-000000000000").status_code == 404
    assert mb.get("/ws/2/artist/00000000-0000-4000-8000-000000000000",
                  params={"inc": "bogus"}).status_code == 400


def test_user_agent_is_required(emu, mb):
    refused = httpx.get(f"{emu.base_url}/ws/2/isrc/ZZZZZ0000001", headers={"User-Agent": ""})
    assert refused.status_code == 403


def test_a_client_faster_than_one_request_per_second_gets_503(emu):
    state = mb_state(emu.state)
    state.reset()
    with httpx.Client(base_url=emu.base_url, headers={"User-Agent": UA + " fast"}) as client:
        first = client.get("/ws/2/isrc/ZZZZZ0000001")
        second = client.get("/ws/2/isrc/ZZZZZ0000001")
        other_agent = client.get("/ws/2/isrc/ZZZZZ0000001", headers={"User-Agent": UA + " b"})
        time.sleep(1.05)
        third = client.get("/ws/2/isrc/ZZZZZ0000001")
    assert (first.status_code, second.status_code, third.status_code) == (404, 503, 404)
    assert b"exceeding the allowable rate limit" in second.content
    assert other_agent.status_code == 404  # limits are per IP + User-Agent
    served = state.served_times()
    assert len(served) == 3
    state.reset()


def test_requests_are_counted_per_endpoint_template(mb, emu):
    artist = next(a.mb for a in emu.state.world.artists.values() if a.mb)
    mb.get("/ws/2/isrc/ZZZZZ0000001")
    mb.get("/ws/2/isrc/ZZZZZ0000002")
    mb.get("/ws/2/recording/", params={"query": "recording:(x)"})
    mb.get(f"/ws/2/artist/{artist.mbid}")
    counts = emu.state.request_counts_snapshot()
    assert counts["GET /ws/2/isrc/{isrc}"] == 2
    assert counts["GET /ws/2/recording/"] == 1
    assert counts["GET /ws/2/artist/{mbid}"] == 1


def test_switchable_faults_apply_to_musicbrainz_paths(mb, emu):
    rule = {"path": "/ws/2/isrc/*", "kind": "status", "status": 503, "times": 1}
    assert httpx.post(f"{emu.base_url}/_emulator/faults", json=rule).status_code < 300
    assert mb.get("/ws/2/isrc/ZZZZZ0000001").status_code == 503
    assert mb.get("/ws/2/isrc/ZZZZZ0000001").status_code == 404


def test_test_mode_serves_every_recorded_file_at_its_path(mb, emu):
    state = mb_state(emu.state)
    catalogue = fixture_catalogue(REALDATA)
    assert len(catalogue) == 23
    emu.state.mb_test_mode = True
    state.fixture_dir = REALDATA
    try:
        for fixture in catalogue:
            if fixture.entity_id is None:
                path, params = f"/ws/2/{fixture.entity}/", {"query": "anything"}
            else:
                path = f"/ws/2/{fixture.entity}/{fixture.entity_id}"
                params = {"inc": " ".join(sorted(fixture.incs))} if fixture.incs else {}
            response = mb.get(path, params=params)
            assert response.status_code == 200, (fixture.path, response.text)
            assert response.content == fixture.path.read_bytes(), fixture.path
        # An inc set no file was recorded with is not answered from the files.
        release = next(f for f in catalogue if f.entity == "release")
        assert mb.get(f"/ws/2/release/{release.entity_id}").status_code == 404
    finally:
        emu.state.mb_test_mode = False
        state.fixture_dir = None


def test_mb_test_mode_flag_of_create_app_serves_the_repository_copy():
    config = WorldConfig(seed=3, days=1, n_artists=10, n_tracks=20)
    with running_emulator(config, mb_test_mode=True) as handle:
        response = httpx.get(f"{handle.base_url}/ws/2/isrc/JPA600102460",
                             params={"inc": "releases+isrcs"}, headers={"User-Agent": UA})
    recorded = REALDATA / "xml-other" / "musicbrainz-server" / "isrc"
    assert response.content == (recorded / "JPA600102460-inc-releases+isrcs.xml").read_bytes()


def test_same_seed_gives_byte_identical_answers():
    config = WorldConfig(seed=7, days=2, n_artists=20, n_tracks=120)
    fixed = datetime(2026, 3, 1, 12, tzinfo=UTC)
    bodies = []
    for _ in range(2):
        with running_emulator(config) as handle:
            mb_state(handle.state).min_interval_s = 0.0
            handle.state.clock.set(fixed)
            world = handle.state.world
            track = next(t for t in world.tracks.values() if t.mb and t.mb.isrcs)
            urls = [
                f"/ws/2/isrc/{track.mb.isrcs[0]}?inc=artists+releases",
                f"/ws/2/recording/?query=recording:({track.name.lower()})&limit=10",
                f"/ws/2/artist/{track.mb.artist_mbids[0]}?inc=tags+genres",
            ]
            with httpx.Client(base_url=handle.base_url, headers={"User-Agent": UA}) as client:
                bodies.append([client.get(url).content for url in urls])
    assert bodies[0] == bodies[1]
