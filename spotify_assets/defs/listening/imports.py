"""Importing privacy exports dropped into `data/inbox/<user>/` (zip as mailed, or loose JSON).

Per inbox item the import is all-or-nothing: every history file in it is parsed completely
(its raw copy staged once it has parsed, in a hidden temp file) before anything is published.
Then the raw copies are renamed in, and every file's rows, rejects and report become current in
one lake commit, with the days they changed marked stale; a run killed before that commit
leaves nothing visible and simply redoes the item (same hashes, same files). A file whose hash
has a report is never imported again. An imported item is deleted (its files are kept in raw,
gzip'd) and leaves a receipt in `imported/`; a refused one moves to `failed/` with a
`.error.txt` beside it.
"""

import errno
import hashlib
import json
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.listening.history import STALE_SCOPE
from spotify_assets.defs.listening.tables import EXPORTED_PLAYS, IMPORT_REJECTS, IMPORT_REPORTS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.clock import floor_ms
from spotify_assets.lib.exports.progress import ImportProgress
from spotify_assets.lib.ids import InvalidIdError
from spotify_assets.lib.lake import LakeTransaction
from spotify_assets.lib.progress import report_every
from spotify_assets.lib.raw import RawStore, StagedRaw
from spotify_assets.lib.settings import Settings

if TYPE_CHECKING:
    from spotify_assets.lib.exports import ExportFile, ParsedExport

RAW_SOURCE = "exports"
INBOX_TAG = "spotify_assets/inbox"
INBOX_SUFFIXES = (".zip", ".json")


@dataclass
class ItemResult:
    user_id: str
    item: str
    # imported | already_imported | failed | still_changing | postponed (the machine, not the
    # file, failed: e.g. the disk is full; left in the inbox and tried again)
    status: str
    reports: list = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # zip entries that are not history
    error: str = ""
    days: set[str] = field(default_factory=set)


def pending_items(inbox: Path) -> list[tuple[str, Path]]:
    """(user folder name, item path) of every file waiting in the inbox, oldest name first."""
    items = []
    if not inbox.exists():
        return items
    for user_dir in sorted(p for p in inbox.iterdir() if p.is_dir()):
        for item in sorted(user_dir.iterdir()):
            if (
                item.is_file()
                and not item.name.startswith(".")
                and (item.suffix.lower() in INBOX_SUFFIXES)
            ):
                items.append((user_dir.name, item))
    return items


def imported_hashes(warehouse: Warehouse, user_id: str) -> set[str]:
    prefix = f"{user_id}/"
    return {
        key.removeprefix(prefix)
        for key in warehouse.partitions(IMPORT_REPORTS)
        if key.startswith(prefix)
    }


