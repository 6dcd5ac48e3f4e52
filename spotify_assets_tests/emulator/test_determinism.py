"""Two emulators with the same seed answer the same request sequence with byte-identical bodies,
token strings (random by design) and the base URL (each has its own port) aside.
"""

from __future__ import annotations

import httpx

from spotify_assets.emulator.server import EmulatorHandle, running_emulator
from spotify_assets.emulator.world import WorldConfig
from spotify_assets_tests.emulator.conftest import FIXED_END, login

CONFIG = WorldConfig(seed=11, end=FIXED_END, days=5, n_artists=30, n_tracks=250)


def _session(handle: EmulatorHandle) -> list[bytes]:
    """A fixed sequence of calls; returns every body with tokens and base URL masked."""
    base = handle.base_url
    httpx.post(f"{base}/_emulator/clock", json={"now": "2026-03-01T12:00:00Z"}).raise_for_status()
    tokens = login(handle, "demo_heavy")
    masked_token = {k: ("<token>" if k.endswith("_token") else v) for k, v in tokens.items()}
    bodies = [repr(masked_token).encode()]
    client = httpx.Client(base_url=base,
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
    world = handle.state.world
    artist = world.users["demo_heavy"].followed_artist_ids[0]
    album = world.artist_album_ids[artist][0]
    paths = [
        "/v1/me",
        "/v1/me/player/recently-played?limit=50",
        "/v1/me/top/tracks?limit=50&time_range=short_term",
        "/v1/me/top/artists?limit=50&time_range=long_term",
        "/v1/me/following?type=artist&limit=50",
        f"/v1/artists/{artist}",
        f"/v1/artists/{artist}/albums?limit=10",
        f"/v1/albums/{album}",
        f"/v1/albums/{album}/tracks",
        f"/v1/tracks/{world.albums[album].track_ids[0]}",
        "/v1/browse/new-releases",
    ]
    for path in paths:
        bodies.append(client.get(path).content)
    created = client.post("/v1/me/playlists", json={"name": "Same", "public": False})
    bodies.append(created.content)
    playlist = created.json()["id"]
    uri = f"spotify:track:{world.albums[album].track_ids[0]}"
    bodies.append(client.post(f"/v1/playlists/{playlist}/items", json={"uris": [uri]}).content)
    bodies.append(client.get(f"/v1/playlists/{playlist}/items").content)
    client.close()
    for control in ("users", "truth/plays?user=demo_podcast", "truth/musicbrainz",
                    "truth/top?user=demo_tokyo&kind=artists&time_range=short_term",
                    "exports/demo_skipper", "exports/demo_skipper.zip", "requests"):
        bodies.append(httpx.get(f"{base}/_emulator/{control}").content)
    return [b.replace(base.encode(), b"<base>") for b in bodies]


def test_same_seed_same_bytes() -> None:
    with running_emulator(CONFIG) as first, running_emulator(CONFIG) as second:
        assert first.port != second.port
        one, two = _session(first), _session(second)
    assert len(one) == len(two)
    for index, (left, right) in enumerate(zip(one, two, strict=True)):
        assert left == right, f"body {index} differs"


def test_another_seed_gives_other_bodies() -> None:
    other = WorldConfig(seed=12, end=FIXED_END, days=5, n_artists=30, n_tracks=250)
    with running_emulator(CONFIG) as first, running_emulator(other) as second:
        one, two = _session(first), _session(second)
    assert one[2] != two[2]  # recently played
