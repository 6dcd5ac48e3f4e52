"""Inbox items -> export files: a loose `.json` file, or a `.zip` as Spotify sends it.

A zip is checked whole before anything is yielded, so an unsafe zip imports nothing:
entries with absolute paths, `..` segments, symlinks or repeated names are refused, and so are
zip bombs (an entry declaring more than 4 GiB, or compressing better than 200:1; JSON history
compresses about 10:1). Members are streamed, never read whole; a member that inflates past
its declared size, fails its CRC or is otherwise damaged raises `CorruptArchiveError`.

Only streaming-history members (by Spotify's names: `StreamingHistory*.json`,
`Streaming_History_{Audio,Video}_*.json`, `endsong*.json`, in any folder such as
`Spotify Extended Streaming History/`, `Spotify Account Data/`, `MyData/`) become export files;
everything else (Userdata.json, Identity.json, Playlist1.json, YourLibrary.json, the ReadMe PDF)
is listed as skipped and never read: it is personal data we have no use for. A loose `.json`
file is always offered, whatever its name: its content decides (see formats.py).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from isal import isal_zlib

from spotify_assets.lib.exports.errors import (
    CorruptArchiveError,
    UnsafeArchiveError,
    UnsupportedInboxItemError,
)
from spotify_assets.lib.exports.formats import base_name, is_history_file_name

MAX_MEMBER_BYTES = 4 * 1024**3
MAX_COMPRESSION_RATIO = 200
_CHUNK = 1 << 20
HASH_THREADS = 2  # 3 were no faster on 2 cores


@dataclass(frozen=True)
class ExportFile:
    """One candidate history file. `open_stream()` returns a fresh binary stream of its bytes.

    `name` is the file's name (for a zip member, its path inside the zip): the format detector
    uses its base name as a tie-breaker, so keep it when re-parsing from the raw landing zone.
    `local_path` is set when the bytes sit uncompressed (or gzip'd, `.gz`) in a local file,
    which lets the parser use DuckDB's reader directly.
    """

    name: str
    sha256: str
    size: int
    origin: str  # where it came from, for messages: "inbox/x.zip!folder/name.json"
    open_stream: Callable[[], BinaryIO]
    local_path: Path | None = None

    @classmethod
    def from_path(
        cls, path: Path, name: str | None = None, origin: str | None = None
    ) -> ExportFile:
        """A local `.json` file (or `.json.gz`, e.g. from the raw landing zone)."""
        path = Path(path)
        gz = path.suffix == ".gz"

        def opener() -> BinaryIO:
            return gzip.open(path, "rb") if gz else open(path, "rb")

        digest, size = hash_stream(opener())
        return cls(name or path.name, digest, size, origin or str(path), opener, path)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> ExportFile:
        """Bytes already in memory (tests, the emulator's export files)."""
        return cls(
            name, hashlib.sha256(data).hexdigest(), len(data), name, lambda: io.BytesIO(data)
        )


@dataclass(frozen=True)
class SkippedEntry:
    name: str
    reason: str


@dataclass(frozen=True)
class InboxScan:
    """A checked inbox item: the history files it offers and the entries it skips."""

    item: Path
    files: tuple[ExportFile, ...]
    skipped: tuple[SkippedEntry, ...]


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    """sha256 (hex) and size of a stream's bytes, read in chunks; the stream is closed."""
    digest = hashlib.sha256()
    size = 0
    with stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def scan_inbox_item(path: Path) -> InboxScan:
    """Check an inbox item and hash its history files (streamed). Raises `UnsafeArchiveError`
    for an unsafe zip, `UnsupportedInboxItemError` for anything but .json/.zip."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        # Named by the item alone: reports and messages never hold where the data folder is.
        return InboxScan(path, (ExportFile.from_path(path, origin=path.name),), ())
    if suffix == ".zip":
        return _scan_zip(path)
    raise UnsupportedInboxItemError(
        f"{path.name}: not an export (expected a .json file or the .zip Spotify sends)"
    )


def open_inbox_item(path: Path) -> Iterator[ExportFile]:
    """The history files of an inbox item (see `scan_inbox_item` for the skipped entries)."""
    yield from scan_inbox_item(path).files


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix mode bits live in the high 16 bits of external_attr (create_system 3 = Unix).
    return stat.S_ISLNK(info.external_attr >> 16)


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in parts:
        return "has a '..' path segment"
    if _is_symlink(info):
        return "is a symbolic link"
    if info.file_size > MAX_MEMBER_BYTES:
        return f"declares {info.file_size} bytes uncompressed (limit {MAX_MEMBER_BYTES})"
    if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        return (
            f"compresses {info.file_size} bytes into {info.compress_size} "
            f"(ratio above {MAX_COMPRESSION_RATIO}: zip bomb?)"
        )
    return None


def _scan_zip(path: Path) -> InboxScan:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise CorruptArchiveError(path.name, "", f"is not a readable zip ({exc})") from exc
    with archive:
        infos = archive.infolist()
        seen: set[str] = set()
        for info in infos:
            reason = _unsafe_reason(info)
            if reason is None and info.filename in seen:
                reason = "appears twice in the archive"
            if reason is not None:
                raise UnsafeArchiveError(path.name, info.filename, reason)
            seen.add(info.filename)
    wanted = [i for i in infos if not i.is_dir() and is_history_file_name(i.filename)]
    skipped = tuple(
        SkippedEntry(i.filename, "not a streaming-history file (never read)")
        for i in infos
        if not i.is_dir() and not is_history_file_name(i.filename)
    )
    # Two members inflate and hash at once (zlib and hashlib release the GIL): the scan is
    # the first thing an import waits for, 1.5 -> 0.8 s for the 51 files of a 632 MB history.
    with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="zip-hash") as pool:
        files = tuple(pool.map(lambda info: _member_file(path, info), wanted))
    return InboxScan(path, files, skipped)


def _member_file(path: Path, info: zipfile.ZipInfo) -> ExportFile:
    def opener() -> BinaryIO:
        return _MemberStream(path, info)

    digest, size = hash_stream(opener())
    return ExportFile(info.filename, digest, size, f"{path.name}!{info.filename}", opener)


# A local file header (APPNOTE.TXT 4.3.7): 30 bytes, the name's and the extra field's lengths last.
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


class _Inflated(io.RawIOBase):
    """A deflated zip member's bytes, inflated by ISA-L, its CRC-32 and size checked at the end.

    Every member of Spotify's zips is deflated, and an import reads each one three times
    (hashed in the scan, spooled for DuckDB, landed raw): zipfile's zlib took 0.71 s to inflate
    and check a 633 MB history, ISA-L 0.39 s. The layout is the zip format's own: the member's
    data starts after its local header, and is `compress_size` bytes long.
    """

    def __init__(self, path: Path, info: zipfile.ZipInfo) -> None:
        super().__init__()
        self._info = info
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close(), as a stream's is
        try:
            self._file.seek(info.header_offset)
            signature, name_length, extra_length = _LOCAL_HEADER.unpack(
                self._file.read(_LOCAL_HEADER.size).ljust(_LOCAL_HEADER.size, b"\0")
            )
            if signature != _LOCAL_SIGNATURE:
                raise zipfile.BadZipFile("bad local file header")
            self._file.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
        except BaseException:
            self._file.close()
            raise
        self._left = info.compress_size
        self._inflate = isal_zlib.decompressobj(-15)
        self._crc = 0
        self._size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # to zlib, a max_length of 0 means no limit
        size = _CHUNK if size is None or size < 0 else size
        pending = self._inflate.unconsumed_tail
        while True:
            if not pending and self._left:
                pending = self._next_chunk()
            data = self._inflate.decompress(pending, size)
            if data:
                self._crc = isal_zlib.crc32(data, self._crc)
                self._size += len(data)
                if self._size > self._info.file_size:
                    raise zipfile.BadZipFile("inflates past its declared size")
                return data
            tail = self._inflate.unconsumed_tail
            if len(tail) < len(pending):
                pending = tail  # it took input into its own buffer: give it the rest
            elif self._left:
                pending = tail + self._next_chunk()  # it took none: it needs more than that
            else:
                break  # nothing more to give it, nothing more from it
        if not self._inflate.eof or self._inflate.unused_data or pending:
            raise zipfile.BadZipFile("deflate stream ends early or late")
        if self._crc != self._info.CRC or self._size != self._info.file_size:
            raise zipfile.BadZipFile(f"Bad CRC-32 or size for file {self._info.filename!r}")
        return b""

    def _next_chunk(self) -> bytes:
        chunk = self._file.read(min(self._left, _CHUNK))
        if not chunk:
            raise zipfile.BadZipFile("truncated member")
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class _MemberStream(io.RawIOBase):
    """One zip member, streamed, refusing to inflate past its declared size."""

    def __init__(self, path: Path, info: zipfile.ZipInfo) -> None:
        super().__init__()
        self._archive = zipfile.ZipFile(path)
        try:
            if info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 0x1:
                self._member: BinaryIO = _Inflated(path, info)  # type: ignore[assignment]
            else:  # stored, another method, or encrypted: zipfile reads it (or says why not)
                self._member = self._archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError, OSError) as exc:
            self._archive.close()
            raise CorruptArchiveError(path.name, info.filename, f"cannot be read ({exc})") from exc
        self._info = info
        self._path = path
        self._read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        try:
            data = self._member.read(size)
        except (zipfile.BadZipFile, zlib.error, isal_zlib.error, EOFError) as exc:
            raise CorruptArchiveError(
                self._path.name, self._info.filename, f"is damaged ({exc})"
            ) from exc
        self._read += len(data)
        if self._read > self._info.file_size:
            raise UnsafeArchiveError(
                self._path.name, self._info.filename, "inflates past its declared size"
            )
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._member.close()
            self._archive.close()
        super().close()


__all__ = [
    "ExportFile",
    "InboxScan",
    "SkippedEntry",
    "base_name",
    "open_inbox_item",
    "scan_inbox_item",
]
