"""The enrichment cache: every MusicBrainz answer and every match decision, in SQLite.

`data/state/musicbrainz_cache.sqlite3` holds
- `responses`: each request's parsed answer (JSON), "not found" included, so a re-run, a crash
  restart or a second entity needing the same answer asks nothing;
- `matches`: per Spotify track/album/artist the decision (matched, or unmatched with a back-off:
  1 day, then 7 days, then every 30 days), so nothing answered is asked again before its time;
- `credits` / `related`: artists credited on matched recordings, so an artist is matched from
  its tracks' credits without a request, even when its tracks were matched in an earlier run;
- `tags` / `tagged`: tags and genres of matched entities.

SQLite (WAL, busy timeout) rather than a lake table: answers are written one at a time as they
arrive, a killed run keeps every answer it paid for, and two processes may share the file.
Times are UTC epoch seconds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from spotify_assets.lib.musicbrainz.matching import Match

# Not found: ask again after a day (new entries get added), then a week, then every month.
BACKOFF = (timedelta(days=1), timedelta(days=7), timedelta(days=30))
KINDS = ("track", "album", "artist")

_SCHEMA = """
create table if not exists responses (
    key text primary key,
    found integer not null,
    body text not null,
    fetched_at real not null
);
create table if not exists matches (
    kind text not null,
    spotify_id text not null,
    status text not null,
    mbid text,
    group_mbid text,
    method text,
    score real,
    matched_at real,
    checked_at real not null,
    attempts integer not null,
    retry_after real,
    primary key (kind, spotify_id)
);
create table if not exists credits (
    track_id text not null,
    artist_id text not null,
    mbid text not null,
    method text not null,
    score real not null,
    primary key (track_id, artist_id)
);
create table if not exists related (
    track_id text not null,
    mbid text not null,
    primary key (track_id, mbid)
);
create table if not exists tags (
    entity_type text not null,
    mbid text not null,
    kind text not null,
    name text not null,
    count integer not null,
    fetched_at real not null,
    primary key (entity_type, mbid, kind, name)
);
create table if not exists tagged (
    entity_type text not null,
    mbid text not null,
    fetched_at real not null,
    primary key (entity_type, mbid)
);
"""


def backoff_for(attempts: int) -> timedelta:
    """How long an entity stays unasked after its `attempts`-th fruitless lookup (>= 1)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the enrichment clock must be UTC-aware")
    return moment.timestamp()


