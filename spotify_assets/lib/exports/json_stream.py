"""Reading an export's top-level JSON array as a stream (ijson): the elements, the format of the
first one, and each element back as compact JSON for the normaliser. Used by the streaming
engine and, for its first element, by the DuckDB engine (`parse.py`)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import BinaryIO

import ijson

from spotify_assets.lib.exports.errors import CorruptExportError, UnrecognizedExportError
from spotify_assets.lib.exports.formats import ExportFormat, detect_format

READ_SIZE = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"

try:  # the C backend is ~10x faster; pure Python still works, just slowly
    FAST_BACKEND = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on the wheel
    FAST_BACKEND = ijson.get_backend("python")
# yajl cannot hold integers beyond 64 bits ("integer overflow"); the Python backend can.
EXACT_BACKEND = ijson.get_backend("python")


class IntegerOverflow(Exception):
    """The fast backend met an integer it cannot represent: parse again with the exact one."""


class Reader:
    """A stream wrapper that hashes and counts every byte and hides a leading UTF-8 BOM.

    `peek_start()` looks at the first non-blank byte (to check for a top-level array) and
    keeps what it read for the parser.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._pending = b""
        self._started = False
        self.sha256 = hashlib.sha256()
        self.pulled = 0  # bytes taken from the underlying stream

    def _pull(self, size: int) -> bytes:
        data = self._stream.read(size)
        self.sha256.update(data)
        self.pulled += len(data)
        if data and not self._started:
            self._started = True
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        return data

    def read(self, size: int = -1) -> bytes:
        size = READ_SIZE if size is None or size < 0 else size
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return self._pull(size)

    def peek_start(self) -> bytes:
        while True:
            chunk = self._pull(READ_SIZE)
            self._pending += chunk
            stripped = self._pending.lstrip(_WHITESPACE)
            if stripped or not chunk:
                return stripped[:1]

    @property
    def consumed(self) -> int:
        return self.pulled - len(self._pending)

    def drain(self) -> None:
        while self._pull(READ_SIZE):
            pass


class KeyRecordingDict(dict):
    """A dict that remembers values it overwrote: JSON objects with repeated keys."""

    __slots__ = ("overwritten",)

    def __setitem__(self, key: str, value: object) -> None:
        if key in self:
            if not hasattr(self, "overwritten"):
                self.overwritten = []
            self.overwritten.append((key, self[key]))
        super().__setitem__(key, value)


def _finite(value: object) -> object:
    """JSON numbers past float range (1e999) become their text: DuckDB cannot read Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def dump(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))
    repeated = getattr(value, "overwritten", None)
    if repeated:
        # Put the overwritten pairs back so the normaliser sees (and reports) the repeated key.
        pairs = ",".join(f"{dump(k)}:{dump(v)}" for k, v in repeated)
        text = text[:-1] + "," + pairs + "}"
    return text


def _top_level_keys(reader: Reader, limit: int = 50) -> list[str]:
    keys: list[str] = []
    try:
        for prefix, event, value in EXACT_BACKEND.parse(reader, use_float=True):
            if prefix == "" and event == "map_key":
                keys.append(value)
                if len(keys) >= limit:
                    break
    except ijson.JSONError:
        pass
    return keys


def elements(reader: Reader, file_name: str, backend: object = FAST_BACKEND) -> Iterator[object]:
    """The top-level array's elements; raises CorruptExportError where the JSON breaks."""
    start = reader.peek_start()
    if start == b"":
        raise CorruptExportError(file_name, 0, reader.consumed, "no JSON value (empty file)")
    if start == b"{":
        raise UnrecognizedExportError(
            file_name, _top_level_keys(reader), "top-level value is an object, not an array"
        )
    if start != b"[":
        raise UnrecognizedExportError(
            file_name, [], f"top-level value starts with {start!r}, not an array"
        )
    count = 0  # elements handed out: on failure, the broken one has this index
    items = backend.items(
        reader, "item", use_float=True, map_type=KeyRecordingDict, buf_size=READ_SIZE
    )
    try:
        for element in items:
            yield element
            count += 1
    except ijson.JSONError as exc:
        detail = exc.args[0] if exc.args else str(exc)
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        first_line = str(detail).strip().splitlines()[0] if str(detail).strip() else "invalid"
        if "integer overflow" in first_line and backend is not EXACT_BACKEND:
            raise IntegerOverflow from exc
        raise CorruptExportError(file_name, count, reader.consumed, first_line) from exc


def detect(elements: Iterator[object], file_name: str) -> tuple[ExportFormat, object | None]:
    first = next(elements, None)
    if first is None:
        return ExportFormat.EMPTY, None
    return detect_format(file_name, first), first


def usual_keys(first: object) -> tuple[str, ...]:
    return tuple(first) if isinstance(first, dict) else ()
