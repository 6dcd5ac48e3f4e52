"""ImportReport: the partition invariant, markdown and the import_reports row shape."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from spotify_assets.lib.exports import IMPORT_REPORT_COLUMNS, ImportReport, ImportReportError


def _report(**changes) -> ImportReport:
    base = ImportReport(
        user_id="alice",
        file_name="x.zip!Streaming_History_Audio_2023.json",
        file_sha256="ab" * 32,
        format="extended",
        rows_read=20,
        kept_tracks=10,
        kept_episodes=3,
        kept_audiobooks=1,
        kept_video=1,
        kept_unknown=2,
        under_threshold=4,
        duplicate_in_file=2,
        malformed=1,
        unknown_keys=["new_field"],
    )
    return dataclasses.replace(base, **changes)


def test_a_partitioning_report_passes():
    assert _report().check().kept == 17


@pytest.mark.parametrize(
    "changes",
    [
        {"rows_read": 21},  # one row unaccounted for
        {"malformed": 2},  # one row counted twice
        {"under_threshold": 11},  # "of which" larger than its whole
        {"kept_video": -1, "kept_tracks": 12},  # sums right but negative
    ],
)
def test_check_refuses_reports_that_do_not_partition_the_rows(changes):
    with pytest.raises(ImportReportError):
        _report(**changes).check()


def test_under_threshold_is_not_a_category():
    # Moving rows into under_threshold must not change the sum the invariant checks.
    assert _report(under_threshold=0).check() and _report(under_threshold=10).check()


def test_markdown_shows_every_count_and_the_unknown_keys():
    text = _report().to_markdown()
    for needle in (
        "| read | 20 |",
        "| kept: tracks | 10 |",
        "of which under 30 s | 4 |",
        "duplicate in file | 2 |",
        "malformed (kept aside) | 1 |",
        "`new_field`",
    ):
        assert needle in text


def test_to_row_fits_the_import_reports_columns():
    schema = pa.schema(
        [pa.field(c.name, c.type, nullable=c.nullable) for c in IMPORT_REPORT_COLUMNS]
    )
    table = pa.Table.from_pylist([_report().to_row()], schema=schema)
    assert table.column_names == [c.name for c in IMPORT_REPORT_COLUMNS]
    assert table.to_pylist()[0]["unknown_keys"] == ["new_field"]