def import_item(
    settings: Settings,
    warehouse: Warehouse,
    raw: RawStore,
    user_id: str,
    item: Path,
    progress: ImportProgress | None = None,
) -> ItemResult:
    """Import one inbox item for one user; never raises for bad input (it is reported).
    `progress` follows it (files, rows, bytes read, stage) for a run log or a terminal bar."""
    from spotify_assets.lib.exports import (
        ExportFile,
        ExportImportError,
        ParsedExport,
        parse_export_file,
        scan_inbox_item,
    )
    from spotify_assets.lib.exports.memory import check_memory
    from spotify_assets.lib.exports.parse import PARSE_THREADS
    from spotify_assets.lib.users.registry import UnknownUserError, UserRegistry

    result = ItemResult(user_id, item.name, "imported")
    progress = progress or ImportProgress(item.name)
    before = _stamp(item)
    try:
        # A typo'd folder (`inbox/DEMO_LIGHT/`) must not make a phantom listener, in UTC.
        UserRegistry(settings).require_listener(user_id)
        done = imported_hashes(warehouse, user_id)
        scan = scan_inbox_item(item)
        result.skipped = [f"{s.name} ({s.reason})" for s in scan.skipped]
        if not scan.files:
            # A zip of the wrong kind (account data without history, a playlist export): not
            # "already imported", which would hide that nothing of it was ever read.
            seen = ", ".join(s.name for s in scan.skipped[:5]) or "nothing"
            raise ExportImportError(
                f"{item.name}: no streaming-history file in it (request \"Extended streaming "
                f"history\" or \"Account data\" on Spotify's privacy page); entries: {seen}"
            )
        todo = [f for f in scan.files if f.sha256 not in done]
        check_memory(todo, settings.import_memory_bytes)
        progress.start(todo)
        staged: list[Future[StagedRaw]] = []

        def parse(export_file: ExportFile) -> ParsedExport:
            export = parse_export_file(
                user_id, export_file, verify=False, progress=progress.parsing(export_file)
            )
            progress.parsed(export_file, export.report.rows_read)
            return export

        # Each file's raw copy is staged (read, sha256-checked, gzip'd into a hidden temp file)
        # once it has parsed, while the rest of the import goes on: landing a large file
        # beside DuckDB's read took a core from it, where after it the second core is idle
        # (building the rows and encoding the lake file run on one). The staging's hash check
        # is the proof that the file parsed did not change since the scan: nothing is committed
        # before it. A zip's files are parsed PARSE_THREADS at a time: DuckDB reads one JSON
        # array on one thread. Nothing becomes visible until every file parsed and landed.
        landing = ThreadPoolExecutor(1, thread_name_prefix="raw-landing")
        parsing = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="export-parse")
        try:
            parses = [parsing.submit(parse, f) for f in todo]
            staged = [landing.submit(_stage_after, raw, user_id, f, p)
                      for f, p in zip(todo, parses, strict=True)]  # fmt: skip
            parsed = [(f, p.result()) for f, p in zip(todo, parses, strict=True)]
            result.days = set().union(*(_days(export.observations) for _, export in parsed))
            progress.update(stage="writing the lake")
            # One moment for the reports and the receipt: a rebuild reads it back from the
            # receipt.
            imported_at = floor_ms(datetime.now(UTC))
            # One commit for the whole item: a reader never sees half of a zip's files, nor a
            # report without its rows; the days it changed are stale from that commit on.
            with warehouse.transaction(stale={STALE_SCOPE: result.days}) as tx:
                _write_files(tx, user_id, parsed, imported_at)
                progress.update(stage="keeping the raw copies")
                for stage in [s.result() for s in staged]:
                    stage.commit()
        except BaseException:
            # The first failure is the item's: the files not yet started are not parsed.
            parsing.shutdown(cancel_futures=True)
            landing.shutdown(cancel_futures=True)
            _discard(staged)
            raise
        finally:
            parsing.shutdown()
            landing.shutdown()
        result.reports.extend(export.report for _, export in parsed)
        if not parsed:
            result.status = "already_imported"
        _receipt(item, settings.inbox_dir / user_id / "imported", scan, result, imported_at)
    except OSError as exc:
        if exc.errno not in _MACHINE_ERRORS:
            return _refuse(settings, item, result, exc, before)
        # Not the export's fault: nothing was committed, the item waits in the inbox.
        result.status = "postponed"
        result.error = (
            f"{exc.strerror or exc} while importing; left in the inbox, tried again on the "
            "next import run"
        )
    except (ExportImportError, InvalidIdError, UnknownUserError, ValueError) as exc:
        return _refuse(settings, item, result, exc, before)
    return result


# The machine failed (a full disk, a quota, an I/O error), not the export.
_MACHINE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}


def _refuse(
    settings: Settings, item: Path, result: ItemResult, exc: Exception, before
) -> ItemResult:
    """An export that cannot be imported: moved to `failed/` with its reason beside it, unless
    it was still being copied in (then it stays, and is tried once it is whole)."""
    if _stamp(item) != before:
        # Still being copied in (a large export read half-written fails as truncated): left
        # where it is; the sensor sees it change and tries again once it is whole.
        result.status = "still_changing"
        result.error = f"changed while importing, left in the inbox to retry ({exc})"
        return result
    result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
    target = _move(item, settings.inbox_dir / result.user_id / "failed")
    target.with_name(target.name + ".error.txt").write_text(result.error + "\n")
    return result


