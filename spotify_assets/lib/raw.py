"""The raw landing zone: every API body and imported file as received, gzip, append-only.

It is the source of truth the lake is rebuilt from. Objects are content-addressed (sha256 of
the uncompressed bytes), so landing the same body twice is a no-op, and nothing is rewritten.
Layout: `raw/<source>/<user>/<YYYY-MM-DD>/<HHMMSS>_<sha12>.<ext>.gz` for timestamped pulls and
`raw/<source>/<user>/<sha256>.<ext>.gz` for imported files (`by_hash=True`).

Receipts (`raw/receipts/<user>/<YYYY-MM-DD>/<HHMMSSffffff>_<sha12>.json.gz`) say how a lake
write of an API snapshot was made: which bodies, in which order, answering which requests, and
the few decisions the run took (the day it was filed under, its moment). A write of a snapshot
table lands its receipt first, then writes the lake; `spotify-assets rebuild` replays the
receipts in the order they were written, so the lake comes back as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
from isal import igzip

from spotify_assets.lib.atomic import (
    publish_temp,
    sweep_stale_temps,
    temp_path_for,
    write_bytes_atomic,
)
from spotify_assets.lib.ids import validate_user_id

_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_EXT = re.compile(r"^[a-z0-9]{1,8}$")
RECEIPTS = "receipts"
# The receipts' folder of snapshots that are the app's, not one listener's.
APP_RECEIPTS = "_app"
_RECEIPT_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})/(\d{12})_[0-9a-f]{12}\.json\.gz$")

# The landings of the current thread's (context's) recording: (request, raw path) pairs, or
# (request, {"error": ...}) for a request that failed (`note_failure`).
Call = tuple[str, str | dict]
_recording: ContextVar[list[Call] | None] = ContextVar("raw_recording", default=None)


@contextmanager
def recording() -> Iterator[list[Call]]:
    """Collect what `note_landing` and `note_failure` see in this context meanwhile: the
    requests a lake write is made from and where their bodies landed, for its receipt."""
    calls: list[Call] = []
    token = _recording.set(calls)
    try:
        yield calls
    finally:
        _recording.reset(token)


def note_landing(request: str, ref: RawRef, root: Path) -> None:
    """Tell the current recording (if any) that the answer to `request` landed at `ref`."""
    calls = _recording.get()
    if calls is not None:
        calls.append((request, ref.path.relative_to(root).as_posix()))


def note_failure(request: str, error: str, endpoint: str, status: int | None) -> None:
    """Tell the current recording (if any) that `request` failed for good with `error` (a
    class of `lib.spotify.errors`): no body lands, but what the run did next depended on it
    (a 404 is an answer too), so a replay must fail there the same way."""
    calls = _recording.get()
    if calls is not None:
        calls.append((request, {"error": error, "endpoint": endpoint, "status": status}))


def receipt_row(schema: pa.Schema, row: dict) -> dict:
    """A table row a receipt carries (`put_receipt(..., row=...)`) back in the table's types:
    JSON kept its date and timestamp columns as ISO text; every other value JSON keeps as it
    was."""
    typed = dict(row)
    for field in schema:
        value = row.get(field.name)
        if value is None:
            continue
        if pa.types.is_timestamp(field.type):
            typed[field.name] = datetime.fromisoformat(value)
        elif pa.types.is_date(field.type):
            typed[field.name] = date.fromisoformat(value)
    return typed


_BLOCK = 1 << 20


def _blocks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """The stream's bytes in blocks of exactly `size` (the last one shorter), however its
    reads return them."""
    pending = b""
    while chunk := stream.read(size - len(pending)):
        pending += chunk
        if len(pending) == size:
            yield pending
            pending = b""
    if pending:
        yield pending


@dataclass(frozen=True)
class RawRef:
    path: Path
    sha256: str
    size: int
    created: bool  # False when an identical object was already landed


def _check(digest: hashlib._Hash, sha256: str) -> None:
    if digest.hexdigest() != sha256:
        raise ValueError(f"content changed while landing: sha256 is not {sha256}")


@dataclass
class StagedRaw:
    """A landed-but-not-published raw object (see `RawStore.stage_stream`)."""

    target: Path
    tmp: Path | None  # None: the object was already landed
    sha256: str
    size: int

    def commit(self) -> RawRef:
        if self.tmp is None:
            return RawRef(self.target, self.sha256, self.size, created=False)
        if self.target.exists():  # landed meanwhile by another run: same bytes by hash
            self.discard()
            return RawRef(self.target, self.sha256, self.size, created=False)
        publish_temp(self.tmp, self.target)
        self.tmp = None
        return RawRef(self.target, self.sha256, self.size, created=True)

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


class RawStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, source: str, user_id: str) -> Path:
        if not _SOURCE.match(source):
            raise ValueError(f"invalid raw source name {source!r}")
        return self.root / source / validate_user_id(user_id)

    def put(
        self,
        source: str,
        user_id: str,
        body: bytes,
        *,
        ext: str = "json",
        received_at: datetime | None = None,
        by_hash: bool = False,
    ) -> RawRef:
        if not _EXT.match(ext):
            raise ValueError(f"invalid extension {ext!r}")
        digest = hashlib.sha256(body).hexdigest()
        base = self._dir(source, user_id)
        if by_hash:
            target = base / f"{digest}.{ext}.gz"
        else:
            when = (received_at or datetime.now(UTC)).astimezone(UTC)
            target = base / when.strftime("%Y-%m-%d") / f"{when:%H%M%S}_{digest[:12]}.{ext}.gz"
        if target.exists():
            return RawRef(target, digest, len(body), created=False)
        sweep_stale_temps(target.parent)  # what a writer killed mid-landing left here
        # mtime=0 keeps the gzip bytes a pure function of the body.
        write_bytes_atomic(target, gzip.compress(body, compresslevel=6, mtime=0))
        return RawRef(target, digest, len(body), created=True)

    def stage_stream(
        self, source: str, user_id: str, stream: BinaryIO, *, sha256: str, ext: str = "json"
    ) -> StagedRaw:
        """Land a large file by its (already known) hash, gzip-compressing it in chunks, in two
        steps: read, check and compress now, into a hidden temp file; `commit()` renames it into
        place, `discard()` drops it. Lets a caller land a file while it is still deciding
        whether to keep it, without a reader ever seeing it meanwhile.

        The bytes are read and checked against `sha256` even when the object is already
        landed, so a staged file always proves the stream held the announced content.
        """
        if not _EXT.match(ext) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("invalid extension or sha256")
        target = self._dir(source, user_id) / f"{sha256}.{ext}.gz"
        digest = hashlib.sha256()
        size = 0
        if target.exists():
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            _check(digest, sha256)
            return StagedRaw(target, None, sha256, size)
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(target.parent)  # what a writer killed mid-landing left here
        tmp = temp_path_for(target)
        try:
            # ISA-L at level 1: exports run to gigabytes; landing them must not cost more than
            # parsing (zlib's level 1 took 4x the CPU for the same size). Its output depends on
            # how the body is cut into writes, so it is fed fixed blocks; no file name in the
            # header (gzip would take the temp file's) and mtime 0: the bytes are a function of
            # the body alone. Objects landed before (zlib) read the same: any gzip does.
            with open(tmp, "wb") as out:
                with igzip.GzipFile(
                    filename="", fileobj=out, mode="wb", compresslevel=1, mtime=0
                ) as gz:
                    for chunk in _blocks(stream, _BLOCK):
                        digest.update(chunk)
                        size += len(chunk)
                        gz.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            _check(digest, sha256)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StagedRaw(target, tmp, sha256, size)

    def put_receipt(self, user_id: str, recipe: str, writes: list[tuple[str, str]],
                    at: datetime | None = None, **fields: object) -> Path:
        """Land a receipt (see the module docstring): `recipe` names the code that replays it,
        `writes` the (table, partition) pairs it writes. Named by `at` (now) to the
        microsecond, so the rebuild replays receipts in the order their writes happened."""
        receipt = {"recipe": recipe, "writes": [list(w) for w in writes], **fields}
        body = json.dumps(receipt, sort_keys=True, default=str).encode()
        when = (at or datetime.now(UTC)).astimezone(UTC)
        name = f"{when:%H%M%S%f}_{hashlib.sha256(body).hexdigest()[:12]}.json.gz"
        target = self._dir(RECEIPTS, user_id) / f"{when:%Y-%m-%d}" / name
        write_bytes_atomic(target, gzip.compress(body, compresslevel=6, mtime=0))
        return target

    def receipts(self) -> list[dict]:
        """Every user's receipts, oldest first (each with its `user_id`)."""
        found = []
        base = self.root / RECEIPTS
        for user_dir in sorted(base.iterdir()) if base.is_dir() else []:
            for path in self.iter(RECEIPTS, user_dir.name):
                match = _RECEIPT_NAME.search(path.as_posix())
                if match:
                    found.append((match.group(1), match.group(2), user_dir.name, path))
        return [{**json.loads(self.read(path)), "user_id": user}
                for _, _, user, path in sorted(found)]

    def user_of(self, landed: str | Path) -> str:
        """The user whose folder holds a landed object (`<source>/<user>/...`), from its path
        under the root or relative to it (as a recording notes a landing)."""
        path = Path(landed)
        if path.is_absolute():
            path = path.relative_to(self.root)
        if len(path.parts) < 3 or not _SOURCE.match(path.parts[0]):
            raise ValueError(f"not a landed raw object: {landed}")
        return validate_user_id(path.parts[1])

    def find_by_hash(self, source: str, user_id: str, sha256: str) -> Path | None:
        base = self._dir(source, user_id)
        matches = sorted(base.glob(f"{sha256}.*.gz"))
        return matches[0] if matches else None

    def iter(self, source: str, user_id: str) -> Iterator[Path]:
        base = self._dir(source, user_id)
        if base.exists():
            yield from sorted(p for p in base.rglob("*.gz") if not p.name.startswith("."))

    @staticmethod
    def read(path: Path) -> bytes:
        return gzip.decompress(Path(path).read_bytes())

    def remove_user(self, user_id: str) -> tuple[int, int]:
        """Delete every raw object of a user (the "forget me" request): (files, bytes)."""
        files = size = 0
        validate_user_id(user_id)
        if not self.root.exists():
            return 0, 0
        for source_dir in self.root.iterdir():
            user_dir = source_dir / user_id
            if not user_dir.is_dir():
                continue
            for path in sorted(user_dir.rglob("*"), reverse=True):
                if path.is_file():
                    size += path.stat().st_size
                    files += 1
                    path.unlink()
                else:
                    path.rmdir()
            user_dir.rmdir()
        return files, size
