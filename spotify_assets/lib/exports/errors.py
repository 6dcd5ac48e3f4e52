"""Errors of the export import. Each names the file (and where in it) so an operator can act."""

from __future__ import annotations

from collections.abc import Iterable


class ExportImportError(Exception):
    """Base class: something about one export file (or archive) prevents importing it."""


class ExportTooLargeError(ExportImportError):
    """Parsing the file would need more memory than the import may use: refused up front,
    instead of the run being killed half-way by the kernel (with every other user's import)."""

    def __init__(self, file_name: str, size: int, needed: int, available: int) -> None:
        mib = 1024**2
        super().__init__(
            f"{file_name}: {size / mib:,.0f} MiB of JSON needs ~{needed / mib:,.0f} MiB of "
            f"memory to import, {available / mib:,.0f} MiB available (Spotify's own history "
            "files are ~10-15 MiB each; split this one, or give the import more memory with "
            "SPOTIFY_ASSETS_IMPORT_MEMORY)"
        )


class UnrecognizedExportError(ExportImportError):
    """The JSON is not an array of objects with a Spotify streaming-history key set."""

    def __init__(self, file_name: str, keys_seen: Iterable[str], detail: str) -> None:
        self.file_name = file_name
        self.keys_seen = sorted(keys_seen)
        self.detail = detail
        super().__init__(
            f"{file_name}: not a Spotify streaming-history export ({detail}); "
            f"keys seen: {self.keys_seen}"
        )


class CorruptExportError(ExportImportError):
    """The file is not valid JSON (truncated download, damaged bytes, trailing garbage).

    `row` is the 0-based index of the array element being parsed when the parser failed (the
    elements before it were complete); `byte_offset` is how many bytes the parser had consumed:
    exact for a truncated file (its length), otherwise the end of the read block holding the
    fault. The caller must keep nothing from this file.
    """

    def __init__(self, file_name: str, row: int, byte_offset: int, detail: str) -> None:
        self.file_name = file_name
        self.row = row
        self.byte_offset = byte_offset
        self.detail = detail
        super().__init__(
            f"{file_name}: corrupt JSON at array element {row} "
            f"(near byte {byte_offset}): {detail}; nothing from this file was imported"
        )


class UnsafeArchiveError(ExportImportError):
    """A zip entry could escape the target folder or exhaust memory/disk; the zip is refused."""

    def __init__(self, archive: str, entry: str, reason: str) -> None:
        self.archive = archive
        self.entry = entry
        self.reason = reason
        super().__init__(
            f"{archive}: refused, entry {entry!r} {reason}; nothing from this archive was imported"
        )


class CorruptArchiveError(ExportImportError):
    """A zip (or one of its members) cannot be read: damaged data, bad CRC, not a zip."""

    def __init__(self, archive: str, entry: str, reason: str) -> None:
        self.archive = archive
        self.entry = entry
        self.reason = reason
        where = f"entry {entry!r} " if entry else ""
        super().__init__(f"{archive}: {where}{reason}; nothing from this archive was imported")


class UnsupportedInboxItemError(ExportImportError):
    """An inbox item that is neither a `.json` file nor a `.zip` archive."""


class FileChangedError(ExportImportError):
    """The bytes parsed do not hash to the sha256 the file was announced with."""


class ImportReportError(AssertionError):
    """An import report whose categories do not partition the rows read (a bug, never data)."""
