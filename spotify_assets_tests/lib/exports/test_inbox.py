"""Inbox items: loose JSON files and zips as Spotify sends them, and zips that must be refused.

Zips are built in tmp_path from the real samples under Spotify's real folder names.
"""

from __future__ import annotations

import hashlib
import json
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from spotify_assets.lib.exports import (
    CorruptArchiveError,
    ExportFile,
    UnsafeArchiveError,
    UnsupportedInboxItemError,
    open_inbox_item,
    parse_export_file,
    scan_inbox_item,
)
from spotify_assets.lib.exports import inbox as inbox_module
from spotify_assets_tests.lib.exports.samples import (
    ACCOUNT_MUSIC,
    ENDSONG,
    EXTENDED_2022,
    EXTENDED_2023,
)

EXTENDED_DIR = "Spotify Extended Streaming History"
ACCOUNT_DIR = "Spotify Account Data"
HISTORY = {
    f"{EXTENDED_DIR}/Streaming_History_Audio_2022.json": EXTENDED_2022,
    f"{EXTENDED_DIR}/Streaming_History_Audio_2023_1.json": EXTENDED_2023,
    f"{ACCOUNT_DIR}/StreamingHistory_music_0.json": ACCOUNT_MUSIC,
    "MyData/endsong_0.json": ENDSONG,
}
PERSONAL = {
    f"{ACCOUNT_DIR}/Userdata.json": json.dumps({"username": "x", "email": "x@example.org"}),
    f"{ACCOUNT_DIR}/Identity.json": json.dumps({"displayName": "X", "firstName": "Y"}),
    f"{ACCOUNT_DIR}/Playlist1.json": json.dumps({"playlists": []}),
    f"{EXTENDED_DIR}/ReadMeFirst_ExtendedStreamingHistory.pdf": "%PDF-1.4 not really",
}


