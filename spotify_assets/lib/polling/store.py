"""Where the poll plans live: `<state_dir>/poll_plan.sqlite3`, one JSON plan per user.

Not the user registry: a plan is rewritten by every sensor tick that grants a poll and by
every poll, and holds a learned model; the registry holds secrets and is the source of truth
for who is enrolled (its `pulls` cursor stays the poll's own record of the newest play seen).
Not the sensor's cursor either: runs update plans, and only a sensor may write its cursor.
A file beside the registry survives restarts and redeploys like the registry does; losing it
costs a relearn (every user is due at once, then cold for a day), never a play.

`grant` decides and marks the granted users in one write transaction, so two sensor ticks
(or a tick and a run) never both grant the same poll. A store keeps one connection (WAL):
opening one per transaction would checkpoint the log at every close.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from spotify_assets.lib.polling.plans import Decision, Plan, due_now, requested
from spotify_assets.lib.polling.rates import PollPolicy

FILE_NAME = "poll_plan.sqlite3"
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
create table if not exists plans (
    user_id text primary key,
    next_poll_at text not null,
    plan text not null
)
"""


class PlanStore:
    """Poll plans by user id; safe across threads and processes (SQLite WAL)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        if self._con.execute("pragma journal_mode").fetchone()[0] != "wal":
            # Another process switching at the same moment wins; either way the file is WAL.
            with contextlib.suppress(sqlite3.OperationalError):
                self._con.execute("pragma journal_mode = wal")
        with self._tx() as con:
            con.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"PlanStore({str(self.path)!r})"

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> PlanStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._con.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; threads of this process take turns, other processes wait on
        SQLite's lock (busy timeout)."""
        with self._lock:
            self._con.execute("begin immediate")
            try:
                yield self._con
            except BaseException:
                self._con.execute("rollback")
                raise
            self._con.execute("commit")

    def load(self) -> dict[str, Plan]:
        with self._tx() as con:
            return _load(con)

    def get(self, user_id: str) -> Plan | None:
        with self._tx() as con:
            row = con.execute("select plan from plans where user_id = ?", (user_id,)).fetchone()
        return Plan.from_json(json.loads(row[0])) if row else None

    def save(self, plan: Plan) -> None:
        with self._tx() as con:
            _save(con, plan)

    def update(self, user_id: str, change: Callable[[Plan | None], Plan]) -> Plan:
        """Read, change and write one user's plan in one transaction (a tick may mark it
        meanwhile)."""
        with self._tx() as con:
            row = con.execute("select plan from plans where user_id = ?", (user_id,)).fetchone()
            plan = change(Plan.from_json(json.loads(row[0])) if row else None)
            _save(con, plan)
        return plan

    def grant(
        self,
        user_ids: Iterable[str],
        now: datetime,
        policy: PollPolicy,
        enrolled: Iterable[str] | None = None,
    ) -> Decision:
        """Who is polled now (see `polling.due_now`), marked as requested in the same
        transaction; plans of users no longer `enrolled` (when given) are dropped."""
        with self._tx() as con:
            plans = _load(con)
            if enrolled is not None:
                keep = set(enrolled)
                for gone in [u for u in plans if u not in keep]:
                    con.execute("delete from plans where user_id = ?", (gone,))
                    del plans[gone]
            decision = due_now(plans, user_ids, now, policy)
            for user_id in decision.granted:
                _save(con, requested(plans.get(user_id), user_id, now))
        return decision

    def forget(self, user_id: str) -> bool:
        """Drop a user's plan (`users remove`); False if there was none."""
        with self._tx() as con:
            return con.execute("delete from plans where user_id = ?", (user_id,)).rowcount > 0

    def keep_only(self, user_ids: Iterable[str]) -> int:
        """Drop the plans of everyone not in `user_ids` (users removed since); how many."""
        keep = set(user_ids)
        with self._tx() as con:
            gone = [u for (u,) in con.execute("select user_id from plans") if u not in keep]
            con.executemany("delete from plans where user_id = ?", [(u,) for u in gone])
        return len(gone)


def _load(con: sqlite3.Connection) -> dict[str, Plan]:
    return {
        user_id: Plan.from_json(json.loads(text))
        for user_id, text in con.execute("select user_id, plan from plans order by user_id")
    }


def _save(con: sqlite3.Connection, plan: Plan) -> None:
    con.execute(
        "insert into plans (user_id, next_poll_at, plan) values (?, ?, ?) "
        "on conflict (user_id) do update set next_poll_at = excluded.next_poll_at, "
        "plan = excluded.plan",
        (plan.user_id, plan.next_poll_at.isoformat(), json.dumps(plan.to_json())),
    )
