"""The benchmarks (spotify_assets/bench/) on small inputs, and their routing through the real
`spotify-assets` parser. The published sizes (musicbrainz: 2,424 played tracks, ~30 s; import:
1,000,000 rows, minutes) are run by hand; numbers in docs/benchmarks.md."""

import argparse
import re
import statistics

from spotify_assets.bench.commands import add_bench_arguments, run_musicbrainz
from spotify_assets.cli import build_parser


def test_bench_prints_precision_recall_requests_and_a_zero_request_rerun(capsys):
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    args = parser.parse_args(
        ["--tracks", "200", "--artists", "20", "--days", "3", "--max-entities", "100"]
    )
    run_musicbrainz(args)
    out = capsys.readouterr().out
    assert "rate limit set to 0 on both sides" in out and "not wall time" in out
    for kind in ("tracks", "albums", "artists"):
        line = re.search(
            rf"^{kind}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out, re.MULTILINE
        )
        assert line, out
        entities, present, accepted, correct = map(int, line.groups()[:4])
        assert entities >= present >= correct and accepted >= correct > 0
        assert float(line.group(5)) == round(correct / accepted, 4)
        assert float(line.group(6)) == round(correct / present, 4)
    per_entity = re.search(r"= ([\d.]+) per entity", out)
    assert per_entity and 0 < float(per_entity.group(1)) <= 1.05
    assert re.search(r"runs of at most 100 entities", out)
    assert "re-run: 0 MusicBrainz requests, 0 Spotify album lookups" in out


def test_the_cli_routes_bench_musicbrainz_with_its_options():
    args = build_parser().parse_args(["bench", "musicbrainz", "--tracks", "300", "--days", "2"])
    assert (args.tracks, args.days, args.max_entities) == (300, 2, 500)


def test_bench_import_measures_both_layouts_the_floor_and_a_poll(tmp_path):
    from spotify_assets.bench import imports

    # A --workdir that does not exist yet is made (a user names a new folder).
    result = imports.run(rows=3000, workdir=tmp_path / "new" / "bench")
    for layout in imports.LAYOUTS:
        baseline, pipeline = result[layout]["baseline"], result[layout]["pipeline"]
        assert baseline["days"] > 0 and baseline["seconds"] > 0
        # The ratios' denominators are medians of several runs, not one.
        assert len(baseline["runs"]) == 2 * imports.REPEATS > 2  # before and after
        assert baseline["runs"][-imports.REPEATS :] == baseline["runs_after"]
        assert statistics.median(baseline["runs"]) == baseline["seconds"]
        assert pipeline["seconds_whole"] > pipeline["seconds_issue6"] > 0
        assert pipeline["events_whole"] > pipeline["events_issue6"] > 0
        # The poll's refresh rewrote its day and the days beside it, in every history table.
        assert 0 < pipeline["poll"]["day_files_rewritten"] <= 3 * 5
        assert pipeline["poll"]["daily_grain_days"] == 3
    # Both layouts hold the same rows: the same days, the same runs.
    assert result["file"]["baseline"]["days"] == result["zip"]["baseline"]["days"]
    assert result["file"]["pipeline"]["months"] == result["zip"]["pipeline"]["months"]
    # The daily grain wrote an event per day and asset where the month grain writes one per
    # month: many more rows for the same two assets.
    assert result["floor"]["day"]["events"] > 3 * result["floor"]["month"]["events"]
    assert len(result["floor"]["month"]["runs"]) == imports.REPEATS
    assert len(result["floor"]["day"]["runs"]) == 1
    text = imports.report(result)
    assert "rows: 3,000" in text and text.count("issue 6's pipeline") == 4
    assert not (tmp_path / "data").exists()  # the lake of each side is removed


def test_bench_polling_scores_every_strategy_against_the_worlds_plays():
    from spotify_assets.bench import polling
    from spotify_assets.emulator.world import World, WorldConfig, datetime_to_ms

    result = polling.run(users=6, days=2, seed=5, out=lambda _: None)
    # The truth, recomputed here from the same world: counted track plays Spotify has by the end.
    world = World(WorldConfig(seed=5, end=polling.END, days=2, listeners=6))
    truth = {
        (user, datetime_to_ms(p.ended_at), p.item_id)
        for user in world.users
        for p in world.plays(user)
        if p.kind == "track" and p.ms_played >= 30_000 and p.visible_at <= world.end
    }
    assert result["truth"].plays == truth
    adaptive, fixed2, fixed30 = result["sides"]
    for side in result["sides"]:
        assert side.captured <= truth
    # One request per user per step at least (a full page costs one more); the window's end
    # is a step of both grids.
    steps30, steps2 = 2 * 48 + 1, 2 * 720 + 1
    assert 6 * steps30 <= fixed30.requests <= 2 * 6 * steps30
    assert 6 * steps2 <= fixed2.requests <= 2 * 6 * steps2
    assert adaptive.requests < fixed30.requests
    # The 2-minute poll's `after` cursor has always seen a newer play when a late one arrives.
    late_lost = result["truth"].lost(fixed2.captured)
    assert late_lost and late_lost <= result["truth"].late
    text = polling.report(result)
    lost = len(result["truth"].lost(adaptive.captured))
    captured = len(adaptive.captured)
    assert (
        f"| adaptive (sensor + poll) | {adaptive.requests:,} | {captured:,} | {lost:,} |" in text
    )
    assert f"{adaptive.requests / captured:.4f}" in text


def test_the_cli_routes_bench_polling_with_its_options():
    args = build_parser().parse_args(["bench", "polling", "--users", "5", "--poll-days", "2"])
    assert (args.what, args.users, args.poll_days, args.poll_seed) == ("polling", 5, 2, 42)
