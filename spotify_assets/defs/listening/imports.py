"""Importing privacy exports dropped into `data/inbox/<user>/` (zip as mailed, or loose JSON).

Per inbox item the import is all-or-nothing: every history file in it is parsed completely
(its raw copy staged beside the parse, in a hidden temp file) before anything is published.
Then the raw copies are renamed in, and every file's rows, rejects and report become current in
one lake commit, with the days they changed marked stale; a run killed before that commit
leaves nothing visible and simply redoes the item (same hashes, same files). A file whose hash
has a report is never imported again. An imported item is deleted (its files are kept in raw,
gzip'd) and leaves a receipt in `imported/`; a refused one moves to `failed/` with a
`.error.txt` beside it.
"""

import json
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.listening.history import STALE_SCOPE
from spotify_assets.defs.listening.tables import EXPORTED_PLAYS, IMPORT_REJECTS, IMPORT_REPORTS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.ids import InvalidIdError, validate_user_id
from spotify_assets.lib.lake import LakeTransaction
from spotify_assets.lib.raw import RawStore, StagedRaw
from spotify_assets.lib.settings import Settings

RAW_SOURCE = "exports"
INBOX_SUFFIXES = (".zip", ".json")


@dataclass
class ItemResult:
    user_id: str
    item: str
    status: str  # imported | already_imported | failed | still_changing
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
    settings: Settings, warehouse: Warehouse, raw: RawStore, user_id: str, item: Path
) -> ItemResult:
    """Import one inbox item for one user; never raises for bad input (it is reported)."""
    from spotify_assets.lib.exports import ExportImportError, parse_export_file, scan_inbox_item
    from spotify_assets.lib.exports.memory import check_memory

    result = ItemResult(user_id, item.name, "imported")
    before = _stamp(item)
    try:
        validate_user_id(user_id)
        done = imported_hashes(warehouse, user_id)
        parsed = []
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
        staged: list[Future[StagedRaw]] = []
        try:
            # Each file is staged for raw landing (read, sha256-checked, gzip'd into a hidden
            # temp file) while DuckDB parses it: two reads of the file at once instead of three
            # in a row. The staging's hash check is the parse's proof that the file did not
            # change since the scan. Nothing becomes visible until every file parsed.
            with ThreadPoolExecutor(1, thread_name_prefix="raw-landing") as pool:
                for export_file in todo:
                    staged.append(pool.submit(_stage, raw, user_id, export_file))
                    export = parse_export_file(user_id, export_file, verify=False)
                    parsed.append((export_file, export))
            landed = [s.result() for s in staged]
        except BaseException:
            _discard(staged)
            raise
        for stage in landed:
            stage.commit()
        result.days = set().union(*(_days(export.observations) for _, export in parsed))
        # One commit for the whole item: a reader never sees half of a zip's files, nor a
        # report without its rows; the days it changed are stale from that commit on.
        with warehouse.transaction(stale={STALE_SCOPE: result.days}) as tx:
            for export_file, export in parsed:
                _write_file(tx, user_id, export_file, export)
                result.reports.append(export.report)
        if not parsed:
            result.status = "already_imported"
        _receipt(item, settings.inbox_dir / user_id / "imported", scan, result)
    except (ExportImportError, InvalidIdError, OSError, ValueError) as exc:
        if _stamp(item) != before:
            # Still being copied in (a large export read half-written fails as truncated):
            # left where it is; the sensor sees it change and tries again once it is whole.
            result.status = "still_changing"
            result.error = f"changed while importing, left in the inbox to retry ({exc})"
            return result
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        target = _move(item, settings.inbox_dir / user_id / "failed")
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

    frame = observations.select(["ended_at", "ms_played"]).to_pandas()
    return days_touched(frame["ended_at"], frame["ms_played"])


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


def _write_file(tx: LakeTransaction, user_id: str, export_file, export) -> None:
    """A file's rows, rejects and report (which marks it imported), into `tx`."""
    key = f"{user_id}/{export_file.sha256}"
    tx.write(EXPORTED_PLAYS, export.observations, key)
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
    row["imported_at"] = datetime.now(UTC)
    tx.write(IMPORT_REPORTS, [row], key)


def _receipt(item: Path, folder: Path, scan, result: ItemResult) -> Path:
    """Replace an imported item by a small receipt: its history files live on gzip'd in raw
    (by sha256, the record), and keeping the item too would store every export twice, the
    second time uncompressed (842 MB beside 57 MB in raw for one heavy listener)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
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


def _report_markdown(results: list[ItemResult]) -> str:
    parts = []
    for r in results:
        head = f"### {r.user_id} / {r.item}: {r.status}"
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
    results = [
        import_item(settings, warehouse, raw, user_id, item)
        for user_id, item in pending_items(settings.inbox_dir)
    ]
    for r in results:
        if r.status == "failed":
            context.log.error(f"import of {r.user_id}/{r.item} refused: {r.error}")
        elif r.status == "still_changing":
            context.log.warning(f"import of {r.user_id}/{r.item} postponed: {r.error}")
    warehouse.publish()
    reports = [rep for r in results for rep in r.reports]
    changed = sorted(set().union(*(r.days for r in results)))
    summary = {
        "dagster/row_count": sum(rep.rows_read for rep in reports),
        "files_imported": len(reports),
        "items_failed": [f"{r.user_id}/{r.item}" for r in results if r.status == "failed"],
        "items_still_changing": [
            f"{r.user_id}/{r.item}" for r in results if r.status == "still_changing"
        ],
        "changed_days": dg.MetadataValue.json(changed),
        "report": dg.MetadataValue.md(_report_markdown(results)),
    }
    yield dg.MaterializeResult(asset_key="exported_plays", metadata=summary)
    yield dg.MaterializeResult(
        asset_key="import_reports",
        metadata={"dagster/row_count": len(reports), "report": summary["report"]},
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
    """Starts an import when files wait in `data/inbox/<user>/`."""
    from spotify_assets.lib.settings import get_settings

    items = pending_items(get_settings().inbox_dir)
    if not items:
        return dg.SensorResult(skip_reason="inbox empty")
    fingerprint = json.dumps(
        # The same (size, mtime) stamp that tells an import a file is still changing.
        [(u, p.name, *(_stamp(p) or ())) for u, p in items]
    )
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=fingerprint)])
