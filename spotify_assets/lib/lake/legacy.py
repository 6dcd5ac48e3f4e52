"""Reading a lake written before the manifest existed (the daily layout, until 2026-12).

That layout had one file per partition at `lake/<table>/<key>.parquet`, replaced in place, and
each table's doc in `lake/<table>/_table.json`. Adopting it takes no rewrite: the manifest's
first generation simply names those files as current (they are never written again, so they
are as immutable as new ones). Empty files (the daily layout wrote one for every day without
plays) are not adopted: a partition without rows has no file now, and housekeeping removes them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from spotify_assets.lib.lake.manifest import Change, FileEntry, Manifest
from spotify_assets.lib.lake.spec import schema_hash, validate_partition_key, validate_table

LEGACY_DOC = "_table.json"
# What the manifest-era writer names files: never a daily-layout file.
_CURRENT_NAME = re.compile(r"\.[0-9a-f]{16}\.parquet$")


def legacy_files(root: Path) -> list[tuple[str, str, Path]]:
    """(table, partition key, path) of every published file of the daily layout."""
    found = []
    if not root.exists():
        return found
    for table_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(table_dir.rglob("*.parquet")):
            if path.name.startswith(".") or _CURRENT_NAME.search(path.name):
                continue
            key = path.relative_to(table_dir).with_suffix("").as_posix()
            try:
                validate_table(table_dir.name)
                validate_partition_key(key)
            except ValueError:
                continue
            found.append((table_dir.name, key, path))
    return found


def adopt(manifest: Manifest, root: Path) -> int:
    """Make the daily layout's files (and docs) the manifest's first generation; returns how
    many files were adopted. Idempotent: a partition already current is left alone."""
    changes = []
    for table, key, path in legacy_files(root):
        metadata = pq.read_metadata(path)
        if metadata.num_rows == 0:
            continue
        entry = FileEntry(
            table,
            key,
            path.relative_to(root).as_posix(),
            metadata.num_rows,
            path.stat().st_size,
            schema_hash(metadata.schema.to_arrow_schema().remove_metadata()),
        )
        changes.append(Change(table, key, entry))
    docs = {}
    for doc_path in sorted(root.glob(f"*/{LEGACY_DOC}")):
        doc = json.loads(doc_path.read_text())
        docs[doc_path.parent.name] = json.dumps(doc, indent=2, sort_keys=True)
    if not changes and not docs:
        return 0
    manifest.commit(changes, docs=docs, lake_root=root, keep_existing=True)
    for doc_path in root.glob(f"*/{LEGACY_DOC}"):
        doc_path.unlink()
    return len(changes)