def _spotify_zip(path: Path, extra: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{EXTENDED_DIR}/", "")
        for name, source in HISTORY.items():
            archive.write(source, name)
        # Stored, so a damaged byte is caught by the CRC check if anyone ever reads it.
        for name, text in PERSONAL.items():
            archive.writestr(name, text, compress_type=zipfile.ZIP_STORED)
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return path


def _damage_member(path: Path, member: str) -> None:
    """Flip the first data byte of a stored member: reading it would fail its CRC."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_spotify_zip_yields_its_history_files_and_skips_the_rest(tmp_path):
    item = _spotify_zip(tmp_path / "my_spotify_data.zip")
    for member in PERSONAL:
        _damage_member(item, member)  # never read: the scan would fail on a CRC error
    scan = scan_inbox_item(item)
    assert {f.name for f in scan.files} == set(HISTORY)
    assert {s.name for s in scan.skipped} == set(PERSONAL)
    for export_file in scan.files:
        data = HISTORY[export_file.name].read_bytes()
        assert export_file.sha256 == hashlib.sha256(data).hexdigest()
        assert export_file.size == len(data)
        assert export_file.origin == f"{item.name}!{export_file.name}"  # no folder of ours
        with export_file.open_stream() as stream:
            assert stream.read() == data


def test_zip_members_parse_like_the_loose_files(tmp_path):
    item = _spotify_zip(tmp_path / "my_spotify_data.zip")
    for export_file in open_inbox_item(item):
        loose = parse_export_file("alice", ExportFile.from_path(HISTORY[export_file.name]))
        for engine in ("ijson", "duckdb"):  # duckdb spools the member to a temp file
            parsed = parse_export_file("alice", export_file, engine=engine, spool_dir=tmp_path)
            assert parsed.engine == engine
            assert parsed.observations.equals(loose.observations)
            assert parsed.report.file_name == export_file.origin
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_spotify_data.zip"]  # no spool left


def test_a_loose_json_is_offered_whatever_its_name(tmp_path):
    item = tmp_path / "my export (1).json"
    item.write_bytes(ENDSONG.read_bytes())
    (only,) = list(open_inbox_item(item))
    assert (only.name, only.local_path) == ("my export (1).json", item)
    assert parse_export_file("alice", only).report.format == "endsong"


@pytest.mark.parametrize(
    "bad_name",
    ["../x.json", "MyData/../../etc/endsong_0.json", "/etc/passwd", "\\temp\\x.json", "C:x.json"],
)
def test_zips_with_escaping_paths_are_refused_whole(tmp_path, bad_name):
    item = _spotify_zip(tmp_path / "evil.zip", {bad_name: "[]"})
    with pytest.raises(UnsafeArchiveError) as caught:
        list(open_inbox_item(item))
    assert caught.value.entry == bad_name
    assert "nothing from this archive was imported" in str(caught.value)


def test_zips_with_symlinks_are_refused(tmp_path):
    item = _spotify_zip(tmp_path / "link.zip")
    with zipfile.ZipFile(item, "a") as archive:
        info = zipfile.ZipInfo("MyData/endsong_1.json")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        scan_inbox_item(item)


def test_zip_bombs_are_refused_by_ratio(tmp_path):
    item = tmp_path / "bomb.zip"
    with zipfile.ZipFile(item, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MyData/endsong_0.json", b"[" + b" " * 5_000_000 + b"]")
    with pytest.raises(UnsafeArchiveError, match="ratio above 200"):
        scan_inbox_item(item)


def test_members_declaring_a_huge_size_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(inbox_module, "MAX_MEMBER_BYTES", 10_000)  # 4 GiB is too big to build
    item = _spotify_zip(tmp_path / "big.zip")
    with pytest.raises(UnsafeArchiveError, match="declares"):
        scan_inbox_item(item)


def test_a_member_inflating_past_its_declared_size_is_refused(tmp_path):
    item = tmp_path / "liar.zip"
    with zipfile.ZipFile(item, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(
            EXTENDED_2022, "Spotify Extended Streaming History/Streaming_History_Audio_1.json"
        )
    data = bytearray(item.read_bytes())
    central = data.index(b"PK\x01\x02")
    # The central directory's uncompressed size (offset 24) now claims a tenth of the truth.
    real_size = struct.unpack("<I", data[central + 24 : central + 28])[0]
    data[central + 24 : central + 28] = struct.pack("<I", real_size // 10)
    item.write_bytes(bytes(data))
    with pytest.raises(CorruptArchiveError) as caught:
        scan_inbox_item(item)
    assert caught.value.entry.endswith("Streaming_History_Audio_1.json")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_damaged_history_member_is_refused_with_a_clear_error(tmp_path, compression):
    item = tmp_path / "damaged.zip"
    with zipfile.ZipFile(item, "w", compression=compression) as archive:
        archive.write(ENDSONG, "MyData/endsong_0.json")
    _damage_member(item, "MyData/endsong_0.json")
    with pytest.raises(CorruptArchiveError, match="is damaged"):
        scan_inbox_item(item)


def _central_entry(data: bytearray) -> int:
    return data.index(b"PK\x01\x02")


@pytest.mark.parametrize("damage", ["crc", "short stream", "long stream"])
def test_a_deflated_member_that_does_not_check_out_is_refused(tmp_path, damage):
    """Deflated members (every member of Spotify's zips) are inflated by ISA-L, not zipfile:
    the member's CRC-32, its size and the end of its deflate stream are checked all the same."""
    item = tmp_path / "damaged.zip"
    with zipfile.ZipFile(item, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(EXTENDED_2022, "MyData/Streaming_History_Audio_2022.json")
    data = bytearray(item.read_bytes())
    central = _central_entry(data)
    if damage == "crc":  # the central directory's CRC-32 (offset 16) is off by one
        crc = struct.unpack("<I", data[central + 16 : central + 20])[0]
        data[central + 16 : central + 20] = struct.pack("<I", crc ^ 1)
    else:  # the declared compressed size (offset 20) cuts the stream short, or runs past it
        size = struct.unpack("<I", data[central + 20 : central + 24])[0]
        changed = size - 100 if damage == "short stream" else size + 20
        data[central + 20 : central + 24] = struct.pack("<I", changed)
    item.write_bytes(bytes(data))
    with pytest.raises(CorruptArchiveError, match="is damaged"):
        scan_inbox_item(item)


def test_a_deflated_member_reads_as_zipfile_reads_it(tmp_path):
    item = tmp_path / "fine.zip"
    with zipfile.ZipFile(item, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(EXTENDED_2022, "MyData/Streaming_History_Audio_2022.json")
        archive.writestr("MyData/Streaming_History_Audio_empty.json", b"")
    scan = scan_inbox_item(item)
    with zipfile.ZipFile(item) as archive:
        for export_file in scan.files:
            with export_file.open_stream() as stream:
                assert stream.read() == archive.read(export_file.name)


def test_repeated_member_names_are_refused(tmp_path):
    item = tmp_path / "twice.zip"
    with zipfile.ZipFile(item, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("MyData/endsong_0.json", "[]")
        archive.writestr("MyData/endsong_0.json", "[]")
    with pytest.raises(UnsafeArchiveError, match="twice"):
        scan_inbox_item(item)


def test_other_inbox_items_are_refused(tmp_path):
    pdf = tmp_path / "ReadMeFirst.pdf"
    pdf.write_bytes(b"%PDF")
    with pytest.raises(UnsupportedInboxItemError):
        scan_inbox_item(pdf)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not a zip")
    with pytest.raises(CorruptArchiveError, match="not a readable zip"):
        scan_inbox_item(broken)
