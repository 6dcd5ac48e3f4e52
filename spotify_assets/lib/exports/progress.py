"""How far the import of one inbox item got: history files parsed, rows read, bytes of history
read (the percent), then the stages after the parse. Counts only: no user id, no content."""

from __future__ import annotations

from collections.abc import Sequence

from spotify_assets.lib.exports.inbox import ExportFile
from spotify_assets.lib.exports.parse import ParseProgress
from spotify_assets.lib.progress import Progress


class ImportProgress(Progress):
    def __init__(self, what: str) -> None:
        super().__init__(what, unit="bytes")
        self._base_rows = 0
        self._base_bytes = 0

    def start(self, files: Sequence[ExportFile]) -> None:
        self.update(
            files_total=len(files), total=float(sum(f.size for f in files)) or None,
            stage="parsing",
        )  # fmt: skip

    def parsing(self, export_file: ExportFile) -> ParseProgress:
        """The parser's callback for `export_file` (the next file of the item)."""

        def on_batch(rows: int, fraction: float | None) -> None:
            part = (fraction or 0.0) * export_file.size
            self.update(rows=self._base_rows + rows, done=float(self._base_bytes + part))

        return on_batch

    def parsed(self, export_file: ExportFile, rows: int) -> None:
        self._base_rows += rows
        self._base_bytes += export_file.size
        state = self.snapshot()
        self.update(
            rows=self._base_rows, done=float(self._base_bytes), files_done=state.files_done + 1
        )

    def summary(self, status: str) -> str:
        state = self.snapshot()
        seconds = state.elapsed_s
        rate = f", {state.rows / seconds:,.0f} rows/s" if state.rows else ""
        return (
            f"{state.what}: {status}, {state.files_done} history file(s), {state.rows:,} rows "
            f"in {seconds:.1f} s{rate}"
        )
