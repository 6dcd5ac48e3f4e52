"""The SQL that turns an export's rows into typed observation candidates: one set of rules.

Both parse engines (ijson streaming and DuckDB `read_json_objects`) feed the same projection
(`row_sql`) with one JSON text per array element, so the validation and mapping rules exist
once. The projection is row-local (no filter, join or ORDER BY), so DuckDB keeps input order
and row i of its output is array element i. `column_row_sql` applies the same per-field rules
to the columns DuckDB's `read_json` makes of a file, the faster way for a file of valid rows.

Per row it yields: the mapped columns, a `_reason` when the row is malformed (every problem
found, '; '-separated), the row's unknown keys, and the raw JSON text only for rows that need it
afterwards (malformed rows, rows with unknown or extra-kept keys). `normalize.finish` makes
observations of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.lib.exports.formats import CONTENT_COLUMNS, Field, FormatSpec, Kind
from spotify_assets.lib.exports.schema import OBSERVATION_SCHEMA

# offline_timestamp: at or above this it is milliseconds (1e11 s would be the year 5138).
_EPOCH_MS_FROM = 100_000_000_000
_EPOCH_JUNK_BELOW = 100  # piebro/spotify-statistics: bogus tiny values occur
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_TS_FORMATS = {
    Kind.TS_SECOND: (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "YYYY-MM-DDTHH:MM:SSZ"),
    Kind.TS_MINUTE: (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "YYYY-MM-DD HH:MM"),
}
# The same shapes as strptime formats, for `column_row_sql`'s quoted texts.
_TS_STRPTIME = {Kind.TS_SECOND: "%Y-%m-%dT%H:%M:%SZ", Kind.TS_MINUTE: "%Y-%m-%d %H:%M"}
# The candidates' text and boolean columns, which the observations keep as they are.
STRING_COLUMNS = tuple(
    f.name
    for f in OBSERVATION_SCHEMA
    if pa.types.is_string(f.type)
    and f.name
    not in ("user_id", "source", "content_type", "ts_precision", "file_sha256", "track_id", "extra")
)
BOOL_COLUMNS = tuple(f.name for f in OBSERVATION_SCHEMA if pa.types.is_boolean(f.type))


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class _FieldSql:
    value: str  # SQL: the converted value (NULL when invalid)
    ok: str  # SQL: cheap, never-NULL boolean: the value is valid (null is valid where allowed)
    error: str  # SQL: the problem, as text; only evaluated for rows that are not ok


# Types are read from each value's JSON text, which json_transform writes minified: a string
# starts with '"', a boolean is exactly true/false, an integer has no '.', 'e' or 'E'. That is
# far cheaper than json_type() per field, and exact for valid JSON.
def _string_value(v: str) -> str:
    # Without a backslash, a JSON string's value is its text between the quotes.
    return (
        f"CASE WHEN starts_with({v}, '\"') THEN CASE WHEN contains({v}, '\\') "
        f"THEN json_extract_string({v}::JSON, '$') ELSE {v}[2:-2] END END"
    )


def _quoted_string_value(v: str) -> str:
    # `_string_value` with its quotes kept (escapes resolved): `column_row_sql`'s strings, whose
    # quotes `unquote_strings` drops in Arrow. The same slice in DuckDB took a third of the
    # read of a file (0.55 s per 500,000 rows, against 0.12 s in Arrow).
    return (
        f"CASE WHEN starts_with({v}, '\"') THEN CASE WHEN contains({v}, '\\') "
        f"THEN '\"' || json_extract_string({v}::JSON, '$') || '\"' ELSE {v} END END"
    )


def _int_value(v: str) -> str:
    return (
        f"CASE WHEN NOT (contains({v}, '.') OR contains({v}, 'e') OR contains({v}, 'E')) "
        f"THEN TRY_CAST({v} AS BIGINT) END"
    )


def _field_sql(i: int, field: Field, quoted: bool) -> _FieldSql:
    v, c, key = f"v{i}", f"c{i}", field.key
    got = f"' got ' || left({v}, 60)"
    if field.kind is Kind.STR:
        return _FieldSql(
            _quoted_string_value(v) if quoted else _string_value(v),
            f"({v} IS NULL OR starts_with({v}, '\"'))",
            _lit(f"{key}: expected a string or null,") + f" || {got}",
        )
    if field.kind is Kind.BOOL:
        return _FieldSql(
            f"CASE {v} WHEN 'true' THEN true WHEN 'false' THEN false END",
            f"({v} IS NULL OR {c} IS NOT NULL)",
            _lit(f"{key}: expected a boolean or null,") + f" || {got}",
        )
    if field.kind is Kind.MS:
        return _FieldSql(
            _int_value(v),
            f"coalesce({c} >= 0, false)",
            f"CASE WHEN {v} IS NULL THEN {_lit(key + ': missing or null')} ELSE "
            + _lit(f"{key}: expected an integer >= 0,")
            + f" || {got} END",
        )
    if field.kind is Kind.EPOCH:
        # `c` is the integer here; `_offline_ms` derives the instant from it.
        return _FieldSql(
            _int_value(v),
            f"({v} IS NULL OR {c} IS NOT NULL)",
            _lit(f"{key}: expected an integer or null,") + f" || {got}",
        )
    pattern, shown_fmt = _TS_FORMATS[field.kind]
    text = f"({_string_value(v)})"
    # The pattern fixes the shape; the cast rejects impossible dates (2022-02-30).
    value = (
        f"CASE WHEN regexp_full_match({text}, {_lit(pattern)}) "
        f"THEN epoch_ms(TRY_CAST({text} AS TIMESTAMP)) END"
    )
    if quoted:
        # On the JSON text as it is (unquoting it took a third of the time): a time written
        # with escapes fails the pattern, and strptime also rejects hour 24, which the cast
        # reads as the next day. Both only make this reading stricter: a row it rejects has
        # the file read again element by element, by the rule above.
        quoted_pattern, quoted_format = _lit(f'"{pattern}"'), _lit(f'"{_TS_STRPTIME[field.kind]}"')
        value = (
            f"CASE WHEN regexp_full_match({v}, {quoted_pattern}) "
            f"THEN epoch_ms(TRY_STRPTIME({v}, {quoted_format})) END"
        )
    return _FieldSql(
        value,
        f"({c} IS NOT NULL)",
        f"CASE WHEN {v} IS NULL THEN {_lit(key + ': missing or null')} ELSE "
        + _lit(f"{key}: expected a {shown_fmt} string,")
        + f" || {got} END",
    )


def _offline_ms(c: str) -> str:
    """offline_timestamp -> epoch ms: seconds or (legacy) milliseconds; junk -> NULL."""
    return (
        f"CASE WHEN {c} < {_EPOCH_JUNK_BELOW} THEN NULL "
        f"WHEN {c} >= {_EPOCH_MS_FROM} THEN CASE WHEN {c} <= {_MAX_MS} THEN {c} END "
        f"ELSE {c} * 1000 END"
    )


def _content_type_sql(spec: FormatSpec, present: dict[str, str]) -> str:
    def any_set(columns: tuple[str, ...]) -> str:
        terms = [f"{present[c]} IS NOT NULL" for c in columns if c in present]
        return "(" + " OR ".join(terms) + ")" if terms else "FALSE"

    has_content = any_set(CONTENT_COLUMNS)
    if spec.content_type is not None:
        return f"CASE WHEN {has_content} THEN {_lit(spec.content_type)} ELSE 'unknown' END"
    # A row naming an audiobook or an episode is that, whatever else it carries.
    audiobook = any_set(("audiobook_title", "audiobook_uri", "chapter_title", "chapter_uri"))
    episode = any_set(("episode_name", "show_name", "episode_uri"))
    return (
        f"CASE WHEN NOT {has_content} THEN 'unknown' WHEN {audiobook} THEN 'audiobook' "
        f"WHEN {episode} THEN 'episode' ELSE 'track' END"
    )


def _select_list(
    spec: FormatSpec,
    present: dict[str, str],
    tail: list[str],
    head: tuple[str, ...] = (),
    quoted: bool = False,
) -> str:
    """`head`, the candidate columns from the converted values (`present`: column -> SQL), then
    `tail` (`_reason`, `_unknown_keys`, `_raw`). `quoted`: strings keep their quotes."""
    track_uri = present.get("track_uri", "NULL::VARCHAR")
    quote = '"' if quoted else ""
    offline = _offline_ms(present["offline_at"]) if "offline_at" in present else "NULL::BIGINT"
    columns = [
        *head,
        f"{_content_type_sql(spec, present)} AS content_type",
        f"{present['ended_at']} AS _ended_ms",
        f"{present['ms_played']} AS ms_played",
        *(f"{present.get(c, 'NULL::VARCHAR')} AS {c}" for c in STRING_COLUMNS),
        *(f"{present.get(c, 'NULL::BOOLEAN')} AS {c}" for c in BOOL_COLUMNS),
        f"{offline} AS _offline_ms",
        f"NULLIF(regexp_extract({track_uri}, '^{quote}spotify:track:([0-9A-Za-z]{{22}}){quote}$', "
        "1), '') AS track_id",
        *tail,
    ]
    return ",\n    ".join(columns)


def _converted(
    spec: FormatSpec, quoted: bool = False
) -> tuple[list[_FieldSql], str, dict[str, str]]:
    """Per read field: its SQL; the conversions as a select list (`v{i}` text -> `c{i}`); and
    column -> `c{i}` for the fields that have a column. `quoted`: strings keep their quotes."""
    sqls = [_field_sql(i, f, quoted) for i, f in enumerate(spec.read_fields)]
    converted = ", ".join(f"{s.value} AS c{i}" for i, s in enumerate(sqls))
    present = {f.column: f"c{i}" for i, f in enumerate(spec.read_fields) if f.column}
    return sqls, converted, present


def row_sql(
    spec: FormatSpec,
    source: str,
    usual_keys: tuple[str, ...],
    passthrough: tuple[str, ...] = (),
) -> str:
    """The projection from `source` (a relation with a `raw` JSON text column) to candidates.

    `usual_keys` are the distinct keys of the file's first element: a row whose keys are a
    permutation of them has no repeated and (if they are all known) no unknown keys, which
    spares the costly per-row list checks for almost every row. `passthrough` names columns
    of `source` copied through unchanged (e.g. `file_row`).
    """
    fields = spec.read_fields
    struct = "{" + ", ".join(f'"{f.key}": "JSON"' for f in fields) + "}"
    texts = ", ".join(f"f[{_lit(f.key)}]::VARCHAR AS v{i}" for i, f in enumerate(fields))
    sqls, converted, present = _converted(spec)
    all_ok = " AND ".join(s.ok for s in sqls)
    errors = "[" + ", ".join(f"CASE WHEN NOT {s.ok} THEN {s.error} END" for s in sqls) + "]"
    known = "[" + ", ".join(_lit(k) for k in sorted(spec.known_keys)) + "]"
    usual = "[" + ", ".join(_lit(k) for k in usual_keys) + "]::VARCHAR[]"
    usual_known = set(usual_keys) <= spec.known_keys
    extra_kept = "[" + ", ".join(_lit(k) for k in sorted(spec.extra_keys)) + "]::VARCHAR[]"
    select_list = _select_list(
        spec,
        present,
        [
            "_reason",
            "unknown AS _unknown_keys",
            "CASE WHEN _reason IS NOT NULL OR len(unknown) > 0 OR has_extra THEN raw END AS _raw",
        ],
        passthrough,
    )
    return f"""
