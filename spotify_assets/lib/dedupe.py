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
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MIN_PLAY_MS = 30_000
POLL_TOLERANCE = pd.Timedelta(seconds=30)
MINUTE = pd.Timedelta(minutes=1)
TIMESTAMP = "datetime64[ms, UTC]"
PRECISE_SOURCES = ("export_extended", "export_endsong")
MINUTE_SOURCES = ("export_account",)

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
    "platform",
    "conn_country",
    "shuffle",
    "skipped",
    "reason_start",
    "reason_end",
    "offline",
    "incognito",
    "context_uri",
]


def normalize_name(text: object) -> str:
    if not isinstance(text, str):
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


def track_key(artist: object, title: object) -> str:
    """Name key for rows without a track id (account data): 'artist<TAB>title', normalised."""
    return f"{normalize_name(artist)}\t{normalize_name(title)}"


def _normalized(names: pd.Series) -> pd.Series:
    # Names repeat a lot (a listener's artists and tracks): normalise each distinct one once.
    distinct = {name: normalize_name(name) for name in names.drop_duplicates()}
    return names.map(distinct).fillna("").astype(str)


def track_keys(artists: pd.Series, titles: pd.Series) -> pd.Series:
    """`track_key` for whole columns."""
    return _normalized(artists) + "\t" + _normalized(titles)


def _greedy_pairs(
    left: pd.DataFrame,
    right: pd.DataFrame,
    on: list[str],
    lo: pd.Timedelta,
    hi: pd.Timedelta,
    left_time: str,
    right_time: str,
) -> list[tuple[int, int]]:
    """One-to-one pairs (left index, right index) with right_time - left_time in [lo, hi],
    equal `on` columns, nearest first."""
    if left.empty or right.empty:
        return []
    candidates = (
        left[[*on, left_time]]
        .reset_index(names="_l")
        .merge(right[[*on, right_time]].reset_index(names="_r"), on=on, suffixes=("_l", "_r"))
    )
    lt = f"{left_time}_l" if left_time == right_time else left_time
    rt = f"{right_time}_r" if left_time == right_time else right_time
    delta = candidates[rt] - candidates[lt]
    candidates = candidates[(delta >= lo) & (delta <= hi)].assign(_d=(delta - (lo + hi) / 2).abs())
    candidates = candidates.sort_values(["_d", "_l", "_r"], kind="stable")
    used_l: set[int] = set()
    used_r: set[int] = set()
    pairs = []
    for li, ri in zip(candidates["_l"].to_numpy(), candidates["_r"].to_numpy(), strict=True):
        if li in used_l or ri in used_r:
            continue
        used_l.add(li)
        used_r.add(ri)
        pairs.append((int(li), int(ri)))
    return pairs


