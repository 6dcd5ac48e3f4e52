"""DuckDB reads a file of valid rows as columns (`column_row_sql`), and reads it again element by
element (`row_sql`) when any row is not: an unknown or repeated key, an element that is not an
object, a bad value, a piece that starts with other keys. Either way the result is the one the
element-by-element read gives, row for row, and its rows are the streaming engine's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spotify_assets.lib.exports import ExportFile, ParsedExport, duckdb_read, parse_export_file
from spotify_assets.lib.exports import pieces as pieces_module
from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets_tests.lib.exports.samples import (
    ACCOUNT_AUDIOBOOK,
    EXTENDED_2023,
    REAL_FILES,
    load_rows,
    parse_sample,
    write_rows,
)


def _same_as_element_by_element(parsed: ParsedExport, path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duckdb_read, "can_read_as_columns", lambda spec, keys: False)
        elementwise = parse_export_file("alice", ExportFile.from_path(path), engine="duckdb")
    assert not elementwise.read_as_columns
    assert parsed.observations.equals(elementwise.observations)
    assert parsed.malformed == elementwise.malformed
    assert parsed.duplicates == elementwise.duplicates
    assert parsed.report == elementwise.report
    # The engines word a malformed row's JSON differently (spacing, a repeated key's order).
    streamed = parse_sample(path, "ijson")
    assert parsed.observations.equals(streamed.observations)
    assert [m.file_row for m in parsed.malformed] == [m.file_row for m in streamed.malformed]
    assert parsed.report == streamed.report


@pytest.mark.parametrize("path", sorted(REAL_FILES), ids=lambda p: p.name)
def test_real_files_are_read_as_columns_unless_a_key_is_kept_in_extra(path: Path) -> None:
    parsed = parse_sample(path, "duckdb")
    # The audiobook file's authorName is kept in `extra`, which needs each row's JSON text.
    assert parsed.read_as_columns == (path != ACCOUNT_AUDIOBOOK)
    _same_as_element_by_element(parsed, path)


def _good() -> dict:
    return load_rows(EXTENDED_2023)[0]


_LATER_ROWS = {
    "an unknown key": {**_good(), "new_field": [1, {"a": None}]},
    "a repeated key": "REPEATED",
    "a number": 5,
    "null": None,
    "an array": [_good()],
    "a bad value": {**_good(), "ms_played": "61839"},
    "a bad date": {**_good(), "ts": "2023-02-30T10:00:00Z"},
    "a key kept in extra": {**_good(), "authorName": "someone"},
}


@pytest.mark.parametrize("later", sorted(_LATER_ROWS))
def test_a_row_the_columns_cannot_hold_sends_the_file_element_by_element(
    tmp_path: Path, later: str
) -> None:
    path = tmp_path / "Streaming_History_Audio_2023.json"
    rows = [_good(), {**_good(), "ms_played": 1}, _LATER_ROWS[later], {**_good(), "ms_played": 2}]
    text = json.dumps(rows)
    if later == "a repeated key":
        text = text.replace('"REPEATED"', '{"ts": "2023-01-01T00:00:00Z", "ts": "x"}')
    path.write_text(text)
    parsed = parse_sample(path, "duckdb")
    assert not parsed.read_as_columns
    _same_as_element_by_element(parsed, path)
    assert parsed.report.rows_read == 4


def test_a_repeated_key_in_the_first_row_is_found(tmp_path: Path) -> None:
    path = tmp_path / "Streaming_History_Audio_2023.json"
    text = json.dumps([_good(), _good()])
    path.write_text(text.replace('{"ts": ', '{"ts": "2023-01-01T00:00:00Z", "ts": ', 1))
    parsed = parse_sample(path, "duckdb")
    assert not parsed.read_as_columns
    assert parsed.malformed[0].reason == "repeated keys in object"
    _same_as_element_by_element(parsed, path)


def test_rows_missing_keys_or_holding_nulls_are_still_read_as_columns(tmp_path: Path) -> None:
    good = _good()
    short = {k: v for k, v in good.items() if k not in ("ip_addr", "skipped", "episode_name")}
    rows = [good, short, {**good, "platform": None, "shuffle": None}]
    path = write_rows(tmp_path / "Streaming_History_Audio_2023.json", rows)
    parsed = parse_sample(path, "duckdb")
    assert parsed.read_as_columns
    _same_as_element_by_element(parsed, path)


# JSON string texts as a file holds them: escaped (a quote, a backslash, a character, a
# surrogate pair) or raw UTF-8 (a quote is one byte, a character up to four), empty, one long.
_STRING_TEXTS = [r'"Sigur R\u00f3s"', r'"say \"hi\""', r'"back\\slash"', r'"\ud83c\udfb5 Tune"',
                 '""', '"x"', '"Björk"', '"日本の歌"', '"🎵"']  # fmt: skip


def test_strings_escaped_or_not_are_read_as_columns_with_their_values(tmp_path: Path) -> None:
    # The columns keep each string's JSON quotes until Arrow drops them (`unquote_strings`).
    good = json.dumps(_good(), ensure_ascii=False)
    texts = [good]
    for text in _STRING_TEXTS:
        texts.append(
            good.replace(json.dumps(_good()["master_metadata_track_name"]), text).replace(
                json.dumps(_good()["platform"]), text
            )
        )
    # A track URI that only has the shape of one once unescaped (\u0030 is "0").
    texts.append(good.replace(json.dumps(_good()["spotify_track_uri"]),
                              r'"spotify:track:\u0030iV5W9uYEdYUVa79Axb7Rh"'))  # fmt: skip
    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_text("[" + ",\n".join(texts) + "]", encoding="utf-8")
    parsed = parse_sample(path, "duckdb")
    assert parsed.read_as_columns
    expected = [json.loads(text) for text in _STRING_TEXTS]
    rows = slice(1, 1 + len(expected))
    assert parsed.observations["track_name"].to_pylist()[rows] == expected
    assert parsed.observations["platform"].to_pylist()[rows] == expected
    assert parsed.observations["track_id"].to_pylist()[-1] == "0iV5W9uYEdYUVa79Axb7Rh"
    _same_as_element_by_element(parsed, path)


@pytest.mark.parametrize(
    ("ts", "as_columns"),
    [("2023-01-01T24:00:00Z", False), (r"\u0032023-01-01T12:00:00Z", True)],
    ids=["hour 24", "escaped"],
)
def test_times_the_columns_read_quickly_or_not_are_kept(
    tmp_path: Path, ts: str, as_columns: bool
) -> None:
    # Hour 24 is valid (the next day's midnight) but the columns' quicker reading of times
    # rejects it: the file is read again, element by element. An escaped time reaches the
    # columns already unescaped (DuckDB writes each value's JSON text anew).
    good = json.dumps(_good())
    texts = [good, good.replace(json.dumps(_good()["ts"]), f'"{ts}"')]
    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_text("[" + ",\n".join(texts) + "]", encoding="utf-8")
    parsed = parse_sample(path, "duckdb")
    assert parsed.read_as_columns == as_columns
    assert not parsed.malformed and parsed.observations.num_rows == 2
    _same_as_element_by_element(parsed, path)


def _pieces(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(pieces_module, "piece_count", lambda size, threads=None: count)


def test_a_file_in_pieces_is_read_as_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "Streaming_History_Audio_2024.json"
    write_extended_file(path, 3_000, seed=5)
    _pieces(monkeypatch, 3)
    parsed = parse_export_file("alice", ExportFile.from_path(path), engine="duckdb")
    assert parsed.read_as_columns and parsed.report.rows_read == 3_000
    _same_as_element_by_element(parsed, path)


@pytest.mark.parametrize("row", [30, 60])
def test_an_unknown_key_at_the_start_of_a_later_piece_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: int
) -> None:
    """DuckDB takes each piece's columns from its first element: an unknown key there, beside
    all the usual ones, would become a column no query names, and be dropped without a word."""
    rows = [{**_good(), "ms_played": n} for n in range(90)]
    rows[row] = {**rows[row], "brand_new_key": "kept"}
    texts = [json.dumps(r) for r in rows]
    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_text("[" + ",".join(texts) + "]")
    # The file is cut just before that row: it starts the second or the third piece.
    start = len("[" + ",".join(texts[:row]) + ",")
    other = len("[" + ",".join(texts[:45]) + ",")
    found = sorted([(start - 1, start), (other - 1, other)])
    monkeypatch.setattr(pieces_module, "piece_count", lambda size, threads=None: 3)
    monkeypatch.setattr(pieces_module, "cuts", lambda path, pieces: found)
    parsed = parse_export_file("alice", ExportFile.from_path(path), engine="duckdb")
    assert not parsed.read_as_columns
    assert parsed.report.unknown_keys == ["brand_new_key"]
    _same_as_element_by_element(parsed, path)
    assert json.loads(parsed.observations.column("extra")[row].as_py()) == {"brand_new_key": "kept"}
