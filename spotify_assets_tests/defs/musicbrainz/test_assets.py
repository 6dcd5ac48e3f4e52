"""The MusicBrainz assets end to end: real Dagster runs, real HTTP to the emulator, real lake.

Scored against the emulator world's ground truth, which only the test holds: precision of
accepted matches >= 0.99 and recall >= 0.95 over the entities MusicBrainz has (issue 7), at
<= 1.05 MusicBrainz requests per entity (Spotify album lookups are counted apart: exactly one
per album), and a re-run asks nothing of either. Also: runs take bounded batches and the sensor
keeps asking for runs until nothing is due; `artist_genres` carries the world's genres and
`tops_from_plays` ranks genres with it. Back-off, the two-process rate and the recorded real
XML are in test_enrich.py.
"""

from __future__ import annotations

import math
from collections import Counter

import dagster as dg

from spotify_assets.defs.musicbrainz.sensors import musicbrainz_job, musicbrainz_sensor
from spotify_assets.defs.musicbrainz.tables import (
    MB_ARTISTS,
    MB_RECORDINGS,
    MB_RELEASES,
    SPOTIFY_ALBUMS,
)
from spotify_assets.defs.tops.from_plays import tops_from_plays
from spotify_assets.defs.tops.tables import TOPS_FROM_PLAYS
from spotify_assets.lib import catalog
from spotify_assets.lib.lake import TableSpec
from spotify_assets_tests.defs.musicbrainz.conftest import USER, Enrichment

KINDS = {
    "track": (MB_RECORDINGS, "track_id", "recording_mbid"),
    "album": (MB_RELEASES, "album_id", "release_mbid"),
    "artist": (MB_ARTISTS, "artist_id", "artist_mbid"),
}


def touched(e: Enrichment) -> dict[str, set[str]]:
    """Spotify ids the world's counted track plays touch, from the world (not the lake)."""
    world = e.world
    tracks = {
        p.item_id for uid in world.users for p in world.plays(uid)
        if p.kind == "track" and p.ms_played >= 30_000
    }
    return {
        "track": tracks,
        "album": {world.tracks[t].album_id for t in tracks},
        "artist": {a for t in tracks for a in world.tracks[t].artist_ids},
    }


def truth(e: Enrichment, kind: str, spotify_id: str) -> str | None:
    entities = {"track": e.world.tracks, "album": e.world.albums, "artist": e.world.artists}
    mb = entities[kind][spotify_id].mb
    return mb.mbid if mb else None


def rows(e: Enrichment, spec: TableSpec) -> list[dict]:
    return e.warehouse.scan(spec).to_pylist()


def test_matches_agree_with_the_truth_within_the_request_budget_and_a_rerun_asks_nothing(
    enrichment: Enrichment,
):
    e = enrichment
    assert e.materialize().success
    mb_requests, album_requests = e.mb_requests(), e.album_requests()
    entities = touched(e)
    for kind, (spec, key, column) in KINDS.items():
        decided = {r[key]: r for r in rows(e, spec)}
        assert set(decided) == entities[kind], kind  # every entity decided, nothing else
        present = {i for i in entities[kind] if truth(e, kind, i)}
        accepted = {i: r[column] for i, r in decided.items() if r["status"] == "matched"}
        correct = {i for i, mbid in accepted.items() if mbid == truth(e, kind, i)}
        assert present and accepted, kind
        assert len(correct) / len(accepted) >= 0.99, (kind, len(correct), len(accepted))
        assert len(correct) / len(present) >= 0.95, (kind, len(correct), len(present))
        for row in decided.values():
            if row["status"] == "matched":
                assert row["method"] in ("isrc", "barcode", "search") and row["matched_at"]
                assert row["retry_after"] is None
            else:
                # Unmatched is recorded, with its back-off: asked again in a day, not before.
                assert row[column] is None and row["attempts"] == 1
                assert (row["retry_after"] - row["checked_at"]).total_seconds() == 86_400
    n_entities = sum(len(ids) for ids in entities.values())
    assert mb_requests / n_entities <= 1.05, (mb_requests, n_entities)
    assert album_requests == len(entities["album"])  # Spotify: one lookup per album
    assert {r["album_id"] for r in rows(e, SPOTIFY_ALBUMS)} == entities["album"]

    e.emulator.state.reset_request_counts()
    assert e.materialize().success
    assert e.mb_requests() == 0 and e.album_requests() == 0