def _dedupe_exact(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.drop_duplicates(subset=keys, keep="first")


def merge_plays(exported: pd.DataFrame, polled: pd.DataFrame) -> pd.DataFrame:
    """One row per play from export observations and polled plays (see module docstring).

    `exported` has the `exported_plays` columns (track rows of any length; short ones are
    dropped here), `polled` the `polled_plays` columns. Returns `PLAY_COLUMNS`, sorted.
    """
    exported = exported[
        (exported["content_type"] == "track") & (exported["ms_played"] >= MIN_PLAY_MS)
    ].copy()
    # One resolution for every timestamp: pandas concatenates mixed ones to `object`.
    exported["ended_at"] = exported["ended_at"].astype(TIMESTAMP)
    polled = polled.assign(played_at=polled["played_at"].astype(TIMESTAMP))
    exported["track_key"] = track_keys(exported["artist_name"], exported["track_name"])
    exported = exported.sort_values(["user_id", "ended_at", "source", "file_sha256", "file_row"])
    precise = exported[exported["source"].isin(PRECISE_SOURCES)]
    minute = exported[exported["source"].isin(MINUTE_SOURCES)]
    precise = _dedupe_exact(
        precise, ["user_id", "ended_at", "track_key", "track_uri", "ms_played"]
    ).reset_index(drop=True)
    minute = _dedupe_exact(minute, ["user_id", "ended_at", "track_key", "ms_played"]).reset_index(
        drop=True
    )

    # Account-data rows that are extended rows seen again.
    precise["_minute"] = precise["ended_at"].dt.floor("min")
    dup_minutes = _greedy_pairs(
        minute,
        precise,
        ["user_id", "track_key", "ms_played"],
        -MINUTE,
        MINUTE,
        "ended_at",
        "_minute",
    )
    minute = minute.drop(index=[m for m, _ in dup_minutes]).reset_index(drop=True)

    polled = polled.sort_values(["user_id", "played_at", "track_id"])
    polled = _dedupe_exact(polled, ["user_id", "played_at", "track_id"]).reset_index(drop=True)
    primary = polled["artist_names"].map(lambda names: names[0] if len(names) else None)
    polled["track_key"] = track_keys(primary, polled["track_name"])
    precise["track_id_key"] = precise["track_id"].fillna("")
    polled["track_id_key"] = polled["track_id"].fillna("")
    poll_precise = _greedy_pairs(
        precise,
        polled,
        ["user_id", "track_id_key"],
        -POLL_TOLERANCE,
        POLL_TOLERANCE,
        "ended_at",
        "played_at",
    )
    matched_polls = {p for _, p in poll_precise}
    rest = polled.drop(index=list(matched_polls))
    poll_minute = _greedy_pairs(
        minute,
        rest,
        ["user_id", "track_key"],
        pd.Timedelta(0),
        MINUTE + POLL_TOLERANCE,
        "ended_at",
        "played_at",
    )
    matched_polls |= {p for _, p in poll_minute}

    plays = [
        _from_export(precise, "s", poll_precise, polled),
        _from_export(minute, "min", poll_minute, polled),
        _from_poll(polled.drop(index=list(matched_polls))),
    ]
    parts = [p for p in plays if not p.empty]
    if not parts:
        return pd.DataFrame(columns=PLAY_COLUMNS)
    return _finish(pd.concat(parts, ignore_index=True))


def _from_export(
    rows: pd.DataFrame, precision: str, pairs: list[tuple[int, int]], polled: pd.DataFrame
) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame()
    out = pd.DataFrame(
        {
            "user_id": rows["user_id"],
            "ended_at": rows["ended_at"],
            "ended_at_precision": precision,
            "ms_played": rows["ms_played"].astype("Int64"),
            "track_id": rows["track_id"],
            "track_key": rows["track_key"],
            "track_name": rows["track_name"],
            "artist_name": rows["artist_name"],
            "artist_ids": [None] * len(rows),
            "album_id": None,
            "album_name": rows["album_name"],
            "duration_ms": pd.array([pd.NA] * len(rows), dtype="Int64"),
            "isrc": None,
            # "+"-joined while matching, a list column in `_finish` (see there).
            "sources": rows["source"].astype(object),
            "platform": rows["platform"],
            "conn_country": rows["conn_country"],
            "shuffle": rows["shuffle"],
            "skipped": rows["skipped"],
            "reason_start": rows["reason_start"],
            "reason_end": rows["reason_end"],
            "offline": rows["offline"],
            "incognito": rows["incognito"],
            "context_uri": None,
        }
    )
    for export_index, poll_index in pairs:
        poll = polled.loc[poll_index]
        out.at[export_index, "track_id"] = poll["track_id"]
        out.at[export_index, "artist_ids"] = list(poll["artist_ids"])
        out.at[export_index, "album_id"] = poll["album_id"]
        if pd.isna(out.at[export_index, "album_name"]):
            out.at[export_index, "album_name"] = poll["album_name"]
        out.at[export_index, "duration_ms"] = poll["duration_ms"]
        out.at[export_index, "isrc"] = poll["isrc"]
        out.at[export_index, "context_uri"] = poll["context_uri"]
        out.at[export_index, "sources"] = out.at[export_index, "sources"] + "+poll"
    return out


def _from_poll(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "user_id": rows["user_id"],
            "ended_at": rows["played_at"],
            "ended_at_precision": "ms",
            "ms_played": pd.array([pd.NA] * len(rows), dtype="Int64"),
            "track_id": rows["track_id"],
            "track_key": rows["track_key"],
            "track_name": rows["track_name"],
            "artist_name": [a[0] if len(a) else None for a in rows["artist_names"]],
            "artist_ids": [list(a) for a in rows["artist_ids"]],
            "album_id": rows["album_id"],
            "album_name": rows["album_name"],
            "duration_ms": rows["duration_ms"].astype("Int64"),
            "isrc": rows["isrc"],
            "sources": "poll",
            "platform": None,
            "conn_country": None,
            "shuffle": None,
            "skipped": None,
            "reason_start": None,
            "reason_end": None,
            "offline": None,
            "incognito": None,
            "context_uri": rows["context_uri"],
        }
    )


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(["user_id", "ended_at", "track_key"], kind="stable")
    frame = frame.reset_index(drop=True)
    known = frame["ms_played"].notna()
    previous_end = frame.groupby("user_id")["ended_at"].shift(1)
    gap_ms = (frame["ended_at"] - previous_end).dt.total_seconds() * 1000
    duration = frame["duration_ms"].astype("float64")
    estimate = np.fmin(duration.to_numpy(), gap_ms.fillna(np.inf).to_numpy())
    # A played track lasted at least the 30 s that made it count.
    estimate = np.maximum(np.nan_to_num(estimate, nan=MIN_PLAY_MS), MIN_PLAY_MS)
    frame["listened_ms"] = np.where(
        known, frame["ms_played"].fillna(0).astype("int64"), estimate
    ).astype("int64")
    frame["listened_ms_estimated"] = ~known
    frame["started_at"] = frame["ended_at"] - pd.to_timedelta(frame["listened_ms"], unit="ms")
    frame["day"] = frame["started_at"].dt.date
    frame["play_id"] = play_ids(frame["user_id"], frame["ended_at"], frame["track_key"])
    # Split in Arrow: building a million one-element Python lists took a second.
    joined = pa.array(frame["sources"].astype(str).to_numpy(), pa.string())
    frame["sources"] = pd.Series(
        pd.arrays.ArrowExtensionArray(pc.split_pattern(joined, "+")), index=frame.index
    )
    return frame[PLAY_COLUMNS]


