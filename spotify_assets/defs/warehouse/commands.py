"""`spotify-assets sql [QUERY]`: the catalog for an analyst, read-only, while the pipeline runs.

Without a query it opens the DuckDB shell on `warehouse.duckdb`; with one it prints the answer as
a table, or as CSV / JSON for scripts. Either way the connection is read-only and resolves the
catalog's relative lake paths from the catalog's own folder (DuckDB's `file_search_path`), so it
works from any directory. A publish renames a new catalog over the old one: a reader keeps the
file it opened (one whole generation), never waits on a lock and never blocks a writer
(docs/architecture.md, "Why immutable files").
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from spotify_assets.lib.errors import OperatorError

if TYPE_CHECKING:
    import duckdb

# The box table for people stops here; --csv and --json print every row.
DEFAULT_MAX_ROWS = 1_000


def _catalog(args: argparse.Namespace) -> Path:
    from spotify_assets.lib.settings import get_settings

    path = get_settings().warehouse_path
    if not path.is_file():
        raise OperatorError(
            f"no catalog yet at {path}; run a materialization (or `spotify-assets catalog "
            "refresh` once the lake has data) first"
        )
    return path


def duckdb_cli() -> str | None:
    """The DuckDB shell's binary: the `duckdb-cli` package's own, else `duckdb` on PATH.

    The binary, not the package's `duckdb` launcher script: the launcher runs the shell as its
    child and kills it on Ctrl-C, where the shell itself only cancels the running query.
    """
    try:
        import duckdb_cli
    except ImportError:
        return shutil.which("duckdb")
    binary = Path(duckdb_cli.__file__).with_name("duckdb")
    return str(binary) if binary.is_file() else shutil.which("duckdb")


def shell_argv(binary: str, catalog: Path) -> list[str]:
    folder = os.path.dirname(os.path.abspath(catalog)).replace("'", "''")
    # The analyst stays in their own directory (`.read`, `copy ... to` land there); the
    # catalog's relative lake paths resolve against its folder instead.
    return [binary, "-readonly", "-cmd", f"set file_search_path = '{folder}'", str(catalog)]


def _open_shell(catalog: Path) -> int:
    binary = duckdb_cli()
    if binary is None:
        raise OperatorError(
            "the DuckDB shell is not installed (it comes with the `duckdb-cli` package: "
            "`make setup`, or `pip install duckdb-cli`); `spotify-assets sql 'QUERY'` works "
            "without it"
        )
    sys.stdout.flush()
    # Replaced, not run as a child: Ctrl-C and the terminal belong to the shell alone.
    os.execv(binary, shell_argv(binary, catalog))
    return 0  # pragma: no cover - execv does not return


def _one_line(exc: Exception) -> str:
    """DuckDB's message on one line: its first line, and its 'Did you mean' hint if any."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    hint = next((line for line in lines[1:] if line.startswith("Did you mean")), "")
    return " ".join(x for x in (lines[0] if lines else type(exc).__name__, hint) if x)


@contextlib.contextmanager
def _connection(catalog: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the catalog; DuckDB's errors become one operator line."""
    import duckdb

    from spotify_assets.lib.catalog import connect

    try:
        con = connect(catalog)
    except duckdb.Error as exc:
        raise OperatorError(f"cannot open the catalog {catalog}: {_one_line(exc)}") from exc
    try:
        yield con
    except duckdb.Error as exc:
        raise OperatorError(f"query failed: {_one_line(exc)}") from exc
    finally:
        con.close()


def run_query(catalog: Path, query: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows of `query` (for several statements: the last one's)."""
    with _connection(catalog) as con:
        relation = con.sql(query)
        if relation is None:  # a statement without a result (e.g. `set ...`)
            return [], []
        return list(relation.columns), relation.fetchall()


def _plain(value: object) -> object:
    """A value as JSON has it: times in ISO 8601, decimals as numbers, nested values kept."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as DuckDB writes them, not Python's True
    plain = _plain(value)
    return json.dumps(plain, ensure_ascii=False) if isinstance(plain, dict | list) else plain


def print_csv(columns: list[str], rows: list[tuple]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])


def print_json(columns: list[str], rows: list[tuple]) -> None:
    records = [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in rows]
    json.dump(records, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


def print_table(catalog: Path, query: str, max_rows: int) -> None:
    """DuckDB's own box rendering (what the shell shows), as wide as the terminal."""
    with _connection(catalog) as con:
        relation = con.sql(query)
        if relation is not None:
            width = shutil.get_terminal_size((160, 24)).columns
            relation.show(max_width=width, max_rows=max_rows, null_value="NULL")


def _cmd_sql(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    if args.query is None:
        return _open_shell(catalog)
    query = args.query
    if query == "-":
        query = sys.stdin.read()
    if not query.strip():
        raise OperatorError("the query is empty; give one, e.g. `spotify-assets sql 'show tables'`")
    if args.format == "table":
        print_table(catalog, query, args.max_rows)
        return 0
    columns, rows = run_query(catalog, query)
    (print_csv if args.format == "csv" else print_json)(columns, rows)
    return 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    command = sub.add_parser(
        "sql",
        help="query the DuckDB catalog read-only (no QUERY: open the DuckDB shell on it); "
        "safe while the pipeline runs",
    )
    command.add_argument(
        "query", nargs="?", help="SQL to run and print ('-' reads it from stdin); none: the shell"
    )
    formats = command.add_mutually_exclusive_group()
    formats.add_argument(
        "--csv", dest="format", action="store_const", const="csv", help="print CSV (all rows)"
    )
    formats.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="print a JSON array of objects (all rows)",
    )
    command.add_argument(
        "--max-rows",
        type=int,
        default=DEFAULT_MAX_ROWS,
        help=f"rows the table shows (default {DEFAULT_MAX_ROWS:,}; --csv/--json print all)",
    )
    command.set_defaults(func=_cmd_sql, format="table")
