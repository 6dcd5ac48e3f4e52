"""The import report: what happened to every row of one imported file.

The categories partition the rows read; each row is in exactly one, checked in this order:

1. `malformed`: the row cannot be a play (not an object, duplicate keys, missing or invalid
   timestamp, `ms_played` not an integer >= 0, a known field of the wrong type). Kept verbatim
   in `ParsedExport.malformed` with the reason.
2. `duplicate_in_file`: same content type, `ended_at`, `ms_played` and item (URIs and names) as
   an earlier row of the same file. Listed in `ParsedExport.duplicates` with the row it repeats.
3. `kept_tracks`, `kept_episodes`, `kept_audiobooks`, `kept_video`, `kept_unknown`: the rows
   that became `play_observations`, by content type ("unknown" = all content fields null).

So `malformed + duplicate_in_file + kept_* == rows_read`. `under_threshold` is NOT a category:
it counts the kept tracks with `ms_played` < 30 s ("of which", a subset of `kept_tracks`); they
stay in the observations and the `plays` table decides what to do with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from spotify_assets.lib.exports.errors import ImportReportError
from spotify_assets.lib.lake import Column
from spotify_assets.lib.pseudonyms import who

_PARTITION = (
    "kept_tracks",
    "kept_episodes",
    "kept_audiobooks",
    "kept_video",
    "kept_unknown",
    "duplicate_in_file",
    "malformed",
)


@dataclass(frozen=True)
class ImportReport:
    user_id: str
    file_name: str
    file_sha256: str
    format: str
    rows_read: int
    kept_tracks: int
    kept_episodes: int
    kept_audiobooks: int
    kept_video: int
    kept_unknown: int
    under_threshold: int
    duplicate_in_file: int
    malformed: int
    unknown_keys: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return (
            self.kept_tracks
            + self.kept_episodes
            + self.kept_audiobooks
            + self.kept_video
            + self.kept_unknown
        )

    def check(self) -> ImportReport:
        """Raise `ImportReportError` unless the categories sum exactly to `rows_read`."""
        counts = {name: getattr(self, name) for name in (*_PARTITION, "under_threshold")}
        negative = [name for name, value in counts.items() if value < 0]
        total = sum(getattr(self, name) for name in _PARTITION)
        problems = []
        if negative:
            problems.append(f"negative counts {negative}")
        if total != self.rows_read:
            problems.append(f"categories sum to {total}, rows_read is {self.rows_read}")
        if self.under_threshold > self.kept_tracks:
            problems.append(
                f"under_threshold {self.under_threshold} > kept_tracks {self.kept_tracks}"
            )
        if problems:
            raise ImportReportError(f"import report for {self.file_name}: " + "; ".join(problems))
        return self

    def to_markdown(self) -> str:
        """A small table for the Dagster UI and the CLI."""
        lines = [
            f"**{self.file_name}** ({self.format}, sha256 `{self.file_sha256[:12]}`), "
            f"{who(self.user_id)}",
            "",
            "| rows | count |",
            "|---|---:|",
            f"| read | {self.rows_read} |",
            f"| kept: tracks | {self.kept_tracks} |",
            f"| &nbsp;&nbsp;of which under 30 s | {self.under_threshold} |",
            f"| kept: podcast episodes | {self.kept_episodes} |",
            f"| kept: audiobook chapters | {self.kept_audiobooks} |",
            f"| kept: video | {self.kept_video} |",
            f"| kept: no content fields (unknown) | {self.kept_unknown} |",
            f"| dropped: duplicate in file | {self.duplicate_in_file} |",
            f"| dropped: malformed (kept aside) | {self.malformed} |",
        ]
        if self.unknown_keys:
            keys = ", ".join(f"`{k}`" for k in self.unknown_keys)
            lines += ["", f"Unknown keys kept in `extra`: {keys}"]
        return "\n".join(lines) + "\n"

    def to_row(self) -> dict[str, Any]:
        """One row of the `import_reports` lake table (see `IMPORT_REPORT_COLUMNS`)."""
        row = asdict(self)
        row["unknown_keys"] = list(self.unknown_keys)
        return row


IMPORT_REPORT_COLUMNS: tuple[Column, ...] = (
    Column("user_id", pa.string(), "Our user id of the importer.", False),
    Column("file_name", pa.string(), "The file as named in the inbox (zip/member).", False),
    Column("file_sha256", pa.string(), "sha256 of the file's bytes.", False),
    Column("format", pa.string(), "Detected export format (formats.ExportFormat).", False),
    Column("rows_read", pa.int64(), "Elements in the file's JSON array.", False),
    Column("kept_tracks", pa.int64(), "Rows kept as track observations.", False),
    Column("kept_episodes", pa.int64(), "Rows kept as podcast-episode observations.", False),
    Column("kept_audiobooks", pa.int64(), "Rows kept as audiobook observations.", False),
    Column("kept_video", pa.int64(), "Rows kept as video observations.", False),
    Column("kept_unknown", pa.int64(), "Rows kept with all content fields null.", False),
    Column(
        "under_threshold",
        pa.int64(),
        "Of kept_tracks: plays under 30 s (not a separate category).",
        False,
    ),
    Column("duplicate_in_file", pa.int64(), "Rows repeating an earlier row of the file.", False),
    Column("malformed", pa.int64(), "Rows that cannot be a play, kept aside verbatim.", False),
    Column(
        "unknown_keys",
        pa.list_(pa.string()),
        "Keys this version does not know, kept in play_observations.extra.",
        False,
    ),
)