def _unix_seconds(instants: pd.Series) -> np.ndarray:
    utc = pd.to_datetime(instants, utc=True).dt.tz_convert(None)
    return utc.to_numpy().astype("datetime64[s]").astype(np.int64)


def play_ids(user_ids: pd.Series, ended_at: pd.Series, keys: pd.Series) -> np.ndarray:
    """Stable across rebuilds: who, when it stopped (to the second), what. The first 16 hex
    digits of sha1('<user>|<unix second>|<track key>'), computed in DuckDB (a million rows in
    Python took seconds)."""
    import duckdb

    table = pa.table(
        {
            "u": pa.array(user_ids.astype(str).to_numpy(), pa.string()),
            "s": pa.array(_unix_seconds(ended_at), pa.int64()),
            "k": pa.array(keys.astype(str).to_numpy(), pa.string()),
        }
    )
    con = duckdb.connect()
    try:
        con.register("ids", table)
        out = con.sql("select left(sha1(u || '|' || s::varchar || '|' || k), 16) from ids")
        return out.to_arrow_table().column(0).to_numpy(zero_copy_only=False)
    finally:
        con.close()


def days_touched(ended_at: pa.ChunkedArray, ms_played: pa.ChunkedArray) -> set[str]:
    """UTC days where plays started or stopped, for deciding which `plays` partitions an import
    changed. In numpy on the Arrow columns: an import can hold millions of rows, and the same
    in pandas took 2 s for a million."""
    valid = pc.is_valid(ended_at)
    # Naive UTC datetime64: numpy has no time zones; casting to days floors.
    ended = pc.filter(ended_at, valid).to_numpy()
    played = pc.fill_null(pc.filter(ms_played, valid), 0).to_numpy().astype("timedelta64[ms]")
    days = np.unique(
        np.concatenate([ended.astype("datetime64[D]"), (ended - played).astype("datetime64[D]")])
    )
    return {str(day) for day in days}
