"""Observations from the candidates of `candidates_sql`: `finish` assigns `extra`, separates
malformed rows (kept aside, PII scrubbed), and drops rows that repeat an earlier row of the same
file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.lib.exports.candidates_sql import BOOL_COLUMNS, STRING_COLUMNS
from spotify_assets.lib.exports.formats import CONTENT_COLUMNS, PII_KEYS, FormatSpec
from spotify_assets.lib.exports.schema import (
    OBSERVATION_SCHEMA,
    PLAY_THRESHOLD_MS,
    TS_MS_UTC,
)

# Columns that identify "the same play" for duplicate detection inside one file.
_IDENTITY = ("content_type", "_ended_ms", "ms_played", *CONTENT_COLUMNS)


@dataclass(frozen=True)
class MalformedRow:
    """A row that cannot be a play, kept aside so nothing is lost: `raw_json` is the row as
    compact JSON minus the PII keys (see `scrub_pii`)."""

    file_row: int
    reason: str
    raw_json: str


@dataclass(frozen=True)
class DuplicateRow:
    """A row dropped because it repeats `first_row` of the same file."""

    file_row: int
    first_row: int


@dataclass(frozen=True)
class Normalized:
    observations: pa.Table
    malformed: list[MalformedRow]
    duplicates: list[DuplicateRow]
    unknown_keys: list[str]
    counts: dict[str, int]  # content_type -> kept rows
    under_threshold: int


class _Pairs(list):
    """A JSON object as its (key, value) pairs: repeated keys and key order survive."""


class _Number(str):
    """A JSON number kept as its text, so re-encoding cannot change it (1e999, 0.10)."""


def _encode(value: object) -> str:
    if isinstance(value, _Pairs):
        items = (f"{json.dumps(k, ensure_ascii=False)}:{_encode(v)}" for k, v in value)
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def scrub_pii(raw: str) -> str:
    """A malformed row's JSON, compact, without the PII keys (the raw landing zone keeps the
    file verbatim); everything else, repeated keys included, is kept."""
    value = json.loads(raw, object_pairs_hook=_Pairs, parse_float=_Number, parse_int=_Number)
    if isinstance(value, _Pairs):
        value = _Pairs((k, v) for k, v in value if k not in PII_KEYS)
    return _encode(value)


def _extra_json(raw: str, keys: list[str]) -> str:
    row = json.loads(raw)
    return json.dumps(
        {k: row[k] for k in keys if k in row},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _extra_column(good: pa.Table, extra_kept: frozenset[str]) -> pa.Array:
    """`extra` JSON for the rows that carry unknown or extra-kept keys; null elsewhere."""
    raw = good.column("_raw")
    n = good.num_rows
    if raw.null_count == n:
        return pa.nulls(n, pa.string())
    # Python only touches the (usually few) rows that have such keys.
    indices = pc.indices_nonzero(pc.is_valid(raw))
    raws = pc.take(raw, indices).to_pylist()
    unknowns = pc.take(good.column("_unknown_keys"), indices).to_pylist()
    kept = sorted(extra_kept)
    values: list[str | None] = [None] * n
    for index, text, unknown in zip(indices.to_pylist(), raws, unknowns, strict=True):
        values[index] = _extra_json(text, [*(unknown or ()), *kept])
    return pa.array(values, pa.string())


def _duplicates(con: duckdb.DuckDBPyConnection, good: pa.Table) -> pa.Table:
    """file_row -> first_row for rows repeating an earlier row (NULLs compare equal here).

    Only rows sharing (ended_at, ms_played) with another row can repeat one; finding those by
    two integers first keeps the wide string comparison to a handful of rows.
    """
    con.register("good", good.select(["file_row", *_IDENTITY]))
    identity = ", ".join(_IDENTITY)
    try:
        return con.sql(
            f"""WITH clash AS (
                    SELECT * FROM good WHERE (_ended_ms, ms_played) IN (
                        SELECT (_ended_ms, ms_played) FROM good
                        GROUP BY _ended_ms, ms_played HAVING count(*) > 1))
                SELECT file_row, first_row FROM (
                    SELECT file_row, min(file_row) OVER (PARTITION BY {identity}) AS first_row
                    FROM clash)
                WHERE file_row <> first_row ORDER BY file_row"""
        ).to_arrow_table()
    finally:
        con.unregister("good")


def _without_rows(table: pa.Table, mask: pa.ChunkedArray | pa.Array) -> pa.Table:
    return table.filter(pc.invert(mask))


def finish(
    con: duckdb.DuckDBPyConnection,
    candidates: pa.Table,
    spec: FormatSpec,
    *,
    user_id: str,
    file_sha256: str,
) -> Normalized:
    """Candidates (with `file_row`) -> observations, malformed rows and in-file duplicates."""
    reason = candidates.column("_reason")
    malformed: list[MalformedRow] = []
    good = candidates
    if reason.null_count < candidates.num_rows:  # filtering copies every column: only if needed
        bad_mask = pc.is_valid(reason)
        bad = candidates.filter(bad_mask).select(["file_row", "_reason", "_raw"])
        malformed = [
            MalformedRow(r["file_row"], r["_reason"], scrub_pii(r["_raw"])) for r in bad.to_pylist()
        ]
        good = _without_rows(candidates, bad_mask)
    dup = _duplicates(con, good)
    duplicates = [DuplicateRow(r["file_row"], r["first_row"]) for r in dup.to_pylist()]
    if duplicates:
        good = _without_rows(good, pc.is_in(good.column("file_row"), dup.column("file_row")))
    unknown_lists = pc.list_flatten(good.column("_unknown_keys"))
    unknown = sorted(pc.unique(unknown_lists).to_pylist()) if len(unknown_lists) else []
    observations = _to_observations(good, spec, user_id=user_id, file_sha256=file_sha256)
    counts = _count_by(observations.column("content_type"))
    tracks = pc.equal(observations.column("content_type"), "track")
    short = pc.less(observations.column("ms_played"), PLAY_THRESHOLD_MS)
    under = int(pc.sum(pc.and_(tracks, short)).as_py() or 0)
    return Normalized(observations, malformed, duplicates, unknown, counts, under)


def _count_by(column: pa.ChunkedArray) -> dict[str, int]:
    counted = pc.value_counts(column)
    return {item["values"]: item["counts"] for item in counted.to_pylist()} if len(column) else {}


def _constant(value: str, n: int) -> pa.Array:
    # pa.repeat: 5 ms for a million rows; filling an all-null array took 90 ms (x4 per file).
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _to_observations(
    good: pa.Table, spec: FormatSpec, *, user_id: str, file_sha256: str
) -> pa.Table:
    n = good.num_rows
    columns: dict[str, Any] = {
        "user_id": _constant(user_id, n),
        "source": _constant(spec.source, n),
        "ts_precision": _constant(spec.ts_precision, n),
        "file_sha256": _constant(file_sha256, n),
        "ended_at": good.column("_ended_ms").cast(pa.int64()).cast(TS_MS_UTC),
        "offline_at": good.column("_offline_ms").cast(pa.int64()).cast(TS_MS_UTC),
        "extra": _extra_column(good, spec.extra_keys),
    }
    for name in ("content_type", "ms_played", "track_id", "file_row", *STRING_COLUMNS,
                 *BOOL_COLUMNS):  # fmt: skip
        columns[name] = good.column(name)
    return pa.table({f.name: columns[f.name] for f in OBSERVATION_SCHEMA}).cast(OBSERVATION_SCHEMA)
