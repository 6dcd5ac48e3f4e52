"""The bad-input corpus (spotify_assets_tests/fixtures/bad_exports, with its expected outcomes)
through the inbox import, each item beside a good export of another listener in the same run:
a refused item writes nothing and says why in one place the operator sees; an accepted one
accounts for every row; the other listener's import always goes through."""

import json
import shutil
from pathlib import Path

import pytest

from spotify_assets.defs.listening.imports import export_import
from spotify_assets.defs.listening.tables import EXPORTED_PLAYS, IMPORT_REJECTS, IMPORT_REPORTS
from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets_tests.conftest import record_fault
from spotify_assets_tests.defs.conftest import Pipeline

CORPUS = Path(__file__).parents[2] / "fixtures" / "bad_exports"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
GOOD = (
    Path(__file__).parents[2] / "lib" / "exports" / "realdata"
    / "extended_Streaming_History_Audio_2023_first300__Efrrowini.json"
)  # fmt: skip


def _import(p: Pipeline, item: Path) -> dict:
    bad_inbox = p.settings.inbox_dir / "demo_skipper"
    good_inbox = p.settings.inbox_dir / "demo_light"
    for inbox in (bad_inbox, good_inbox):
        inbox.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(item, bad_inbox / item.name)
    shutil.copyfile(GOOD, good_inbox / GOOD.name)
    result = p.materialize([export_import])
    assert result.success  # a bad item never fails the run
    return {
        key: {p.partition.split("/")[0] for p in p.warehouse.lake.entries(spec.name)}
        for key, spec in (
            ("plays", EXPORTED_PLAYS),
            ("rejects", IMPORT_REJECTS),
            ("reports", IMPORT_REPORTS),
        )
    }


def test_the_corpus_and_its_expectations_agree() -> None:
    items = {p.name for p in CORPUS.iterdir() if p.suffix in (".json", ".zip")}
    assert items - {"expected.json"} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_bad_export_is_refused_or_fully_accounted_for(
    request: pytest.FixtureRequest, pipeline: Pipeline, name: str
) -> None:
    p, expected = pipeline, EXPECTED[name]
    users = _import(p, CORPUS / name)
    assert "demo_light" in users["reports"]  # the other listener's import went through
    user_dir = p.settings.inbox_dir / "demo_skipper"
    if expected["status"] == "failed":
        [note] = (user_dir / "failed").glob("*.error.txt")
        text = note.read_text()
        assert expected["says"] in text and "Traceback" not in text
        assert str(p.settings.data_dir) not in text  # says which file, not where we keep it
        assert all("demo_skipper" not in found for found in users.values())  # nothing written
        assert not list(p.settings.raw_dir.glob("exports/demo_skipper/*"))
    else:
        [report] = p.warehouse.scan(IMPORT_REPORTS, "user_id = 'demo_skipper'").to_pylist()
        assert (report["rows_read"], report["malformed"]) == (
            expected["rows_read"],
            expected["malformed"],
        )
        assert report["file_name"] == name  # as named in the inbox, no folder of ours
        rejects = p.warehouse.scan(IMPORT_REJECTS, "user_id = 'demo_skipper'").num_rows
        assert rejects == expected["malformed"]  # every malformed row kept verbatim
        assert list((user_dir / "imported").glob("*.txt"))
    record_fault(
        request,
        f"bad input {name}",
        lost_rows=0,  # refused whole with its reason, or every row kept or kept as a reject
        others="no",
        note=expected["status"],
    )


def test_a_huge_single_line_export_imports_whole(pipeline: Pipeline, tmp_path: Path) -> None:
    # Spotify writes extended history as one JSON line; 30,000 rows is ~19 MB on that line.
    item = tmp_path / "Streaming_History_Audio_2020_0.json"
    write_extended_file(item, 30_000)
    assert b"\n" not in item.read_bytes()
    _import(pipeline, item)
    [report] = pipeline.warehouse.scan(IMPORT_REPORTS, "user_id = 'demo_skipper'").to_pylist()
    assert report["rows_read"] == 30_000 and report["malformed"] == 0