def _stamp(item: Path) -> tuple[int, int] | None:
    """(size, mtime) of an inbox item, None once it is gone."""
    try:
        stat = item.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _days(observations: pa.Table) -> set[str]:
    from spotify_assets.lib.dedupe import days_touched

    return days_touched(observations["ended_at"], observations["ms_played"])


def _stage_after(
    raw: RawStore, user_id: str, export_file, parse: "Future[ParsedExport]"
) -> StagedRaw:
    """`_stage`, once the file's parse is done (raises if the parse failed)."""
    parse.result()
    return _stage(raw, user_id, export_file)


def _stage(raw: RawStore, user_id: str, export_file) -> StagedRaw:
    with export_file.open_stream() as stream:
        try:
            return raw.stage_stream(RAW_SOURCE, user_id, stream, sha256=export_file.sha256)
        except ValueError as exc:
            raise ValueError(f"{export_file.origin}: {exc}") from exc


def _discard(staged: list[Future[StagedRaw]]) -> None:
    for stage in staged:
        if stage.done() and not stage.cancelled() and not stage.exception():
            stage.result().discard()


def _write_files(
    tx: LakeTransaction,
    user_id: str,
    parsed: "list[tuple[ExportFile, ParsedExport]]",
    imported_at: datetime,
) -> None:
    """Each parsed (file, export)'s rows, rejects and report (which marks it imported), into
    `tx`; the rows' files are encoded several at a time."""
    tx.write_each(
        EXPORTED_PLAYS,
        {f"{user_id}/{export_file.sha256}": export.observations for export_file, export in parsed},
    )
    for export_file, export in parsed:
        key = f"{user_id}/{export_file.sha256}"
        tx.write(
            IMPORT_REJECTS,
            [
                {
                    "user_id": user_id,
                    "file_sha256": export_file.sha256,
                    "file_name": export_file.name,
                    "file_row": m.file_row,
                    "reason": m.reason,
                    "raw_json": m.raw_json,
                }
                for m in export.malformed
            ],
            key,
        )
        row = export.report.check().to_row()
        row["imported_at"] = imported_at
        tx.write(IMPORT_REPORTS, [row], key)


# A receipt's time stamp (its name's prefix and its first line): `imported_at`, read back by
# a rebuild from raw.
RECEIPT_STAMP = "%Y%m%dT%H%M%S.%f"


def receipt_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(RECEIPT_STAMP)


