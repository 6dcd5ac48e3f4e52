"""The warehouse's data dictionary, `docs/warehouse.md`, generated so it cannot drift.

Everything in it comes from the code: each table's `TableSpec` (what a row is, columns, docs,
example query), its asset (partitions, what triggers it, freshness, owner) and the derived
views' SQL files. The columns listed are those of a real catalog built over an empty lake of
every table, so a view's columns and types are what an analyst gets, and every example query
is run against it. `spotify-assets catalog docs` rewrites the file; a test fails when it is
out of date.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from spotify_assets.defs.catalog_map import MappedTable, table_specs
from spotify_assets.defs.resources import DEFS_DIR
from spotify_assets.lib.catalog import ALIAS_NOTE, connect, load_view_sql, refresh_catalog
from spotify_assets.lib.lake import Lake, TableSpec

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "warehouse.md"
# A partition key every table accepts, for the empty catalog's one file per table.
EMPTY_PARTITION = "2000-01-01"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str  # table | view
    doc: str
    columns: tuple[Column, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def empty_catalog(folder: Path) -> Path:
    """A catalog of every table (one empty file each) and every derived view."""
    lake = Lake(folder / "lake")
    with lake.transaction() as tx:
        for mapped in table_specs().values():
            spec = mapped.spec
            tx.write(spec, spec.schema.empty_table(), EMPTY_PARTITION if spec.partitioned else None)
    schemas = {name: mapped.domain for name, mapped in table_specs().items()}
    return refresh_catalog(
        lake, folder / "warehouse.duckdb", views=load_view_sql(DEFS_DIR), schemas=schemas
    )


def relations(con: duckdb.DuckDBPyConnection) -> list[Relation]:
    """Every view of the catalog but the aliases, with its columns and comments."""
    views = con.execute(
        "select schema_name, view_name, coalesce(comment, '') from duckdb_views() "
        "where not internal order by schema_name, view_name"
    ).fetchall()
    found = []
    for schema, name, comment in views:
        if schema == "main" and comment.startswith(ALIAS_NOTE.split("{", 1)[0]):
            continue
        columns = con.execute(
            "select column_name, data_type, coalesce(comment, '') from duckdb_columns() "
            "where schema_name = ? and table_name = ? order by column_index",
            [schema, name],
        ).fetchall()
        kind = "table" if name in table_specs() else "view"
        found.append(Relation(schema, name, kind, comment, tuple(Column(*c) for c in columns)))
    return found


def example_query(spec: TableSpec, qualified: str) -> str:
    """The table's own example, or the newest rows by its first date column."""
    if spec.example:
        return spec.example.strip()
    shown = ", ".join(c.name for c in spec.columns[:6])
    when = next(
        (c.name for c in spec.columns if str(c.type).startswith(("date", "timestamp"))), None
    )
    order = f"\norder by {when} desc" if when else ""
    return f"select {shown}\nfrom {qualified}{order}\nlimit 10;"


# -- what the asset graph says ----------------------------------------------------------------


def _partitions(node: object) -> str:
    pd = getattr(node, "partitions_def", None)
    if pd is None:
        return "none: each run rewrites what changed"
    if isinstance(pd, dg.TimeWindowPartitionsDefinition):
        unit = {
            "0 0 * * *": "daily",
            "0 0 * * 1": "weekly (Monday)",
            "0 0 1 * *": "monthly",
            "0 0 1 1 *": "yearly",
        }.get(pd.cron_schedule, f"cron `{pd.cron_schedule}`")
        current = ", the current one included" if pd.end_offset else ""
        key = pd.fmt.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD")
        return f"{unit}, key {key}, from {pd.start:%Y-%m-%d}{current} (UTC)"
    return type(pd).__name__


def _freshness(node: object) -> str:
    policy = getattr(node, "freshness_policy", None)
    if policy is None:
        return "-"
    fail, warn = getattr(policy, "fail_window", None), getattr(policy, "warn_window", None)
    if fail is not None:
        text = f"fails when older than {_delta(fail)}"
        return text + (f", warns after {_delta(warn)}" if warn is not None else "")
    cron = getattr(policy, "deadline_cron", None)
    if cron is not None:
        return f"due by cron `{cron}`, within {_delta(policy.lower_bound_delta)}"
    return type(policy).__name__


