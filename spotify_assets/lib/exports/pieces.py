"""Cut one large JSON array file into pieces DuckDB reads on several threads at once.

DuckDB reads a file of `format='array'` on one thread. A file of 2 x PIECE_MIN_BYTES (64 MiB)
or more is cut where one top-level element ends and the next begins (`}`, optional blanks, `,`,
blanks, `{`), and each piece is written as a JSON array of its own to a private temp folder;
the parser reads each piece on its own thread and puts their rows back in order.

A cut is not proven right before DuckDB reads the pieces (that would mean parsing up to it),
but a wrong one cannot go unnoticed: a cut inside a string leaves an unterminated string in the
piece before it, and a cut inside a nested value leaves unbalanced brackets, so DuckDB rejects
the pieces and the caller reads the whole file on one thread instead (`parse._read_rows`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

PIECE_MIN_BYTES = 32 * 1024**2
# How far past each even cut point a boundary is looked for: elements are ~300 bytes; a file
# with no boundary in a window this long is read whole.
_WINDOW = 1 << 20
_BOUNDARY = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")


def piece_count(size: int, threads: int | None = None) -> int:
    """How many pieces a file of `size` bytes is read in: one per thread DuckDB has, each of
    PIECE_MIN_BYTES or more."""
    threads = threads or os.cpu_count() or 1
    return max(1, min(threads, size // PIECE_MIN_BYTES))


def cuts(path: Path, pieces: int) -> list[tuple[int, int]]:
    """(end of one piece, start of the next) for each cut: the offset just past an element's
    `}` and the offset of the next element's `{`; [] when the file is not cut."""
    size = path.stat().st_size
    found: list[tuple[int, int]] = []
    with open(path, "rb") as handle:
        for k in range(1, pieces):
            at = max(size * k // pieces, found[-1][1] if found else 0)
            handle.seek(at)
            match = _BOUNDARY.search(handle.read(_WINDOW))
            if match is None:
                return []
            found.append((at + match.start() + 1, at + match.end() - 1))
    return found


def _copy(source: int, target: int, start: int, end: int) -> None:
    while start < end:
        sent = os.sendfile(target, source, start, end - start)
        if sent == 0:
            raise OSError(f"file shorter than expected at byte {start}")
        start += sent


@contextlib.contextmanager
def pieces_of(path: Path, spool_dir: Path | None = None) -> Iterator[list[Path]]:
    """The file as a list of JSON array files, in order: `[path]` itself when it is not cut."""
    found = cuts(path, piece_count(path.stat().st_size))
    if not found:
        yield [path]
        return
    starts = [0, *(start for _, start in found)]
    ends = [*(end for end, _ in found), path.stat().st_size]
    with tempfile.TemporaryDirectory(dir=spool_dir, prefix=".export-pieces-") as folder:
        paths = []
        with open(path, "rb") as source:
            for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
                piece = Path(folder) / f"{index:03d}.json"
                with open(piece, "wb") as target:
                    if index:
                        target.write(b"[")
                        target.flush()
                    _copy(source.fileno(), target.fileno(), start, end)
                    if index < len(found):
                        target.write(b"]")
                paths.append(piece)
        yield paths
