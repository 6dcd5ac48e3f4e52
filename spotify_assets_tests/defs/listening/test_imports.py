"""Raw landing after the parse (`_stage`): the staged bytes are the scanned bytes, invisible
until committed; and an import too big for the memory is refused up front."""

import hashlib
import io
from pathlib import Path

import pytest

from spotify_assets.defs.listening.imports import RAW_SOURCE, _stage
from spotify_assets.lib.exports.inbox import ExportFile
from spotify_assets.lib.raw import RawStore

SCANNED = b'[{"ts": "2026-01-01T10:00:00Z", "ms_played": 40000}]'
CHANGED = b'[{"ts": "2026-01-01T10:00:00Z", "ms_played": 99999}]'


def enroll(settings, *users: str) -> None:
    """Listeners who gave only an export: imports are accepted for enrolled ids only."""
    from spotify_assets.lib.users.registry import UserRegistry

    for user in users:
        UserRegistry(settings).add_export_only(user, "", "UTC")


def _file_now_holding(body: bytes) -> ExportFile:
    """An export file announced (scanned) with SCANNED's hash whose bytes are now `body`."""
    digest = hashlib.sha256(SCANNED).hexdigest()
    return ExportFile("x.json", digest, len(SCANNED), "inbox/x.json", lambda: io.BytesIO(body))


def _everything(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_a_staged_file_is_invisible_until_committed(tmp_path: Path) -> None:
    raw = RawStore(tmp_path)
    staged = _stage(raw, "alice", _file_now_holding(SCANNED))
    assert not list(raw.iter(RAW_SOURCE, "alice"))  # only a hidden temp file so far
    ref = staged.commit()
    assert ref.created and RawStore.read(ref.path) == SCANNED
    assert list(raw.iter(RAW_SOURCE, "alice")) == [ref.path]
    again = _stage(raw, "alice", _file_now_holding(SCANNED))
    assert not again.commit().created
    assert _everything(tmp_path) == [ref.path.name]


def test_a_discarded_stage_leaves_nothing(tmp_path: Path) -> None:
    raw = RawStore(tmp_path)
    _stage(raw, "alice", _file_now_holding(SCANNED)).discard()
    assert _everything(tmp_path) == []


def test_stage_refuses_a_file_that_changed_since_the_scan(tmp_path: Path) -> None:
    raw = RawStore(tmp_path)
    with pytest.raises(ValueError, match=r"inbox/x\.json: content changed"):
        _stage(raw, "alice", _file_now_holding(CHANGED))
    assert _everything(tmp_path) == []


def test_stage_checks_the_bytes_even_when_an_earlier_run_landed_them(tmp_path: Path) -> None:
    raw = RawStore(tmp_path)
    _stage(raw, "alice", _file_now_holding(SCANNED)).commit()  # that run died before its report
    with pytest.raises(ValueError, match="content changed"):
        _stage(raw, "alice", _file_now_holding(CHANGED))
    landed = list(raw.iter(RAW_SOURCE, "alice"))
    assert [RawStore.read(p) for p in landed] == [SCANNED]


def test_an_item_too_big_for_the_memory_is_refused_up_front_and_others_go_on(
    tmp_path: Path,
) -> None:
    from spotify_assets.defs.listening.imports import import_item
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.exports.bench import write_extended_file
    from spotify_assets.lib.exports.memory import BASE_BYTES
    from spotify_assets.lib.settings import load_settings

    settings = load_settings(data_dir=tmp_path / "data", import_memory_bytes=BASE_BYTES + 2**20)
    enroll(settings, "big", "small")
    warehouse, raw = Warehouse(settings), RawStore(settings.raw_dir)
    items = {}
    for user_id, rows in (("big", 4000), ("small", 3)):
        folder = settings.inbox_dir / user_id
        folder.mkdir(parents=True)
        items[user_id] = folder / "Streaming_History_Audio_2024.json"
        write_extended_file(items[user_id], rows)
    assert items["big"].stat().st_size > 2**20 > items["small"].stat().st_size

    big = import_item(settings, warehouse, raw, "big", items["big"])
    small = import_item(settings, warehouse, raw, "small", items["small"])

    assert big.status == "failed" and "ExportTooLargeError" in big.error
    assert "SPOTIFY_ASSETS_IMPORT_MEMORY" in big.error and "MiB" in big.error
    assert not (settings.lake_dir / "exported_plays" / "big").exists()
    assert not (settings.raw_dir / RAW_SOURCE / "big").exists()
    assert list((settings.inbox_dir / "big" / "failed").glob("*.error.txt"))
    assert small.status == "imported" and small.reports[0].rows_read == 3


def test_an_export_still_being_copied_in_is_left_for_later_then_imported(tmp_path: Path) -> None:
    import threading
    import time

    from spotify_assets.defs.listening.imports import import_item
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.exports.bench import write_extended_file
    from spotify_assets.lib.settings import load_settings

    settings = load_settings(data_dir=tmp_path / "data")
    enroll(settings, "alice")
    warehouse, raw = Warehouse(settings), RawStore(settings.raw_dir)
    whole = tmp_path / "whole.json"
    write_extended_file(whole, 40)
    body = whole.read_bytes()
    item = settings.inbox_dir / "alice" / "Streaming_History_Audio_2024.json"
    item.parent.mkdir(parents=True)
    item.write_bytes(body[: len(body) // 2])

    def copy_the_rest() -> None:  # a slow copy: a few bytes a millisecond
        with item.open("ab") as out:
            for i in range(len(body) // 2, len(body), 8):
                out.write(body[i : i + 8])
                out.flush()
                time.sleep(0.001)

    copier = threading.Thread(target=copy_the_rest)
    copier.start()
    early = import_item(settings, warehouse, raw, "alice", item)
    copier.join()

    assert early.status == "still_changing" and "left in the inbox" in early.error
    assert item.exists() and not (settings.inbox_dir / "alice" / "failed").exists()
    assert not (settings.lake_dir / "exported_plays").exists()
    done = import_item(settings, warehouse, raw, "alice", item)
    assert done.status == "imported" and done.reports[0].rows_read == 40
