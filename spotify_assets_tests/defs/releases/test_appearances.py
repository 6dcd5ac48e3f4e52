"""album_appearances on both paths against the emulator: extended quota (Spotify's
/browse/new-releases, snapshotted per 6-hour slot, history kept) and development mode (403,
said once, MusicBrainz releases of the artists our users play, through the real MusicBrainz
client and the enrichment cache). Expectations come from the world's albums and MusicBrainz
truth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spotify_assets.bench.musicbrainz import world_plays, write_plays
from spotify_assets.defs.musicbrainz.albums import spotify_albums
from spotify_assets.defs.musicbrainz.assets import ENRICHMENT_OP, musicbrainz_enrichment
from spotify_assets.defs.releases.appearances import FRESH_DAYS, album_appearances
from spotify_assets.defs.releases.tables import ALBUM_APPEARANCES
from spotify_assets.emulator.musicbrainz import mb_state
from spotify_assets.lib import catalog
from spotify_assets_tests.defs.musicbrainz.conftest import fast_client
from spotify_assets_tests.defs.releases.conftest import Radar, metadata

NEW_RELEASES = "GET /v1/browse/new-releases"


def slot_config(slot: datetime) -> dict:
    return {"ops": {"album_appearances": {"config": {"slot": slot.isoformat()}}}}


def rows_of(radar: Radar, slot: datetime) -> list[dict]:
    rows = radar.warehouse.scan(ALBUM_APPEARANCES, partitions=[slot.strftime("%Y-%m-%dT%H")])
    return sorted(rows.to_pylist(), key=lambda r: r["position"])


def test_extended_quota_snapshots_spotifys_list_and_keeps_the_history(radar: Radar) -> None:
    radar.control("POST", "mode", {"extended_quota": True})
    world = radar.world
    slots = [datetime(2026, 3, 5, 6, tzinfo=UTC), datetime(2026, 3, 8, 12, tzinfo=UTC)]
    for slot in slots:
        radar.at(slot + timedelta(minutes=5))
        result = radar.materialize([album_appearances], run_config=slot_config(slot))
        assert result.success and metadata(result, "album_appearances")["source"] == (
            "spotify_new_releases")
        today = slot.date().isoformat()
        listed = sorted((a for a in world.albums.values() if a.release_date <= today),
                        key=lambda a: (tuple(-ord(c) for c in a.release_date), a.id))[:100]
        got = rows_of(radar, slot)
        assert [r["album_id"] for r in got] == [a.id for a in listed]
        assert [r["position"] for r in got] == list(range(1, len(listed) + 1))
        assert {r["seen_at"] for r in got} == {slot}
    assert radar.counts()[NEW_RELEASES] == 2 * 2  # two pages of 50 per snapshot
    radar.warehouse.publish()
    con = catalog.connect(radar.settings.warehouse_path)
    try:
        since = dict(con.execute(
            "select album_key, first_seen_at from album_listed_since").fetchall())
    finally:
        con.close()
    first, second = ({r["album_key"] for r in rows_of(radar, s)} for s in slots)
    assert first & second and second - first
    assert all(since[k] == slots[0] for k in first)
    assert all(since[k] == slots[1] for k in second - first)


@pytest.fixture
def enriched(radar: Radar) -> Radar:
    """The world's plays in the lake and MusicBrainz ids found for their artists (the real
    enrichment, with MusicBrainz's 1 request/s off on both sides)."""
    state = mb_state(radar.emulator.state)
    state.reset()
    state.min_interval_s = 0.0
    write_plays(radar.warehouse, world_plays(radar.world))
    radar.resources_override = {"musicbrainz": fast_client(radar.settings)}
    result = radar.materialize(
        [spotify_albums, musicbrainz_enrichment], overrides=radar.resources_override,
        run_config={"ops": {ENRICHMENT_OP: {"config": {"max_entities": 10_000}}}},
    )
    assert result.success
    yield radar
    state.reset()


def test_development_mode_lists_recent_musicbrainz_releases_of_our_artists(
    enriched: Radar,
) -> None:
    radar, world = enriched, enriched.world
    slot = datetime(2026, 3, 10, 6, tzinfo=UTC)
    radar.at(slot + timedelta(minutes=5))
    radar.reset_counts()

    result = radar.materialize([album_appearances], run_config=slot_config(slot),
                               overrides=radar.resources_override)

    meta = metadata(result, "album_appearances")
    assert meta["source"] == "musicbrainz_recent"
    assert "403" in meta["new_releases_endpoint"]
    assert radar.counts()[NEW_RELEASES] == 1  # asked once for the app, not once per user
    said = [e for e in radar.instance.all_logs(result.run_id)
            if e.user_message and "development mode" in e.user_message]
    assert len(said) == 1
    played = {world.tracks[p.item_id].artist_ids[0] for u in world.users
              for p in world.plays(u) if p.kind == "track" and p.ms_played >= 30_000}
    mbids = {world.artists[a].mb.mbid for a in played if world.artists[a].mb}
    since = (slot.date() - timedelta(days=FRESH_DAYS)).isoformat()
    truth = {r.mbid: r for r in world.mb_releases.values()
             if set(r.artist_mbids) & mbids and since <= r.date <= slot.date().isoformat()}
    got = rows_of(radar, slot)
    print(f"MB fallback: {len(mbids)} artists, {len(truth)} recent releases")
    assert truth and {r["release_mbid"] for r in got} == set(truth)
    assert meta["musicbrainz_requests"] == meta["artists_asked_about"] == len(mbids)
    searches = radar.counts()["GET /ws/2/release/"]
    assert searches == len(mbids)
    dates = [r["release_date"] for r in got]
    assert dates == sorted(dates, reverse=True)
    for row in got:
        assert row["album_key"] == f"mb:{truth[row['release_mbid']].release_group_mbid}"
    # A second snapshot the same day asks MusicBrainz nothing: the cache has the answers.
    later = slot + timedelta(hours=6)
    radar.at(later)
    radar.reset_counts()
    again = radar.materialize([album_appearances], run_config=slot_config(later),
                              overrides=radar.resources_override)
    assert metadata(again, "album_appearances")["musicbrainz_requests"] == 0
    assert not any("/ws/2/" in k for k in radar.counts())
    assert [r["release_mbid"] for r in rows_of(radar, later)] == [r["release_mbid"] for r in got]
