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

import spotify_assets.defs as defs_package
from spotify_assets.lib.lake import TableSpec


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
                domain = parts[0] if len(parts) > 1 else "main"
                found[value.name] = MappedTable(domain, value, info.name)
    return found


def table_schemas() -> dict[str, str]:
    return {name: mapped.domain for name, mapped in table_specs().items()}