WITH p AS (
    SELECT {"".join(c + ", " for c in passthrough)} raw::VARCHAR AS raw,
        json_keys(raw::JSON) AS keys, json_transform(raw::JSON, {_lit(struct)}) AS f
    FROM {source}
), t AS (
    SELECT * EXCLUDE (f), {texts} FROM p
), c AS (
    SELECT *, {converted} FROM t
), u AS (
    -- Spotify writes every row's keys in the same order, so plain list equality (cheap)
    -- recognises the usual rows; only the rest pay for list_distinct / list_filter.
    SELECT *, coalesce(keys = {usual}, false) AS usual FROM c
), r AS (
    SELECT *,
        CASE
            WHEN NOT starts_with(raw, '{{') AND NOT starts_with(ltrim(raw, ' \t\r\n'), '{{')
            THEN 'not a JSON object: ' || left(ltrim(raw, ' \t\r\n'), 60)
            WHEN NOT usual AND len(keys) <> len(list_distinct(keys))
            THEN 'repeated keys in object'
            WHEN {all_ok} THEN NULL
            ELSE coalesce(
                nullif(array_to_string(list_filter({errors}, lambda e: e IS NOT NULL), '; '), ''),
                'invalid row')
        END AS _reason,
        CASE WHEN {"usual" if usual_known else "FALSE"} THEN NULL
             ELSE list_filter(keys, lambda k: NOT list_contains({known}, k)) END AS unknown,
        {f"list_has_any(keys, {extra_kept})" if spec.extra_keys else "FALSE"} AS has_extra
    FROM u
)
SELECT
    {select_list}
