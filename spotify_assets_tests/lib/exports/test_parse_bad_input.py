"""parse_export_file on bad input: rows set aside as malformed (with their reason and raw
JSON), and files refused whole (truncated, damaged, not Spotify's, not JSON, changed while read).
Both engines (ijson streaming, DuckDB) run where the behaviour must be the same."""

from __future__ import annotations

import json

import pytest

from spotify_assets.lib.exports import (
    CorruptExportError,
    ExportFile,
    FileChangedError,
    UnrecognizedExportError,
    parse_export_file,
    parse_export_path,
)
from spotify_assets.lib.ids import InvalidIdError
from spotify_assets_tests.lib.exports.samples import (
    ENGINES,
    EXTENDED_2022,
    EXTENDED_2023,
    PII,
    load_rows,
    parse_sample,
    write_rows,
)

# --- malformed rows ---------------------------------------------------------------------------

_BAD_ROWS = [
    ({"ts": None}, "ts: missing or null"),
    ({"ts": "2023-02-30T10:00:00Z"}, "ts: expected a YYYY-MM-DDTHH:MM:SSZ string"),
    ({"ts": "2023-02-25 11:20:37"}, "ts: expected a YYYY-MM-DDTHH:MM:SSZ string"),
    ({"ts": 1677323975}, "ts: expected a YYYY-MM-DDTHH:MM:SSZ string"),
    ({"ms_played": -1}, "ms_played: expected an integer >= 0"),
    ({"ms_played": "61839"}, "ms_played: expected an integer >= 0"),
    ({"ms_played": 1.5}, "ms_played: expected an integer >= 0"),
    ({"ms_played": 2**64}, "ms_played: expected an integer >= 0"),
    ({"shuffle": "yes"}, "shuffle: expected a boolean"),
    ({"master_metadata_track_name": 7}, "master_metadata_track_name: expected a string"),
    ({"offline_timestamp": "1677323975"}, "offline_timestamp: expected an integer"),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_malformed_rows_are_set_aside_with_reason_and_raw_json(tmp_path, engine):
    good = load_rows(EXTENDED_2023)[0]
    bad_objects = [{**good, **change} for change, _ in _BAD_ROWS]
    missing_ts = {k: v for k, v in good.items() if k != "ts"}
    elements = [good, *bad_objects, missing_ts, 5, "text", [good], None, good]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(elements))
    parsed = parse_sample(path, engine)
    reasons = {m.file_row: m.reason for m in parsed.malformed}
    for offset, (_, reason) in enumerate(_BAD_ROWS, start=1):
        assert reasons[offset].startswith(reason), (offset, reasons[offset])
    n = len(_BAD_ROWS)
    assert reasons[n + 1] == "ts: missing or null"
    for offset in range(n + 2, n + 6):
        assert reasons[offset].startswith("not a JSON object")
    for m in parsed.malformed:  # kept as they were, minus the PII keys
        element = elements[m.file_row]
        if isinstance(element, dict):
            element = {k: v for k, v in element.items() if k not in PII}
        assert json.loads(m.raw_json) == element
    report = parsed.report
    assert (report.malformed, report.kept_tracks, report.duplicate_in_file) == (n + 5, 1, 1)


def test_a_row_can_have_several_problems(tmp_path):
    row = {**load_rows(EXTENDED_2023)[0], "ms_played": -5, "skipped": "no"}
    parsed = parse_sample(write_rows(tmp_path / "a.json", [load_rows(EXTENDED_2023)[0], row]))
    assert parsed.malformed[0].reason.count(";") == 1
    assert "ms_played" in parsed.malformed[0].reason and "skipped" in parsed.malformed[0].reason


@pytest.mark.parametrize("engine", ENGINES)
def test_repeated_keys_are_malformed_and_both_values_survive(tmp_path, engine):
    first = json.dumps(load_rows(EXTENDED_2023)[0])
    repeated = first[:-1] + ', "ms_played": 99}'
    path = tmp_path / "a.json"
    path.write_text(f"[{first}, {repeated}]")
    parsed = parse_sample(path, engine)
    assert [m.reason for m in parsed.malformed] == ["repeated keys in object"]
    assert "99" in parsed.malformed[0].raw_json and "61839" in parsed.malformed[0].raw_json