def test_artist_genres_holds_the_worlds_genres_and_tops_rank_genres_with_it(
    enrichment: Enrichment,
):
    e = enrichment
    assert e.materialize().success
    con = catalog.connect(e.settings.warehouse_path)
    try:
        found: dict[str, set[str]] = {}
        for artist_id, genre, count, rank in con.execute(
            "select artist_id, genre, count, rank from musicbrainz.artist_genres"
        ).fetchall():
            found.setdefault(artist_id, set()).add(genre)
            assert count > 0 and rank >= 1
    finally:
        con.close()
    matched = [r for r in rows(e, MB_ARTISTS) if r["status"] == "matched"]
    assert matched and found
    for row in matched:
        mb = e.world.artists[row["artist_id"]].mb
        # The world's artists carry genres, or nothing at all (then no row).
        assert found.get(row["artist_id"], set()) == {g for g, _ in mb.genres}, row["name"]

    # As of the world's last day: every play of its window counts for all_time.
    day = e.world.config.end.date().isoformat()
    result = dg.materialize([tops_from_plays], partition_key=day, resources=e.resources,
                            instance=e.instance)
    assert result.success
    tops = e.warehouse.scan(
        TOPS_FROM_PLAYS,
        "user_id = ? and time_range = 'all_time' and entity = 'genre' and metric = 'plays'",
        [USER],
    ).to_pylist()
    # Reference from the world alone: each counted play of the user counts once for every MB
    # genre of its primary artist.
    reference: Counter[str] = Counter()
    for play in e.world.plays(USER):
        if play.kind == "track" and play.ms_played >= 30_000:
            artist = e.world.artists[e.world.tracks[play.item_id].artist_ids[0]]
            for genre, _ in artist.mb.genres if artist.mb else ():
                reference[genre] += 1
    assert reference and len(reference) <= 50
    assert {r["name"]: r["plays"] for r in tops} == dict(reference)


def _decisions(e: Enrichment) -> int:
    return sum(len(rows(e, spec)) for spec, _, _ in KINDS.values())


def test_runs_take_bounded_batches_and_the_sensor_asks_for_runs_until_nothing_is_due(
    enrichment: Enrichment,
):
    e = enrichment
    batch = 150
    n_entities = sum(len(ids) for ids in touched(e).values())
    assert n_entities > 2 * batch

    def tick(cursor: str | None) -> dg.SensorResult | dg.SkipReason:
        context = dg.build_sensor_context(instance=e.instance, cursor=cursor,
                                          resources={"settings": e.settings})
        return musicbrainz_sensor(context)

    cursor, runs = None, 0
    while True:
        result = tick(cursor)
        if isinstance(result, dg.SkipReason):
            break
        assert len(result.run_requests) == 1
        cursor = result.cursor
        # Without a run in between there is no progress: the sensor does not ask again.
        stalled = tick(cursor)
        assert isinstance(stalled, dg.SkipReason) and "no progress" in stalled.skip_message
        before = _decisions(e)
        assert e.materialize(max_entities=batch).success
        runs += 1
        assert _decisions(e) - before == min(batch, n_entities - before)
        if runs == 1:
            # Most heard first: the most played track is in the first batch.
            plays = Counter(
                p.item_id for uid in e.world.users for p in e.world.plays(uid)
                if p.kind == "track" and p.ms_played >= 30_000
            )
            top_track = min(plays, key=lambda t: (-plays[t], t))
            assert top_track in {r["track_id"] for r in rows(e, MB_RECORDINGS)}
    assert "nothing to enrich" in result.skip_message
    assert runs == math.ceil(n_entities / batch)
    assert _decisions(e) == n_entities


def test_the_sensor_waits_while_a_run_is_queued_or_running(enrichment: Enrichment):
    e = enrichment
    e.instance.add_run(dg.DagsterRun(job_name=musicbrainz_job.name, run_id="a" * 36,
                                     status=dg.DagsterRunStatus.STARTED))
    context = dg.build_sensor_context(instance=e.instance, resources={"settings": e.settings})
    result = musicbrainz_sensor(context)
    assert isinstance(result, dg.SkipReason) and "running" in result.skip_message
