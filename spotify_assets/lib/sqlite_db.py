"""Small SQLite stores shared by several processes (runs, sensors, the CLI): one way to open them.

WAL lets readers go on while one process writes; a busy timeout makes writers wait for each other
instead of failing; `begin immediate` takes the write lock up front, because a deferred
transaction that upgrades later can fail with SQLITE_BUSY without waiting for the timeout.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_MS = 60_000


def open_db(path: Path, *, timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=timeout_ms / 1000, isolation_level=None)
    con.execute(f"pragma busy_timeout = {timeout_ms:d}")
    con.execute("pragma foreign_keys = on")
    # Overwrite freed pages, so a forgotten user's rows do not linger in the file.
    con.execute("pragma secure_delete = on")
    return con


def use_wal(con: sqlite3.Connection, *, timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    """Switch the file to WAL once. Switching needs an exclusive lock and SQLite does not wait
    on its busy handler for it, so two processes opening a new store at once would see
    "database is locked": read the mode first, and retry the switch while it is contended."""
    deadline = time.monotonic() + timeout_ms / 1000
    while con.execute("pragma journal_mode").fetchone()[0] != "wal":
        try:
            con.execute("pragma journal_mode = wal")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def create(path: Path, schema: list[str], *, mode: int = 0o600) -> None:
    """Create the file (with `mode`, before SQLite sees it: its -wal/-shm files inherit it),
    switch it to WAL and apply `schema` (idempotent statements)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, mode))
    with disk_errors_as_oserror():
        con = open_db(path)
        try:
            use_wal(con)
            con.execute("begin immediate")
            for statement in schema:
                con.execute(statement)
            con.execute("commit")
        finally:
            con.close()


def purge_freed_pages(path: Path) -> None:
    """After deleting someone's rows: move the WAL into the file and empty it, so no older page
    image holding those rows stays on disk (secure_delete zeroes the freed space itself)."""
    con = open_db(path)
    try:
        con.execute("pragma wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


@contextlib.contextmanager
def disk_errors_as_oserror() -> Iterator[None]:
    """SQLite reports a full disk as an OperationalError; callers handle it as the OSError it
    is (the machine failed, not the data), like any other write."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "disk is full" in str(exc) or "disk I/O error" in str(exc):
            code = errno.ENOSPC if "full" in str(exc) else errno.EIO
            raise OSError(code, f"{os.strerror(code)} (SQLite: {exc})") from exc
        raise


@contextlib.contextmanager
def transaction(
    path: Path, *, write: bool, timeout_ms: int = BUSY_TIMEOUT_MS
) -> Iterator[sqlite3.Connection]:
    """One transaction on a fresh connection (safe across threads and processes)."""
    with disk_errors_as_oserror():
        con = open_db(path, timeout_ms=timeout_ms)
        try:
            con.execute("begin immediate" if write else "begin")
            try:
                yield con
            except BaseException:
                con.execute("rollback")
                raise
            con.execute("commit")
        finally:
            con.close()
