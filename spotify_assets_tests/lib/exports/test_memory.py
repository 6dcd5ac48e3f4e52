"""The import's memory estimate and the machine's available memory."""

import io
from pathlib import Path

import pytest

from spotify_assets.lib.exports.errors import ExportTooLargeError
from spotify_assets.lib.exports.inbox import ExportFile
from spotify_assets.lib.exports.memory import (
    BASE_BYTES,
    available_memory,
    check_memory,
    memory_needed,
)

MIB = 1024**2


def _file(name: str, size: int) -> ExportFile:
    return ExportFile(name, "0" * 64, size, f"inbox/{name}", lambda: io.BytesIO(b""))


def test_parsed_tables_add_up_and_the_biggest_parse_counts_once() -> None:
    one = memory_needed([_file("a.json", 100 * MIB)])
    two = memory_needed([_file("a.json", 100 * MIB), _file("b.json", 100 * MIB)])
    assert BASE_BYTES + 100 * MIB < one < two < 2 * one
    assert memory_needed([]) == 0


def test_available_memory_reads_memavailable(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 24000000 kB\nMemFree: 100 kB\nMemAvailable: 2048 kB\n")
    assert available_memory(meminfo) == 2048 * 1024


def test_check_memory_names_the_biggest_file() -> None:
    files = [_file("small.json", MIB), _file("huge.json", 900 * MIB)]
    with pytest.raises(ExportTooLargeError, match=r"inbox/huge.json: 900 MiB of JSON"):
        check_memory(files, limit=BASE_BYTES + 100 * MIB)
    check_memory(files, limit=memory_needed(files))  # exactly enough is enough
