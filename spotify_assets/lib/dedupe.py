"""The deduplication rule that turns observations from every source into one row per play.

Sources, most to least precise:
1. extended exports (`Streaming_History_Audio_*`, legacy `endsong_*`): `ts` = playback stop to
   the second, track URI, exact `ms_played` and the richest fields;
2. account-data exports (`StreamingHistory_music_*`): `endTime` to the minute, names only, exact
   `msPlayed`;
3. polling (`/me/player/recently-played`): `played_at` to the millisecond (we treat it as the
   playback stop, like `ts`), track id and full metadata, no `ms_played`, only plays >= 30 s.

The rule, applied per user:
- Exact repeats within a source (the same file imported twice, overlapping exports, re-polls)
  collapse: same stop time, same item, same `ms_played`.
- An account-data row IS an extended row when primary artist and title match (normalised),
  `ms_played` is equal and the extended stop time, floored to the minute, is within one minute of
  `endTime`. The extended row wins; the pair counts once.
- A polled play IS an export row when it is the same track (by id against extended rows, by
  normalised names against account-data rows) and the stop times are within `POLL_TOLERANCE`
  (extended) or inside the `endTime` minute plus `POLL_TOLERANCE` (account data). The export
  row's fields win; the poll adds track id, album, duration, ISRC and context.
- Matching is one-to-one, nearest first, so a track played twice in a row stays two plays.
- What matches nothing is a play of its own. Rows under 30 s never reach `plays` (they are
  counted in the import report and kept in `exported_plays`).

Start time = stop time - `ms_played`. For a play seen only by polling, `ms_played` is unknown:
`listened_ms` is the track duration, capped by the time since the previous play of that user
ended (they cannot overlap), and flagged `listened_ms_estimated`.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MIN_PLAY_MS = 30_000
POLL_TOLERANCE_S = 30
PRECISE_SOURCES = ("export_extended", "export_endsong")
MINUTE_SOURCES = ("export_account",)

# What only an export says about a play: passed through from its row to the play.
EXPORT_FIELDS = [
    "platform",
    "conn_country",
    "shuffle",
    "skipped",
    "reason_start",
    "reason_end",
    "offline",
    "incognito",
]
PLAY_COLUMNS = [
    "user_id",
    "play_id",
    "day",
    "started_at",
    "ended_at",
    "ended_at_precision",
    "ms_played",
    "listened_ms",
    "listened_ms_estimated",
    "track_id",
    "track_key",
    "track_name",
    "artist_name",
    "artist_ids",
    "album_id",
    "album_name",
    "duration_ms",
    "isrc",
    "sources",
    *EXPORT_FIELDS,
    "context_uri",
]
# The export columns a merge reads (`exported_plays` has more: episodes, raw extras).
EXPORT_COLUMNS = [
    "user_id",
    "source",
    "content_type",
    "ended_at",
    "ms_played",
    "track_uri",
    "track_id",
    "track_name",
    "artist_name",
    "album_name",
    *EXPORT_FIELDS,
    "file_sha256",
    "file_row",
]


def normalize_name(text: object) -> str:
    if not isinstance(text, str):
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


def track_key(artist: object, title: object) -> str:
    """Name key for rows without a track id (account data): 'artist<TAB>title', normalised."""
    return f"{normalize_name(artist)}\t{normalize_name(title)}"


def _normalized(names: pa.ChunkedArray | pa.Array) -> pa.Array:
    # Names repeat a lot (a listener's artists and tracks): normalise each distinct one once.
    encoded = pc.dictionary_encode(names)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks else pa.array([], encoded.type)
    distinct = pa.array([normalize_name(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.fill_null(distinct.take(encoded.indices), "")


def track_keys(artists: pa.ChunkedArray | pa.Array, titles: pa.ChunkedArray | pa.Array) -> pa.Array:
    """`track_key` for whole columns."""
    return pc.binary_join_element_wise(_normalized(artists), _normalized(titles), "\t")


def _first_items(lists: pa.ChunkedArray) -> pa.Array:
    """Each list's first item (null for an empty or null list)."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    has = pc.fill_null(pc.greater(pc.list_value_length(lists), 0), False)
    firsts = pc.list_element(pc.filter(lists, has), 0)
    return pc.replace_with_mask(pa.nulls(len(lists), lists.type.value_type), has, firsts)


def _greedy_pairs(candidates: pa.Table) -> pa.Table:
    """One-to-one pairs from candidate pairs (l, r) sorted nearest first: each is taken
    unless its l or r is taken already."""
    used_l: set[int] = set()
    used_r: set[int] = set()
    left, right = [], []
    for li, ri in zip(candidates["l"].to_pylist(), candidates["r"].to_pylist(), strict=True):
        if li in used_l or ri in used_r:
            continue
        used_l.add(li)
        used_r.add(ri)
        left.append(li)
        right.append(ri)
    return pa.table({"l": pa.array(left, pa.int64()), "r": pa.array(right, pa.int64())})