def as_datetime(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class MatchRow:
    """One decision of the `matches` table."""

    kind: str
    spotify_id: str
    status: str  # matched | unmatched
    mbid: str | None
    group_mbid: str | None
    method: str | None
    score: float | None
    matched_at: float | None
    checked_at: float
    attempts: int
    retry_after: float | None

    def due(self, now: float) -> bool:
        """Whether MusicBrainz may be asked about it again at `now`."""
        return self.status == "unmatched" and (self.retry_after or 0.0) <= now


@dataclass(frozen=True)
class Credit:
    track_id: str
    artist_id: str
    match: Match


class MbCache:
    """The cache file; one connection per instance (not shared across threads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: each statement commits on its own unless `_transaction` is used,
        # so an answer is durable the moment it is stored.
        self._con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._con.execute("pragma busy_timeout = 30000")
        _use_wal(self._con, self.path)
        self._con.execute("pragma synchronous = normal")
        self._con.executescript(_SCHEMA)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> MbCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _transaction(self) -> Any:
        return _Transaction(self._con)

    # --- responses ---

    def response(self, key: str, fresh_since: float | None = None) -> tuple[bool, Any]:
        """(hit, answer) for a request key; answers fetched before `fresh_since` are misses."""
        row = self._con.execute(
            "select body, fetched_at from responses where key = ?", (key,)
        ).fetchone()
        if row is None or (fresh_since is not None and row[1] < fresh_since):
            return False, None
        return True, json.loads(row[0])

    def put_response(self, key: str, answer: Any, now: float) -> None:
        self._con.execute(
            "insert or replace into responses (key, found, body, fetched_at) values (?, ?, ?, ?)",
            (key, int(bool(answer)), json.dumps(answer, sort_keys=True), now),
        )

    def response_count(self) -> int:
        return self._con.execute("select count(*) from responses").fetchone()[0]

    # --- match decisions ---

    def matches(self, kind: str) -> dict[str, MatchRow]:
        """Every decision about `kind` entities, by Spotify id."""
        rows = self._con.execute(
            "select kind, spotify_id, status, mbid, group_mbid, method, score, matched_at, "
            "checked_at, attempts, retry_after from matches where kind = ?",
            (_check_kind(kind),),
        ).fetchall()
        return {r[1]: MatchRow(*r) for r in rows}

    def matches_one(self, kind: str, spotify_id: str) -> MatchRow | None:
        row = self._con.execute(
            "select kind, spotify_id, status, mbid, group_mbid, method, score, matched_at, "
            "checked_at, attempts, retry_after from matches where kind = ? and spotify_id = ?",
            (_check_kind(kind), spotify_id),
        ).fetchone()
        return None if row is None else MatchRow(*row)

    def record(self, kind: str, spotify_id: str, match: Match | None, now: float) -> MatchRow:
        """Store the outcome of asking about one entity; None = nothing acceptable found."""
        with self._transaction():
            previous = self._con.execute(
                "select attempts, matched_at from matches where kind = ? and spotify_id = ?",
                (_check_kind(kind), spotify_id),
            ).fetchone()
            attempts = previous[0] if previous else 0
            if match is None:
                attempts += 1
                retry = now + backoff_for(attempts).total_seconds()
                row = MatchRow(
                    kind,
                    spotify_id,
                    "unmatched",
                    None,
                    None,
                    None,
                    None,
                    None,
                    now,
                    attempts,
                    retry,
                )
            else:
                row = MatchRow(
                    kind,
                    spotify_id,
                    "matched",
                    match.mbid,
                    match.group_mbid,
                    match.method,
                    match.score,
                    now,
                    now,
                    attempts,
                    None,
                )
            self._con.execute(
                "insert or replace into matches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.kind,
                    row.spotify_id,
                    row.status,
                    row.mbid,
                    row.group_mbid,
                    row.method,
                    row.score,
                    row.matched_at,
                    row.checked_at,
                    row.attempts,
                    row.retry_after,
                ),
            )
        return row

    # --- credits ---

    def record_credits(
        self, track_id: str, credits: dict[str, Match], related: Iterable[str]
    ) -> None:
        """Artists found in a matched track's credit (Spotify artist id -> match), and every
        artist MBID on that credit."""
        with self._transaction():
            self._con.execute("delete from credits where track_id = ?", (track_id,))
            self._con.execute("delete from related where track_id = ?", (track_id,))
            self._con.executemany(
                "insert into credits values (?, ?, ?, ?, ?)",
                [(track_id, a, m.mbid, m.method, m.score) for a, m in sorted(credits.items())],
            )
            self._con.executemany(
                "insert or ignore into related values (?, ?)",
                [(track_id, mbid) for mbid in sorted(set(related))],
            )

    def credits(self) -> Iterator[Credit]:
        for track_id, artist_id, mbid, method, score in self._con.execute(
            "select track_id, artist_id, mbid, method, score from credits order by 1, 2"
        ):
            yield Credit(track_id, artist_id, Match(mbid, method, score))

    def related(self) -> dict[str, set[str]]:
        """Track id -> every artist MBID credited on its matched recording."""
        found: dict[str, set[str]] = {}
        for track_id, mbid in self._con.execute("select track_id, mbid from related"):
            found.setdefault(track_id, set()).add(mbid)
        return found

    # --- tags ---

    def record_tags(
        self,
        entity_type: str,
        mbid: str,
        tags: Iterable[tuple[str, int]],
        genres: Iterable[tuple[str, int]],
        now: float,
    ) -> None:
        rows = [(entity_type, mbid, "tag", n, c, now) for n, c in tags]
        rows += [(entity_type, mbid, "genre", n, c, now) for n, c in genres]
        with self._transaction():
            self._con.execute(
                "delete from tags where entity_type = ? and mbid = ?", (entity_type, mbid)
            )
            self._con.executemany("insert or replace into tags values (?, ?, ?, ?, ?, ?)", rows)
            self._con.execute(
                "insert or replace into tagged values (?, ?, ?)", (entity_type, mbid, now)
            )

    def tagged(self, entity_type: str) -> set[str]:
        return {
            r[0]
            for r in self._con.execute(
                "select mbid from tagged where entity_type = ?", (entity_type,)
            )
        }

    def tags(self) -> list[tuple[str, str, str, str, int, float]]:
        """(entity_type, mbid, kind, name, count, fetched_at) rows."""
        return self._con.execute(
            "select entity_type, mbid, kind, name, count, fetched_at from tags order by 1, 2, 3, 4"
        ).fetchall()


class _Transaction:
    """`begin immediate` ... commit/rollback: takes the write lock up front, so two processes
    queue (busy timeout) instead of failing on a lock upgrade."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def __enter__(self) -> None:
        self._con.execute("begin immediate")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._con.execute("rollback" if exc_type else "commit")


def _use_wal(con: sqlite3.Connection, path: Path, attempts: int = 100) -> None:
    """Switch the file to WAL (it stays so), waiting out another process doing the same.

    Changing the journal mode needs the file to itself and SQLite answers "database is locked"
    at once, without the busy timeout, while a second process opens it at the same moment.
    """
    for attempt in range(attempts):
        try:
            if con.execute("pragma journal_mode").fetchone()[0] != "wal":
                con.execute("pragma journal_mode = wal")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise sqlite3.OperationalError(f"{path}: cannot switch to WAL: {exc}") from exc
            time.sleep(0.02 * (1 + attempt % 10))


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown entity kind {kind!r}; expected one of {KINDS}")
    return kind