# --- files that cannot be imported ------------------------------------------------------------


def _element_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte spans of the top-level array's elements, found with the json module."""
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    spans, i = [], text.index("[") + 1
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        if text[i] == "]":
            return spans
        _, end = decoder.raw_decode(text, i)
        spans.append((len(text[:i].encode()), len(text[:end].encode())))
        i = end


@pytest.mark.parametrize("engine", ["ijson", "duckdb", "auto"])
@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_file_raises_with_row_and_byte_offset(tmp_path, engine, fraction):
    data = EXTENDED_2023.read_bytes()
    cut = int(len(data) * fraction)
    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_bytes(data[:cut])
    complete = sum(1 for _, end in _element_spans(data) if end <= cut)
    with pytest.raises(CorruptExportError) as caught:
        parse_sample(path, engine)
    assert caught.value.row == complete  # the first element that was not complete
    assert caught.value.byte_offset == cut
    assert str(path) in str(caught.value)


def test_damage_in_the_middle_names_the_broken_element(tmp_path):
    data = EXTENDED_2023.read_bytes()
    start, _ = _element_spans(data)[150]
    where = data.index(b"false", start)
    path = tmp_path / "a.json"
    path.write_bytes(data[:where] + b"fxlse" + data[where + 5 :])
    for engine in ENGINES:
        with pytest.raises(CorruptExportError) as caught:
            parse_sample(path, engine)
        assert caught.value.row == 150
        assert caught.value.byte_offset >= where


@pytest.mark.parametrize(
    ("content", "error", "keys"),
    [
        (b'{"a": 1}', UnrecognizedExportError, ["a"]),
        (b'[{"foo": 1}]', UnrecognizedExportError, ["foo"]),
        (b'"just a string"', UnrecognizedExportError, []),
        (b"[1, 2]", UnrecognizedExportError, []),
    ],
)
def test_non_spotify_json_is_refused(tmp_path, content, error, keys):
    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_bytes(content)
    for engine in ENGINES:
        with pytest.raises(error) as caught:
            parse_sample(path, engine)
        assert caught.value.keys_seen == keys
        assert path.name in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"   \n", b"[] trailing", b'[{"ts": '])
def test_not_json_at_all_is_corrupt(tmp_path, content):
    path = tmp_path / "a.json"
    path.write_bytes(content)
    with pytest.raises(CorruptExportError):
        parse_sample(path)


def test_bytes_that_do_not_match_the_announced_hash_are_refused():
    data = EXTENDED_2022.read_bytes()
    honest = ExportFile.from_bytes("a.json", data)
    lying = ExportFile("a.json", "0" * 64, len(data), "a.json", honest.open_stream)
    with pytest.raises(FileChangedError):
        parse_export_file("alice", lying, engine="ijson")


def test_user_id_is_validated():
    with pytest.raises(InvalidIdError):
        parse_export_path("../bob", EXTENDED_2022)


def test_a_file_duckdb_failed_on_leaves_the_next_parse_on_that_thread_whole(tmp_path):
    """Parses on one thread share a DuckDB connection; one that failed mid-query is dropped,
    so the file after a damaged one parses exactly as it does on its own."""
    from spotify_assets.lib.exports import duckdb_read

    good = tmp_path / "Streaming_History_Audio_2023.json"
    good.write_bytes(EXTENDED_2023.read_bytes())
    alone = parse_sample(good, "duckdb").observations
    shared = duckdb_read._THREAD.con
    assert parse_sample(good, "duckdb").observations.equals(alone)
    assert duckdb_read._THREAD.con is shared  # reused while nothing failed
    data = EXTENDED_2023.read_bytes()
    damaged = tmp_path / "damaged.json"
    damaged.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptExportError):
        parse_sample(damaged, "duckdb")
    assert duckdb_read._THREAD.con is not shared
    assert parse_sample(good, "duckdb").observations.equals(alone)
