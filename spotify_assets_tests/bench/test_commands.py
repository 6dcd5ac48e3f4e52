"""The benchmarks (spotify_assets/bench/) on small inputs, and their routing through the real
`spotify-assets` parser. The published sizes (musicbrainz: 2,424 played tracks, ~30 s; import:
1,000,000 rows, minutes) are run by hand; numbers in docs/benchmarks.md."""

import argparse
import re

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

    result = imports.run(rows=3000, workdir=tmp_path)
    for layout in imports.LAYOUTS:
        baseline, pipeline = result[layout]["baseline"], result[layout]["pipeline"]
        assert baseline["days"] > 0 and baseline["seconds"] > 0
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
    text = imports.report(result)
    assert "rows: 3,000" in text and text.count("issue 6's pipeline") == 4
    assert not (tmp_path / "data").exists()  # the lake of each side is removed
