"""The lake: typed Parquet tables of immutable files, made current by a manifest.

- `spec`: what a table is (`TableSpec`, `Column`) and how data is made to fit it (`conform`).
- `store`: the writer and reader (`Lake`): new files, never changed; one commit per write call
  or per `Lake.transaction()`.
- `manifest`: the SQLite record of which file is current for each partition, per generation,
  plus the stale marks of derived tables and the runs that refresh them.
- `housekeeping`: removing superseded files no reader can need, and forgetting a user.
"""

from spotify_assets.lib.lake.manifest import Change, FileEntry, Manifest
from spotify_assets.lib.lake.spec import (
    Column,
    LakeFiles,
    SchemaMismatchError,
    TableSpec,
    conform,
    one_schema,
    schema_hash,
    validate_partition_key,
    validate_table,
)
from spotify_assets.lib.lake.store import (
    UNPARTITIONED,
    Lake,
    LakeTransaction,
    WrittenPartition,
    table_doc,
)

__all__ = [
    "UNPARTITIONED",
    "Change",
    "Column",
    "FileEntry",
    "Lake",
    "LakeFiles",
    "LakeTransaction",
    "Manifest",
    "SchemaMismatchError",
    "TableSpec",
    "WrittenPartition",
    "conform",
    "one_schema",
    "schema_hash",
    "table_doc",
    "validate_partition_key",
    "validate_table",
]
