"""Every lake table of the graph and its domain: the DuckDB schema its catalog view lives in
(`listening.plays`, `tops.top_tracks`), and what `docs/warehouse.md` is generated from.

The domain is the folder under `defs/` whose module declared the table's `TableSpec`
(`TableSpec.declared_in`), so a new table is mapped (and documented) the moment it is declared.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass

import dagster as dg

import spotify_assets.defs as defs_package
from spotify_assets.lib.lake import TableSpec

# A domain whose name DuckDB already uses is published under another: `warehouse` is the
# catalog's own name (warehouse.duckdb), so a schema of that name would be ambiguous.
SCHEMA_OF_DOMAIN = {"warehouse": "ops"}


@dataclass(frozen=True)
class MappedTable:
    domain: str
    spec: TableSpec
    module: str


@functools.cache
def table_specs() -> dict[str, MappedTable]:
    """Every TableSpec declared under `defs/`, by table name."""
    found: dict[str, MappedTable] = {}
    prefix = defs_package.__name__ + "."
    for info in pkgutil.walk_packages(defs_package.__path__, prefix):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, TableSpec) and value.declared_in == info.name:
                parts = info.name.removeprefix(prefix).split(".")
                domain = SCHEMA_OF_DOMAIN.get(parts[0], parts[0]) if len(parts) > 1 else "main"
                found[value.name] = MappedTable(domain, value, info.name)
    return found


def table_schemas() -> dict[str, str]:
    return {name: mapped.domain for name, mapped in table_specs().items()}


def column_schema(spec: TableSpec) -> dg.TableSchema:
    """The table's columns as Dagster shows them on the asset page (type, doc, nullability)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                column.name,
                str(column.type),
                description=column.doc,
                constraints=dg.TableColumnConstraints(nullable=column.nullable),
            )
            for column in spec.columns
        ]
    )


def describe_asset(asset: dg.AssetSpec) -> dg.AssetSpec:
    """An asset as the UI shows it: its table's column schema and catalog name, and its owner
    (the domain's team, from its group)."""
    owners = [] if asset.owners else [f"team:{asset.group_name or 'default'}"]
    mapped = table_specs().get(asset.key.to_user_string())
    if mapped is None:
        return asset.merge_attributes(owners=owners)
    described = asset.merge_attributes(
        owners=owners,
        metadata={
            "dagster/column_schema": column_schema(mapped.spec),
            "dagster/table_name": f"{mapped.domain}.{mapped.spec.name}",
        },
    )
    if not described.description:
        described = described.replace_attributes(description=mapped.spec.doc)
    return described
