"""How far the import of one inbox item got: history files parsed, rows read, bytes of history
read (the percent), then the stages after the parse. Counts only: no user id, no content."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from spotify_assets.lib.exports.inbox import ExportFile
from spotify_assets.lib.exports.parse import ParseProgress
from spotify_assets.lib.progress import Progress


class ImportProgress(Progress):
    """Several files of an item may be parsed at once: each one's rows and bytes so far are
    kept apart until it is done, and the totals are the finished files plus those in flight."""

    def __init__(self, what: str) -> None:
        super().__init__(what, unit="bytes")
        self._counts = threading.Lock()
        self._done_rows = 0
        self._done_bytes = 0
        self._done_files = 0
        self._in_flight: dict[int, tuple[int, float]] = {}

    def start(self, files: Sequence[ExportFile]) -> None:
        self.update(
            files_total=len(files), total=float(sum(f.size for f in files)) or None,
            stage="parsing",
        )  # fmt: skip

    def parsing(self, export_file: ExportFile) -> ParseProgress:
        """The parser's callback for `export_file` (called from the thread parsing it)."""

        def on_batch(rows: int, fraction: float | None) -> None:
            with self._counts:
                self._in_flight[id(export_file)] = (rows, (fraction or 0.0) * export_file.size)
                self._report()

        return on_batch

    def parsed(self, export_file: ExportFile, rows: int) -> None:
        with self._counts:
            self._in_flight.pop(id(export_file), None)
            self._done_rows += rows
            self._done_bytes += export_file.size
            self._done_files += 1
            self._report()

    def _report(self) -> None:
        rows = self._done_rows + sum(r for r, _ in self._in_flight.values())
        done = self._done_bytes + sum(b for _, b in self._in_flight.values())
        self.update(rows=rows, done=float(done), files_done=self._done_files)

    def summary(self, status: str) -> str:
        state = self.snapshot()
        seconds = state.elapsed_s
        rate = f", {state.rows / seconds:,.0f} rows/s" if state.rows else ""
        return (
            f"{state.what}: {status}, {state.files_done} history file(s), {state.rows:,} rows "
            f"in {seconds:.1f} s{rate}"
        )
