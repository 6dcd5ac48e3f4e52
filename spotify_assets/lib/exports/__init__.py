"""Import of Spotify privacy exports: detection, streaming parse, normalised rows, reports.

A pure library (no Dagster): `open_inbox_item`/`scan_inbox_item` turn an inbox item into
`ExportFile`s, `parse_export_file` turns one into a `ParsedExport` (observations table in
`OBSERVATION_SCHEMA`, malformed rows, in-file duplicates, `ImportReport`), or raises.
"""

from spotify_assets.lib.exports.errors import (
    CorruptArchiveError,
    CorruptExportError,
    ExportImportError,
    ExportTooLargeError,
    FileChangedError,
    ImportReportError,
    UnrecognizedExportError,
    UnsafeArchiveError,
    UnsupportedInboxItemError,
)
from spotify_assets.lib.exports.formats import ExportFormat, detect_format, is_history_file_name
from spotify_assets.lib.exports.inbox import (
    ExportFile,
    InboxScan,
    SkippedEntry,
    open_inbox_item,
    scan_inbox_item,
)
from spotify_assets.lib.exports.normalize import DuplicateRow, MalformedRow
from spotify_assets.lib.exports.parse import ParsedExport, parse_export_file, parse_export_path
from spotify_assets.lib.exports.report import IMPORT_REPORT_COLUMNS, ImportReport
from spotify_assets.lib.exports.schema import (
    OBSERVATION_COLUMNS,
    OBSERVATION_SCHEMA,
    PLAY_THRESHOLD_MS,
    PlayObservation,
)

__all__ = [
    "IMPORT_REPORT_COLUMNS",
    "OBSERVATION_COLUMNS",
    "OBSERVATION_SCHEMA",
    "PLAY_THRESHOLD_MS",
    "CorruptArchiveError",
    "CorruptExportError",
    "DuplicateRow",
    "ExportFile",
    "ExportFormat",
    "ExportImportError",
    "ExportTooLargeError",
    "FileChangedError",
    "ImportReport",
    "ImportReportError",
    "InboxScan",
    "MalformedRow",
    "ParsedExport",
    "PlayObservation",
    "SkippedEntry",
    "UnrecognizedExportError",
    "UnsafeArchiveError",
    "UnsupportedInboxItemError",
    "detect_format",
    "is_history_file_name",
    "open_inbox_item",
    "parse_export_file",
    "parse_export_path",
    "scan_inbox_item",
]
