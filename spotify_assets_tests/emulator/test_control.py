"""The control API: users, ground truth, clock, mode and reset, as tests and benchmarks use it."""

from __future__ import annotations

import httpx

from spotify_assets.emulator.server import EmulatorHandle


def _get(emu: EmulatorHandle, path: str) -> httpx.Response:
    return httpx.get(f"{emu.base_url}/_emulator/{path}")


def _post(emu: EmulatorHandle, path: str, body: object) -> httpx.Response:
    return httpx.post(f"{emu.base_url}/_emulator/{path}", json=body)


def test_users_are_the_five_demo_users(emu: EmulatorHandle) -> None:
    users = _get(emu, "users").json()
    assert [u["id"] for u in users] == ["demo_heavy", "demo_skipper", "demo_tokyo",
                                        "demo_podcast", "demo_light"]
    tokyo = next(u for u in users if u["id"] == "demo_tokyo")
    assert tokyo["timezone"] == "Asia/Tokyo" and tokyo["habit"] == "tokyo"
    assert tokyo["followed_artist_ids"] == list(
        emu.state.world.users["demo_tokyo"].followed_artist_ids
    )


def test_truth_plays_and_top_match_the_world(emu: EmulatorHandle) -> None:
    plays = _get(emu, "truth/plays?user=demo_light").json()
    world_plays = emu.state.world.plays("demo_light")
    assert len(plays) == len(world_plays)
    assert plays[0]["item_id"] == world_plays[0].item_id
    assert plays[0]["ended_at"].endswith("Z") and plays[0]["ms_played"] == world_plays[0].ms_played
    top = _get(emu, "truth/top?user=demo_light&kind=artists&time_range=long_term").json()
    assert top["ids"] == emu.state.world.top("demo_light", "artists", "long_term")
    unknown = _get(emu, "truth/plays?user=nobody")
    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]
    assert _get(emu, "truth/top?user=demo_light&time_range=decade").status_code == 400


def test_truth_musicbrainz_maps_every_spotify_id(emu: EmulatorHandle) -> None:
    truth = _get(emu, "truth/musicbrainz").json()
    world = emu.state.world
    assert set(truth["tracks"]) == set(world.tracks)
    assert set(truth["albums"]) == set(world.albums) == set(truth["release_groups"])
    assert set(truth["artists"]) == set(world.artists)
    absent = [t for t, mbid in truth["tracks"].items() if mbid is None]
    assert absent and all(truth["match_kind"][t] == "absent" for t in absent)
    some = next(t for t, mbid in truth["tracks"].items() if mbid)
    assert truth["tracks"][some] == world.tracks[some].mb.mbid


def test_clock_can_be_fixed_advanced_and_released(emu: EmulatorHandle) -> None:
    assert _get(emu, "clock").json()["fixed"] is False
    fixed = _post(emu, "clock", {"now": "2026-01-02T03:04:05Z"}).json()
    assert fixed == {"now": "2026-01-02T03:04:05.000Z", "fixed": True}
    advanced = _post(emu, "clock", {"advance_s": 3600}).json()
    assert advanced["now"] == "2026-01-02T04:04:05.000Z"
    assert _post(emu, "clock", {"now": "2026-01-02T03:04:05"}).status_code == 400
    assert _post(emu, "clock", {"now": None}).json()["fixed"] is False


def test_mode_switch_and_reset(emu: EmulatorHandle) -> None:
    assert _get(emu, "mode").json() == {"extended_quota": False}
    assert _post(emu, "mode", {"extended_quota": True}).json() == {"extended_quota": True}
    assert _post(emu, "mode", {"extended_quota": "yes"}).status_code == 400
    _post(emu, "faults", {"path": "/v1/*", "kind": "quota"})
    _post(emu, "clock", {"now": "2026-01-02T03:04:05Z"})
    assert _post(emu, "reset", {}).status_code == 200
    assert _get(emu, "mode").json() == {"extended_quota": False}
    assert _get(emu, "faults").json() == {"rules": []}
    assert _get(emu, "clock").json()["fixed"] is False


def test_config_reports_the_world(emu: EmulatorHandle) -> None:
    config = _get(emu, "config").json()
    world = emu.state.world
    assert config["seed"] == world.config.seed and config["days"] == world.config.days
    assert config["end"].startswith(world.end.strftime("%Y-%m-%dT%H:%M:%S"))
