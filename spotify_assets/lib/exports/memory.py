"""How much memory importing export files takes, and whether the machine has it.

An inbox item is parsed whole before anything is published (all or nothing), so its parsed
tables are held together; each file being parsed (`PARSE_THREADS` at once) briefly needs about
its own size again. Measured: a
603 MB file keeps a ~310 MB table; importing one 2.36 GiB file peaked at 2.91 GiB RSS (the
estimate below says 2.96 GiB).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from spotify_assets.lib.exports.errors import ExportTooLargeError
from spotify_assets.lib.exports.inbox import ExportFile
from spotify_assets.lib.exports.parse import PARSE_THREADS

BASE_BYTES = 256 * 1024**2  # the process itself: Python, DuckDB, Arrow, Dagster
KEPT_PER_BYTE = 0.5  # parsed table per byte of JSON, held until the item is published
PARSE_PER_BYTE = 0.65  # DuckDB's transient buffers of each file being parsed


def memory_needed(files: Sequence[ExportFile]) -> int:
    """Estimated peak bytes to import `files` as one item."""
    if not files:
        return 0
    sizes = sorted((f.size for f in files), reverse=True)
    parsing_at_once = sum(sizes[:PARSE_THREADS])
    return int(BASE_BYTES + KEPT_PER_BYTE * sum(sizes) + PARSE_PER_BYTE * parsing_at_once)


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Bytes the kernel says a new allocation can get without swapping, or None if unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(files: Sequence[ExportFile], limit: int | None = None) -> None:
    """Raise ExportTooLargeError naming the biggest file when the item cannot fit."""
    available = limit if limit is not None else available_memory()
    needed = memory_needed(files)
    if available is not None and files and needed > available:
        biggest = max(files, key=lambda f: f.size)
        raise ExportTooLargeError(biggest.origin, biggest.size, needed, available)
