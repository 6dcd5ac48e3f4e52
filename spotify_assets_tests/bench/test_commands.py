"""The benchmarks (spotify_assets/bench/) on small inputs, and their routing through the real
`spotify-assets` parser. The published sizes (musicbrainz: 2,424 played tracks, ~30 s; import:
1,000,000 rows, minutes) are run by hand; numbers in docs/benchmarks.md."""

import argparse
import re
from datetime import date

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


def test_bench_import_measures_pipeline_floor_and_baseline_on_the_same_days(tmp_path):
    from spotify_assets.bench import imports

    result = imports.run(rows=1500, workdir=tmp_path)
    for storage in ("", "-memory"):
        pipeline, floor = result[f"pipeline{storage}"], result[f"floor{storage}"]
        assert floor["days"] == (
            date.fromisoformat(pipeline["last_day"]) - date.fromisoformat(pipeline["first_day"])
        ).days + 1
        assert pipeline["days"] <= floor["days"]
        assert pipeline["seconds"] > 0 and floor["seconds"] > 0
    assert result["baseline"]["days"] > 0
    text = imports.report(result)
    assert "rows: 1,500" in text and text.count("pipeline minus floor") == 2
    assert not (tmp_path / "data").exists()  # the lake of each side is removed
