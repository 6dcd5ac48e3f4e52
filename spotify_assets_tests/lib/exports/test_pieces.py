"""A large export file is read in pieces on several threads: the rows, rejects and report are
the ones a read of the whole file gives, in the file's order, and a cut in the wrong place
(inside a string, inside a nested value) falls back to the whole file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from spotify_assets.lib.exports import ExportFile, parse_export_file
from spotify_assets.lib.exports import pieces as pieces_module
from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets.lib.exports.pieces import cuts, pieces_of


def _parse(path: Path, *, pieces: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pieces_module, "piece_count", lambda size, threads=None: pieces)
    return parse_export_file("keeper", ExportFile.from_path(path), engine="duckdb")


def _same(a, b) -> None:
    assert a.observations.equals(b.observations)
    assert a.malformed == b.malformed
    assert a.duplicates == b.duplicates
    assert a.report == b.report
    assert a.engine == b.engine == "duckdb"


@pytest.mark.parametrize("pieces", [2, 3, 7])
def test_a_real_export_in_pieces_reads_as_the_whole_file(
    real_file: Path, pieces: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not cuts(real_file, pieces):
        pytest.skip("too few elements to cut")
    whole = _parse(real_file, pieces=1, monkeypatch=monkeypatch)
    _same(_parse(real_file, pieces=pieces, monkeypatch=monkeypatch), whole)


def test_pieces_are_json_arrays_holding_every_element_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "Streaming_History_Audio_2024.json"
    write_extended_file(path, 2_000, seed=3)
    found = cuts(path, 4)
    assert len(found) == 3
    with pieces_of(path) as paths:  # one piece: the file itself
        assert paths == [path]
    original = json.loads(path.read_bytes())
    monkeypatch.setattr(pieces_module, "piece_count", lambda size, threads=None: 4)
    with pieces_of(path, tmp_path) as paths:
        assert len(paths) == 4
        joined = [element for p in paths for element in json.loads(p.read_bytes())]
    assert not list(tmp_path.glob(".export-pieces-*"))  # the temp folder is gone after
    assert joined == original


def _tricky_file(path: Path) -> None:
    """Rows whose strings and nested values look like element boundaries, pretty-printed."""
    rows = []
    for i in range(400):
        rows.append({
            "ts": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "ms_played": 1000 * i,
            "master_metadata_track_name": "a}, {b" if i % 3 else "},{",
            "master_metadata_album_artist_name": "Artist \\\"}, {\\\"",
            "master_metadata_album_album_name": "Album",
            "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
            "reason_start": "trackdone", "reason_end": "trackdone",
            "shuffle": False, "skipped": None, "offline": False, "offline_timestamp": None,
            "incognito_mode": False, "platform": "android", "conn_country": "DE",
            "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None,
            "audiobook_title": None, "audiobook_uri": None, "audiobook_chapter_uri": None,
            "audiobook_chapter_title": None,
            # An unknown field holding objects in a list: boundaries one level down.
            "future_field": [{"x": 1}, {"y": 2}] if i % 5 == 0 else None,
        })  # fmt: skip
    path.write_text(json.dumps(rows, indent=2))


@pytest.mark.parametrize("pieces", [2, 5, 16])
def test_boundaries_inside_strings_and_nested_values_read_as_the_whole_file(
    tmp_path: Path, pieces: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "Streaming_History_Audio_2024.json"
    _tricky_file(path)
    whole = _parse(path, pieces=1, monkeypatch=monkeypatch)
    assert whole.report.rows_read == 400
    _same(_parse(path, pieces=pieces, monkeypatch=monkeypatch), whole)


def test_a_cut_inside_a_string_is_rejected_and_the_whole_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "Streaming_History_Audio_2024.json"
    _tricky_file(path)
    text = path.read_bytes()
    # The first boundary-looking text after the middle, moved inside a string: the middle
    # element's track name becomes long and holds "}, {" right where the cut is looked for.
    rows = json.loads(text)
    rows[200]["master_metadata_track_name"] = "x" * (len(text) // 2) + "}, {" + "y" * 10
    path.write_text(json.dumps(rows, indent=2))
    size = path.stat().st_size
    (end, start), = cuts(path, 2)
    raw = path.read_bytes()
    assert raw[end - 1 : start + 1].startswith(b"}") and b"yyyyyyyyyy" in raw[start : start + 20]
    assert size // 2 < end  # the cut found is the one inside the string
    monkeypatch.setattr(pieces_module, "piece_count", lambda size, threads=None: 2)
    with pieces_of(path, tmp_path) as paths, pytest.raises(duckdb.Error):
        duckdb.sql("select count(*) from read_json_objects($p, format='array')",
                   params={"p": [str(p) for p in paths]}).fetchall()  # fmt: skip
    whole = _parse(path, pieces=1, monkeypatch=monkeypatch)
    in_pieces = _parse(path, pieces=2, monkeypatch=monkeypatch)
    _same(in_pieces, whole)
    assert in_pieces.report.rows_read == 400
    assert in_pieces.engine == "duckdb"  # the whole file on one thread, not the slow parser


def test_progress_over_pieces_counts_forward_to_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "Streaming_History_Audio_2024.json"
    write_extended_file(path, 90_000, seed=5)  # several batches of 20,000 rows per piece
    monkeypatch.setattr(pieces_module, "piece_count", lambda size, threads=None: 3)
    seen: list[tuple[int, float | None]] = []
    parsed = parse_export_file(
        "keeper", ExportFile.from_path(path), engine="duckdb",
        progress=lambda rows, fraction: seen.append((rows, fraction)),
    )  # fmt: skip
    assert parsed.report.rows_read == 90_000
    rows = [r for r, _ in seen]
    fractions = [f for _, f in seen]
    assert rows == sorted(rows) and rows[-1] == 90_000
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0, abs=0.01)
