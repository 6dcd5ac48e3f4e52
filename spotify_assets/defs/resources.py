"""The resources every asset gets, built from the one settings object.

Plain objects, passed as `dg.ResourceParam[...]`: the settings object already validated every
value, so a Dagster config layer on top would only repeat it. Construction does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa

from spotify_assets.defs.previews import Previews
from spotify_assets.lib.catalog import load_view_sql, refresh_catalog
from spotify_assets.lib.lake import (
    Lake,
    LakeFiles,
    LakeTransaction,
    TableSpec,
    WrittenPartition,
    one_schema,
    schema_hash,
)
from spotify_assets.lib.query import read_parquet_sql, utc_connection
from spotify_assets.lib.raw import RawStore, note_landing
from spotify_assets.lib.settings import Settings, get_settings

DEFS_DIR = Path(__file__).parent


class Warehouse:
    """The lake plus its DuckDB catalog: assets write partitions here, then publish.

    Each write is committed at once (other runs read it); analysts see it once `publish`
    has built the catalog of the new generation. `stale` marks the UTC days whose derived
    listening tables must be recomputed, in the same commit as the data that changed them.
    """

    def __init__(self, settings: Settings) -> None:
        self.lake = Lake(settings.lake_dir)
        self.path = settings.warehouse_path
        self.lake.observers.append(Previews().observe)

    def write(
        self,
        spec: TableSpec,
        data: Any,
        partition: str | None = None,
        *,
        stale: Mapping[str, Iterable[str]] | None = None,
    ) -> WrittenPartition:
        return self.lake.write(spec, data, partition, stale=stale)

    def write_partitions(
        self,
        spec: TableSpec,
        data: Any,
        key_column: str,
        partitions: Sequence[str],
        *,
        stale: Mapping[str, Iterable[str]] | None = None,
    ) -> dict[str, int]:
        """Replace every partition in `partitions` with the rows whose `key_column` names it,
        in one commit; partitions without rows are removed."""
        return self.lake.write_partitions(spec, data, key_column, partitions, stale=stale)

    def transaction(
        self, *, stale: Mapping[str, Iterable[str]] | None = None
    ) -> AbstractContextManager[LakeTransaction]:
        """Writes to several tables that become current together (`tx.write(...)`)."""
        return self.lake.transaction(stale=stale)

    def partitions(self, table: str | TableSpec) -> list[str]:
        """Keys of the table's current partitions, sorted (e.g. `2026-01-05/alice`)."""
        return self.lake.partitions(_name(table))

    def has_partition(self, table: str | TableSpec, key: str) -> bool:
        return self.lake.has_partition(_name(table), key)

    def files(self, table: str | TableSpec, partitions: Iterable[str] | None = None) -> LakeFiles:
        """The current files of a table (of the given partitions only, when given; partitions
        without a file are skipped), for DuckDB to read. Files are immutable: what a run
        lists stays readable (for the housekeeping grace period) even if superseded."""
        return self.lake.files(_name(table), partitions)

    def scan(
        self,
        spec: TableSpec,
        where: str = "true",
        params: list[Any] | None = None,
        partitions: Iterable[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Rows of a lake table (of the given partitions, when given) matching `where` (DuckDB
        SQL, `?` parameters), as Arrow: every column, or only `columns`.

        A table with no files yet reads as empty with its declared schema, so a first run
        needs no special case.
        """
        wanted = [c for c in spec.column_names if columns is None or c in columns]
        unknown = set(columns or ()) - set(wanted)
        if unknown:
            raise ValueError(f"table {spec.name} has no columns {sorted(unknown)}")
        files = self.files(spec, partitions)
        paths = [str(p) for p in files]
        if not paths:
            return spec.schema.empty_table().select(wanted)
        # Times come back as UTC, the lake's zone, whatever the machine's.
        con = utc_connection()
        try:
            shared = one_schema(files)
            source = read_parquet_sql(paths, one_schema=shared is not None)
            present = (
                set(spec.column_names)  # written to this very spec: no need to look
                if shared == schema_hash(spec.schema)
                else set(con.sql(f"select * from {source} limit 0").columns)
            )
            # A column added to the spec since older files were written reads as null there.
            types = duckdb.from_arrow(spec.schema.empty_table(), connection=con).types
            selected = ", ".join(
                f'"{c}"' if c in present else f'cast(null as {t}) as "{c}"'
                for c, t in zip(spec.column_names, types, strict=True)
                if c in wanted
            )
            return con.sql(
                f"select {selected} from {source} where {where}", params=params or []
            ).to_arrow_table()
        finally:
            con.close()

    def publish(self) -> Path:
        """Build the catalog of the lake's current generation: analysts see every commit
        made so far (a no-op when the catalog already shows it)."""
        from spotify_assets.defs.catalog_map import table_schemas

        return refresh_catalog(
            self.lake, self.path, views=load_view_sql(DEFS_DIR), schemas=table_schemas()
        )


def _name(table: str | TableSpec) -> str:
    return table if isinstance(table, str) else table.name


def _land_response(raw: RawStore):
    """`on_response` hook of the Spotify client: every successful body goes to raw landing,
    named by the answer's `Date` (Spotify's clock, to the second): a poll's rows take the same
    moment as `polled_at`, so a rebuild from raw gives them back exactly. A write that records
    its receipt (`lib.raw.recording`) learns here which request each body answered."""

    def land(
        user_id: str,
        endpoint: str,
        url: str,
        status: int,
        body: bytes,
        answered_at: datetime | None,
    ) -> None:
        from spotify_assets.lib.spotify.transport import request_label

        if 200 <= status < 300 and body:
            ref = raw.put(raw_source_for(endpoint), user_id, body, received_at=answered_at)
            note_landing(request_label(url), ref, raw.root)

    return land


def raw_source_for(endpoint: str) -> str:
    """'GET /v1/me/top/{type}' -> 'spotify_me_top_type': the landing folder of an endpoint."""
    path = endpoint.split(" ", 1)[-1].removeprefix("/v1/")
    return "spotify_" + re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources of a run. Registry and clients are built when a run starts (they open files
    and connections), not when the definitions load."""
    raw = RawStore(settings.raw_dir)

    def users(_: dg.InitResourceContext) -> Any:
        from spotify_assets.lib.users.registry import UserRegistry

        return UserRegistry(settings)

    def spotify(context: dg.InitResourceContext) -> Iterator[Any]:
        from spotify_assets.lib.spotify.client import SpotifyClient

        client = SpotifyClient(settings, context.resources.users, on_response=_land_response(raw))
        try:
            yield client
        finally:
            client.close()

    def musicbrainz(_: dg.InitResourceContext) -> Any:
        from spotify_assets.lib.musicbrainz.client import MusicBrainzClient

        return MusicBrainzClient(settings, min_interval_s=settings.musicbrainz_min_interval_s)

    return {
        "settings": settings,
        "warehouse": Warehouse(settings),
        "raw": raw,
        "users": dg.ResourceDefinition(resource_fn=users),
        "spotify": dg.ResourceDefinition(resource_fn=spotify, required_resource_keys={"users"}),
        "musicbrainz": dg.ResourceDefinition(resource_fn=musicbrainz),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(get_settings()))
