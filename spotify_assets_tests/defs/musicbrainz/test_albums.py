"""`spotify_albums` against the emulator: each album once, with any user who can still log in;
an album Spotify does not know is kept as not_found so it is never asked again."""

import dagster as dg
import httpx
import pandas as pd

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.musicbrainz.albums import spotify_albums
from spotify_assets.defs.musicbrainz.tables import SPOTIFY_ALBUMS
from spotify_assets.lib.orchestrate import QUIET
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.defs.musicbrainz.conftest import USER, Enrichment
from spotify_assets_tests.defs.replayed import lose_and_replay

UNKNOWN_ALBUM = "0nosuchalbum0000000000"


def test_albums_are_fetched_once_with_a_user_who_can_still_log_in(enrichment: Enrichment):
    e = enrichment
    registry = UserRegistry(e.settings)
    login(e.settings, registry, emulator_user="demo_light", open_browser=False,
          out=lambda _: None)
    httpx.post(f"{e.emulator.base_url}/_emulator/users/{USER}/revoke").raise_for_status()
    first = e.warehouse.scan(PLAYS).to_pandas().iloc[[0]].copy()
    first["play_id"], first["track_id"], first["album_id"] = "x1", "0sometrack000000000000", \
        UNKNOWN_ALBUM
    e.warehouse.write(PLAYS, pd.concat([first]), "2000-01-01")
    e.emulator.state.reset_request_counts()

    assert e.materialize([spotify_albums]).success
    albums = {r["album_id"]: r for r in e.warehouse.scan(SPOTIFY_ALBUMS).to_pylist()}
    world_albums = {t.album_id for t in e.world.tracks.values()} & set(albums)
    assert albums[UNKNOWN_ALBUM]["status"] == "not_found"
    assert len(world_albums) == len(albums) - 1
    for album_id in world_albums:
        truth = e.world.albums[album_id]
        row = albums[album_id]
        assert (row["status"], row["upc"], row["total_tracks"]) == (
            "ok", truth.upc, len(truth.track_ids))
    # Every album once, all through demo_light: the revoked user asked nothing.
    assert e.album_requests() == len(albums)
    assert registry.get(USER).status == "needs_reauth"

    e.emulator.state.reset_request_counts()
    assert e.materialize([spotify_albums]).success
    assert e.album_requests() == 0

    # Rebuild from raw: the albums come back from their bodies, the 404 from the receipt.
    assert lose_and_replay(e.settings, ["spotify_albums"]).receipts_replayed == 1


def test_albums_fetched_over_several_runs_come_back_from_their_receipts(enrichment: Enrichment):
    """Three runs of at most 7 albums, then the rest, each adding to what the runs before wrote;
    losing the table and replaying the receipts in order gives the same bytes."""
    e = enrichment
    config = {**QUIET, "ops": {"spotify_albums": {"config": {"max_albums": 7}}}}
    for _ in range(3):
        assert dg.materialize([spotify_albums], resources=e.resources, instance=e.instance,
                              run_config=config).success
    assert e.warehouse.scan(SPOTIFY_ALBUMS).num_rows == 21
    assert e.materialize([spotify_albums]).success
    rows = e.warehouse.scan(SPOTIFY_ALBUMS).to_pylist()
    heard = {r["album_id"] for r in e.warehouse.scan(PLAYS).to_pylist() if r["album_id"]}
    assert {r["album_id"] for r in rows} == heard and len(heard) > 21
    assert len({r["fetched_at"] for r in rows}) > 1  # each album has its own moment

    assert lose_and_replay(e.settings, ["spotify_albums"]).receipts_replayed == 4
