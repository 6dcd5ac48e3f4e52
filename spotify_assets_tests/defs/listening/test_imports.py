"""Raw landing beside the parse (`_land`): the landed bytes are the scanned bytes, or nothing."""

import hashlib
import io
from pathlib import Path

import pytest

from spotify_assets.defs.listening.imports import RAW_SOURCE, _land
from spotify_assets.lib.exports.inbox import ExportFile
from spotify_assets.lib.raw import RawStore

SCANNED = b'[{"ts": "2026-01-01T10:00:00Z", "ms_played": 40000}]'
CHANGED = b'[{"ts": "2026-01-01T10:00:00Z", "ms_played": 99999}]'


def _file_now_holding(body: bytes) -> ExportFile:
    """An export file announced (scanned) with SCANNED's hash whose bytes are now `body`."""
    digest = hashlib.sha256(SCANNED).hexdigest()
    return ExportFile("x.json", digest, len(SCANNED), "inbox/x.json", lambda: io.BytesIO(body))


def test_land_keeps_the_scanned_bytes(tmp_path: Path) -> None:
    raw = RawStore(tmp_path)
    ref = _land(raw, "alice", _file_now_holding(SCANNED))
    assert ref.created and RawStore.read(ref.path) == SCANNED
    assert not _land(raw, "alice", _file_now_holding(SCANNED)).created


def test_land_refuses_a_file_that_changed_since_the_scan(tmp_path: Path) -> None:
    raw = RawStore(tmp_path)
    with pytest.raises(ValueError, match="content changed"):
        _land(raw, "alice", _file_now_holding(CHANGED))
    assert not list(tmp_path.rglob("*.gz"))


def test_land_checks_the_bytes_even_when_an_earlier_run_landed_them(tmp_path: Path) -> None:
    raw = RawStore(tmp_path)
    _land(raw, "alice", _file_now_holding(SCANNED))  # that run died before its report
    with pytest.raises(ValueError, match="content changed"):
        _land(raw, "alice", _file_now_holding(CHANGED))
    landed = list((tmp_path / RAW_SOURCE / "alice").glob("*.gz"))
    assert [RawStore.read(p) for p in landed] == [SCANNED]