FROM r
"""


def can_read_as_columns(spec: FormatSpec, keys: tuple[str, ...]) -> bool:
    """Whether a file whose first element has `keys` may be read by `column_row_sql`: every key
    known, none kept in `extra` (those rows need their JSON text)."""
    return bool(keys) and set(keys) <= spec.known_keys and not set(keys) & spec.extra_keys


def column_row_sql(spec: FormatSpec, source: str, keys: tuple[str, ...]) -> str:
    """`row_sql`'s candidates from `source`, a relation with one JSON column per key of `keys`:
    DuckDB's `read_json` of the file with those columns, which raises on a row with any other
    key, a repeated key or no object at all, as long as every column is read.

    The fast way for a file of valid rows: no key lists, no text of each row. A row with a
    problem only gets the `_reason` 'invalid row'; the caller then reads the file again with
    `row_sql` to learn which problem, and to keep the row's text. Its text columns keep their
    JSON quotes: `unquote_strings` of its result is `row_sql`'s. It reads times more strictly
    than `row_sql` (see `_field_sql`), never less: a time only `row_sql` reads sends the file
    to it.
    """
    fields = spec.read_fields
    read = {f.key for f in fields}
    texts = ", ".join(
        f'"{f.key}"::VARCHAR AS v{i}' if f.key in keys else f"NULL::VARCHAR AS v{i}"
        for i, f in enumerate(fields)
    )
    # Keys read for no field (the PII) are still read, or DuckDB would skip checking each row's
    # keys (it only checks when a query reads every column): counting their nulls keeps them in.
    unread = [k for k in keys if k not in read]
    touched = " + ".join(f'("{k}" IS NULL)::INTEGER' for k in unread) or "0"
    sqls, converted, present = _converted(spec, quoted=True)
    all_ok = " AND ".join(s.ok for s in sqls)
    select_list = _select_list(
        spec,
        present,
        [
            f"CASE WHEN {all_ok} THEN NULL ELSE 'invalid row' END AS _reason",
            "NULL::VARCHAR[] AS _unknown_keys",
            "NULL::VARCHAR AS _raw",
            "_unread_nulls",
        ],
        quoted=True,
    )
    return f"""
WITH t AS (
    SELECT {texts}, {touched} AS _unread_nulls FROM {source}
), c AS (
    SELECT *, {converted} FROM t
)
SELECT
    {select_list}
FROM c
"""


def unquote_strings(spec: FormatSpec, table: pa.Table) -> pa.Table:
    """`column_row_sql`'s result with its text columns' quotes dropped: `row_sql`'s.

    Allocated by the system, not by pyarrow's default pool (mimalloc): it runs in a piece's
    thread, which ends with the read, and with mimalloc the next steps of the parse, in another
    thread, took 0.25 s longer for a million rows (measured; the same steps after DuckDB's own
    allocations did not)."""
    pool = pa.system_memory_pool()
    for field in spec.read_fields:
        if field.kind is Kind.STR and field.column:
            index = table.schema.get_field_index(field.column)
            column = pc.utf8_slice_codeunits(table.column(index), 1, -1, memory_pool=pool)
            table = table.set_column(index, field.column, column)
    return table