def _delta(value: object) -> str:
    seconds = int(getattr(value, "to_timedelta", lambda: value)().total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def triggers(repo: dg.RepositoryDefinition) -> dict[str, list[str]]:
    """Asset name -> the schedules and sensors that launch runs of it."""
    found: dict[str, list[str]] = {}

    def job_keys(name: str) -> Iterable[str]:
        job = repo.get_job(name)
        return [k.to_user_string() for k in job.asset_layer.executable_asset_keys]

    for schedule in repo.schedule_defs:
        crons = schedule.cron_schedule
        cron = ", ".join(crons) if isinstance(crons, list | tuple) else crons
        tz = schedule.execution_timezone or "UTC"
        for key in job_keys(schedule.job_name):
            found.setdefault(key, []).append(f"schedule `{schedule.name}` (`{cron}` {tz})")
    for sensor in repo.sensor_defs:
        every = sensor.minimum_interval_seconds
        for target in sensor.targets:
            for key in job_keys(target.job_name):
                found.setdefault(key, []).append(f"sensor `{sensor.name}` (every {every} s)")
    return found


# -- the page ---------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from spotify_assets.definitions import defs

        repo = defs().get_repository_def()
    launched = triggers(repo)
    specs = table_specs()
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(empty_catalog(Path(tmp)))
        try:
            found = relations(con)
            for relation in found:
                if relation.kind == "table":
                    con.execute(example_query(specs[relation.name].spec, relation.qualified))
        finally:
            con.close()
    lines = [
        "# The warehouse: data dictionary",
        "",
        "<!-- Generated by `spotify-assets catalog docs` from the table definitions and the",
        "     asset graph; do not edit by hand (a test fails when it is out of date). -->",
        "",
        "Open it read-only while the pipeline runs: `spotify-assets sql` (or, from `data/`,",
        "`duckdb -readonly warehouse.duckdb`). Each connection sees one published state of",
        "the lake; `select * from warehouse_snapshot` says whether a newer one exists.",
        "",
        "Every table is a view in its domain's schema (`listening.plays`); the names without a",
        "schema still work as aliases in `main` until 2027-06. Comments are in DuckDB:",
        "`select column_name, comment from duckdb_columns() where table_name = 'plays'`.",
        "",
        "| name | kind | one row per |",
        "|---|---|---|",
    ]
    for r in found:
        anchor = r.qualified.replace(".", "")  # GitHub's anchor of the heading
        lines.append(f"| [`{r.qualified}`](#{anchor}) | {r.kind} | {_cell(_first(r.doc))} |")
    for schema in sorted({r.schema for r in found}):
        lines += ["", f"## {schema}"]
        for r in (x for x in found if x.schema == schema):
            lines += ["", f"### {r.qualified}", "", r.doc or "(no comment)", ""]
            if r.kind == "table":
                lines += _table_facts(specs[r.name], repo, launched)
            else:
                source = f"spotify_assets/defs/{schema}/sql/views/{r.name}.sql"
                lines += [f"Derived view: `{source}`.", ""]
            lines += ["| column | type | description |", "|---|---|---|"]
            lines += [f"| `{c.name}` | {c.type} | {_cell(c.comment)} |" for c in r.columns]
            if r.kind == "table":
                lines += ["", "```sql", example_query(specs[r.name].spec, r.qualified), "```"]
    return "\n".join(lines) + "\n"


def _first(doc: str) -> str:
    """The first sentence: what one row is."""
    head = doc.split(". ", 1)[0].rstrip(".")
    return head.removeprefix("One row per ").removeprefix("one row per ")


def _table_facts(mapped: MappedTable, repo: dg.RepositoryDefinition, launched) -> list[str]:
    name = mapped.spec.name
    if not repo.asset_graph.has(dg.AssetKey(name)):
        return [f"No asset produces it (declared in `{mapped.module}`).", ""]
    node = repo.asset_graph.get(dg.AssetKey(name))
    runs = launched.get(name) or ["materialized with the assets that read it, or by hand"]
    return [
        "| | |",
        "|---|---|",
        f"| asset | `{name}` (group `{node.group_name}`, owner {', '.join(node.owners)}) |",
        f"| partitions | {_partitions(node)} |",
        f"| runs from | {'; '.join(runs)} |",
        f"| freshness | {_freshness(node)} |",
        f"| defined in | `{mapped.module.replace('.', '/')}.py` |",
        "",
    ]


def write(path: Path = DOC_PATH) -> Path:
    path.write_text(render())
    return path