# The merge works on narrow "spines" (keys, times, row numbers) and joins the wide columns
# once, at the end: DuckDB's window operators carry every column they are given, and over
# all of `exported_plays`' columns they cost 0.8 s per half a million rows, where this whole
# merge takes about as long.
#
# Export rows, exact repeats collapsed (the first kept in the order of the files' rows); `i`
# is a row's id in the matching and its tie-break: its rank in time order (`r`, see
# `_time_ranks`).
_EXPORT_SPINE = """
create temp table export_spine as
select
    arg_min(x, r) as x, user_id, ended_at, track_key, ms_played,
    arg_min(track_id, r) as track_id, by_minute, min(r) as i
from (
    select *, source in {minute} as by_minute
    from exported
    where source in {minute} or source in {precise}
)
group by by_minute, user_id, ended_at, track_key, if(by_minute, null, track_uri), ms_played
"""
_POLL_SPINE = """
create temp table poll_spine as
select
    o, user_id, played_at, track_id, track_key, duration_ms,
    row_number() over (order by user_id, played_at, track_id, o) as i
from (select o, user_id, played_at, track_id, track_key, duration_ms from polled)
qualify row_number() over (partition by user_id, played_at, track_id order by o) = 1
"""
# Candidate pairs (l, r), r's time - l's time within the rule's bounds, nearest to the middle
# of them first: the three matchings of the module docstring.
_ACCOUNT_IS_EXTENDED = """
select m.i as l, p.i as r
from export_spine as m
join export_spine as p using (user_id, track_key, ms_played)
where m.by_minute and not p.by_minute
  and abs(epoch_ms(date_trunc('minute', p.ended_at)) - epoch_ms(m.ended_at)) <= 60000
order by abs(epoch_ms(date_trunc('minute', p.ended_at)) - epoch_ms(m.ended_at)), l, r
"""
_POLL_IS_EXTENDED = f"""
select p.i as l, q.i as r
from export_spine as p
join poll_spine as q
    on p.user_id = q.user_id and coalesce(p.track_id, '') = coalesce(q.track_id, '')
where not p.by_minute
  and abs(epoch_ms(q.played_at) - epoch_ms(p.ended_at)) <= {POLL_TOLERANCE_S * 1000}
order by abs(epoch_ms(q.played_at) - epoch_ms(p.ended_at)), l, r
"""
_POLL_IS_ACCOUNT = f"""
select m.i as l, q.i as r
from export_spine as m
join poll_spine as q using (user_id, track_key)
where m.by_minute
  and m.i not in (select l from account_is_extended)
  and q.i not in (select r from poll_is_extended)
  and epoch_ms(q.played_at) - epoch_ms(m.ended_at)
      between 0 and {(60 + POLL_TOLERANCE_S) * 1000}
order by abs(epoch_ms(q.played_at) - epoch_ms(m.ended_at) - {(60 + POLL_TOLERANCE_S) * 500}),
    l, r
"""
# One row per play: export rows (with the poll that matched one, if any), then the polled
# plays nothing matched. A polled-only play's length is unknown: the track's duration, capped
# by the time since the user's previous play ended (plays cannot overlap), and at least the
# 30 s that made it count. `part, i` keep the order of equal (user, stop, key) stable.
_PLAY_SPINE = f"""
create temp table play_spine as
with pairs as (
    select false as by_minute, l, r from poll_is_extended
    union all
    select true, l, r from poll_is_account
),
plays as (
    select
        e.by_minute::int as part, e.i, e.x, q.o, e.user_id, e.ended_at, e.track_key,
        e.ms_played, q.duration_ms, if(e.by_minute, 'min', 's') as ended_at_precision
    from export_spine as e
    left join pairs on pairs.by_minute = e.by_minute and pairs.l = e.i
    left join poll_spine as q on q.i = pairs.r
    where not (e.by_minute and e.i in (select l from account_is_extended))
    union all
    select 2, i, null, o, user_id, played_at, track_key, null, duration_ms, 'ms'
    from poll_spine
    where i not in (select r from pairs)
),
timed as (
    select *,
        coalesce(ms_played, greatest(
            coalesce(least(duration_ms, epoch_ms(ended_at) - epoch_ms(lag(ended_at) over w)),
                     {MIN_PLAY_MS}),
            {MIN_PLAY_MS}
        )) as listened_ms
    from plays
    window w as (partition by user_id order by ended_at, track_key, part, i)
)
select *, ended_at - to_milliseconds(listened_ms) as started_at from timed
"""
# The wide columns, joined once: from the export row, and from the poll (the matching one, or
# the polled play itself).
_PLAYS = f"""
select
    s.user_id,
    left(sha1(s.user_id || '|' || (epoch_ms(s.ended_at) // 1000)::varchar || '|' || s.track_key),
         16) as play_id,
    cast(s.started_at as date) as day,
    s.started_at, s.ended_at, s.ended_at_precision, s.ms_played, s.listened_ms,
    s.ms_played is null as listened_ms_estimated,
    if(s.o is null, e.track_id, q.track_id) as track_id,
    s.track_key,
    if(s.part = 2, q.track_name, e.track_name) as track_name,
    if(s.part = 2, q.primary_artist, e.artist_name) as artist_name,
    q.artist_ids, q.album_id,
    coalesce(e.album_name, q.album_name) as album_name,
    q.duration_ms, q.isrc,
    case
        when s.part = 2 then ['poll']
        when s.o is null then [e.source]
        else [e.source, 'poll']
    end as sources,
    {", ".join(f"e.{field}" for field in EXPORT_FIELDS)}, q.context_uri
from play_spine as s
left join exported as e on e.x = s.x
left join polled as q on q.o = s.o
order by day, user_id, started_at, play_id
"""