def _receipt(item: Path, folder: Path, scan, result: ItemResult, at: datetime) -> Path:
    """Replace an imported item by a small receipt: its history files live on gzip'd in raw
    (by sha256, the record), and keeping the item too would store every export twice, the
    second time uncompressed (842 MB beside 57 MB in raw for one heavy listener)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = receipt_stamp(at)
    lines = [f"{item.name}: {result.status} at {stamp} UTC; kept in raw/{RAW_SOURCE}/ by sha256"]
    lines += [f"  {f.sha256}  {f.name}" for f in scan.files]
    lines += [f"  not history, not kept: {s}" for s in result.skipped]
    target = folder / f"{stamp}_{item.name}.txt"
    target.write_text("\n".join(lines) + "\n")
    item.unlink()
    return target


def _move(item: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"{stamp}_{item.name}"
    shutil.move(item, target)
    return target


def _report_markdown(results: list[ItemResult], handles: dict[str, str]) -> str:
    """What happened to each item, naming listeners by handle (run metadata outlives
    `users remove`)."""
    parts = []
    for r in results:
        head = f"### {handles.get(r.user_id, 'unknown listener')} / {r.item}: {r.status}"
        body = r.error or "\n".join(rep.to_markdown() for rep in r.reports)
        if r.skipped:
            body += "\n\nNot history, not imported: " + ", ".join(r.skipped)
        parts.append(f"{head}\n\n{body}")
    return "\n\n".join(parts) or "inbox empty"


@dg.multi_asset(
    group_name="listening",
    specs=[
        dg.AssetSpec("exported_plays", kinds={"parquet"}, description=EXPORTED_PLAYS.doc),
        dg.AssetSpec("import_reports", kinds={"parquet"}, description=IMPORT_REPORTS.doc),
        dg.AssetSpec("import_rejects", kinds={"parquet"}, description=IMPORT_REJECTS.doc),
    ],
)
def export_import(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    raw: dg.ResourceParam[RawStore],
):
    """Imports every export waiting in the inbox: rows into `exported_plays`, what happened to
    each row into `import_reports`, malformed rows verbatim into `import_rejects`."""
    from spotify_assets.lib.users.registry import UserRegistry

    handles = {u.id: u.handle for u in UserRegistry(settings).list()}
    results = []
    for user_id, item in pending_items(settings.inbox_dir):
        # Progress in the run log every few seconds while an item imports (a decade of history
        # takes a while), then its summary; listeners by handle, counts only.
        progress = ImportProgress(f"import of {handles.get(user_id, 'a listener')}/{item.name}")
        with report_every(progress, context.log.info):
            results.append(import_item(settings, warehouse, raw, user_id, item, progress))
        context.log.info(progress.summary(results[-1].status))
    for r in results:
        who = f"{handles.get(r.user_id, 'an unknown listener')}/{r.item}"
        if r.status == "failed":
            context.log.error(f"import of {who} refused: {r.error}")
        elif r.status in ("still_changing", "postponed"):
            context.log.warning(f"import of {who} postponed: {r.error}")
    warehouse.publish()
    reports = [rep for r in results for rep in r.reports]
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    report = dg.MetadataValue.md(_report_markdown(results, handles))
    summary = {
        "dagster/row_count": sum(rep.rows_read for rep in reports),
        "files_imported": len(reports),
        "items": dg.MetadataValue.json(by_status),
        "days_changed": len(set().union(*(r.days for r in results))),
        "report": report,
    }
    postponed = [r for r in results if r.status == "postponed"]
    if postponed:
        # What was imported is committed; the run still fails, so the operator sees it.
        raise dg.Failure(
            description=f"{len(postponed)} import(s) could not be written and wait in the "
            f"inbox: {postponed[0].error}",
            metadata=summary,
        )
    yield dg.MaterializeResult(asset_key="exported_plays", metadata=summary)
    yield dg.MaterializeResult(
        asset_key="import_reports", metadata={"dagster/row_count": len(reports), "report": report}
    )
    yield dg.MaterializeResult(
        asset_key="import_rejects",
        metadata={"dagster/row_count": sum(rep.malformed for rep in reports)},
    )


import_job = dg.define_asset_job("import_job", selection=dg.AssetSelection.assets(export_import))


@dg.sensor(
    job=import_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING
)
def inbox_export_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Starts an import when files wait in `data/inbox/<user>/`: at once when they changed since
    the last import run saw them, again after a while when that run failed or left them (a full
    disk), never while an import is running."""
    from spotify_assets.defs.listening.sensors import RETRY_AFTER
    from spotify_assets.lib.settings import get_settings

    items = pending_items(get_settings().inbox_dir)
    if not items:
        return dg.SensorResult(skip_reason="inbox empty")
    # A digest of the same (size, mtime) stamps that tell an import a file is still changing:
    # user ids and file names stay out of the run's tags.
    stamps = json.dumps([(u, p.name, *(_stamp(p) or ())) for u, p in items])
    fingerprint = hashlib.sha256(stamps.encode()).hexdigest()[:16]
    [last] = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=import_job.name), limit=1
    ) or [None]
    if last is not None and not last.is_finished:
        return dg.SensorResult(skip_reason="an import is running")
    if last is not None and last.tags.get(INBOX_TAG) == fingerprint:
        record = context.instance.get_run_record_by_id(last.run_id)
        ended = record.end_time if record and record.end_time else 0.0
        if time.time() - ended < RETRY_AFTER.total_seconds():
            return dg.SensorResult(skip_reason="the last import left these files; retry later")
    return dg.SensorResult(run_requests=[dg.RunRequest(tags={INBOX_TAG: fingerprint})])
