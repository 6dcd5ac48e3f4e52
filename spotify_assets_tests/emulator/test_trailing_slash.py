"""Spotify's Web API accepts a trailing slash (spotipy calls `GET /v1/me/`); MusicBrainz search
paths keep theirs."""

import httpx

from spotify_assets_tests.emulator.conftest import login


def test_web_api_paths_accept_a_trailing_slash(emu) -> None:
    token = login(emu, "demo_light", "user-read-recently-played")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    plain = httpx.get(f"{emu.base_url}/v1/me", headers=headers)
    slashed = httpx.get(f"{emu.base_url}/v1/me/", headers=headers)
    assert plain.status_code == slashed.status_code == 200
    assert slashed.json() == plain.json()
    counts = httpx.get(f"{emu.base_url}/_emulator/requests").json()["counts"]
    assert counts["GET /v1/me"] == 2  # counted under one endpoint, as the pipeline expects