def merge_plays(exported: pa.Table, polled: pa.Table) -> pa.Table:
    """One row per play from export observations and polled plays (see module docstring).

    `exported` has the `EXPORT_COLUMNS` of `exported_plays` (track rows of any length; short
    ones are dropped here), `polled` the `polled_plays` columns. Returns `PLAY_COLUMNS`, in
    the order `plays`' day files keep (day, user, start, id).

    In DuckDB, but for the names' normalisation (Unicode, in Python, once per distinct name)
    and the nearest-first one-to-one matching (a loop over candidate pairs): the same rule in
    pandas took 1.3 s for half a million plays, and 0.6 s more to hand them to the lake.
    """
    # Here, not at the top: `plays` imports this module, and the definitions load without DuckDB.
    from spotify_assets.lib.query import utc_connection

    exported = exported.select(EXPORT_COLUMNS)
    keep = pc.and_(
        pc.equal(exported["content_type"], "track"),
        pc.greater_equal(exported["ms_played"], MIN_PLAY_MS),
    )
    if not pc.all(keep).as_py():
        exported = exported.filter(keep)
    exported = exported.append_column(
        "track_key", track_keys(exported["artist_name"], exported["track_name"])
    ).append_column("x", _row_numbers(exported.num_rows))
    exported = exported.append_column("r", _time_ranks(exported))
    primary = _first_items(polled["artist_names"])
    polled = (
        polled.append_column("primary_artist", primary)
        .append_column("track_key", track_keys(primary, polled["track_name"]))
        .append_column("o", _row_numbers(polled.num_rows))
    )
    con = utc_connection()
    try:
        con.register("exported", exported)
        con.register("polled", polled)
        con.execute(_EXPORT_SPINE.format(minute=_in(MINUTE_SOURCES), precise=_in(PRECISE_SOURCES)))
        con.execute(_POLL_SPINE)
        for name, candidates in (
            ("account_is_extended", _ACCOUNT_IS_EXTENDED),
            ("poll_is_extended", _POLL_IS_EXTENDED),
            ("poll_is_account", _POLL_IS_ACCOUNT),
        ):
            con.register(name, _greedy_pairs(con.sql(candidates).to_arrow_table()))
        con.execute(_PLAY_SPINE)
        return con.sql(_PLAYS).to_arrow_table()
    finally:
        con.close()


def _time_ranks(exported: pa.Table) -> pa.Array:
    """Each row's rank by user, stop time, source and place in its file (sorted in Arrow: a
    window in DuckDB over these strings took 0.3 s per half a million rows)."""
    order = pc.sort_indices(
        exported,
        sort_keys=[
            (c, "ascending") for c in ("user_id", "ended_at", "source", "file_sha256", "file_row")
        ],
    ).to_numpy()
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order), dtype=np.int64)
    return pa.array(ranks)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _row_numbers(count: int) -> pa.Array:
    return pa.array(np.arange(count, dtype=np.int64))


def days_touched(ended_at: pa.ChunkedArray, ms_played: pa.ChunkedArray) -> set[str]:
    """UTC days where plays started or stopped, for deciding which `plays` partitions an import
    changed. In Arrow: an import can hold millions of rows (a million: 2 s in pandas, 0.2 s in
    numpy, which sorted them all to find 2,434 days; 0.02 s hashed here)."""
    valid = pc.is_valid(ended_at)
    # UTC wall time (no zone), so that a cast to days is the UTC day (it floors before 1970).
    ended = pc.cast(pc.filter(ended_at, valid), pa.timestamp("ms"))
    played = pc.cast(pc.fill_null(pc.filter(ms_played, valid), 0), pa.duration("ms"))
    days = pa.chunked_array(
        [
            *pc.cast(ended, pa.date32()).chunks,
            *pc.cast(pc.subtract(ended, played), pa.date32()).chunks,
        ],
        pa.date32(),
    )
    return {day.isoformat() for day in pc.unique(days).to_pylist()}
