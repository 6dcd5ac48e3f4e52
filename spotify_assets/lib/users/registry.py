"""The user registry: who is enrolled, their settings, encrypted refresh token and pull state.

A small SQLite file `<state_dir>/users.sqlite3`, not a lake table: it holds secrets (encrypted)
and changes row by row. WAL mode and a busy timeout let a schedule, a sensor and a CLI command
use it at the same time; every write is one short `BEGIN IMMEDIATE` transaction. Every user id is
validated before it reaches SQL (and all SQL is parameterized) or a path.

`UserRegistry` implements the Spotify client's `TokenStore` protocol (`get_refresh_token`,
`save_refresh_token`, `mark_needs_reauth`).
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import os
import re
import secrets
import sqlite3
import time
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from spotify_assets.lib import sqlite_db
from spotify_assets.lib.ids import InvalidIdError, validate_user_id
from spotify_assets.lib.spotify.errors import ReauthorizationRequired
from spotify_assets.lib.users import crypto

if TYPE_CHECKING:
    from pathlib import Path

    from spotify_assets.lib.settings import Settings

Status = Literal["active", "needs_reauth", "paused"]
STATUSES: tuple[Status, ...] = ("active", "needs_reauth", "paused")
OPT_IN_FLAGS = frozenset({"wrapped_playlist", "release_radar_playlist"})
DB_FILE_NAME = "users.sqlite3"
_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Long enough to outlast another process's write (all writes are a few rows), short enough
# that a stuck writer surfaces as an error instead of a hung run.
BUSY_TIMEOUT_MS = 30_000
_MAX_REASON = 500

_SCHEMA = (
    """
    create table if not exists users (
        id text primary key,
        display_name text not null,
        timezone text not null,
        enrolled_at text not null,
        status text not null check (status in ('active', 'needs_reauth', 'paused')),
        reauth_reason text,
        opt_ins text not null default '[]',
        encrypted_refresh_token blob,
        token_authorized_at text
    )
    """,
    """
    create table if not exists pulls (
        user_id text not null references users(id) on delete cascade,
        source text not null,
        last_success_at text not null,
        cursor text,
        primary key (user_id, source)
    )
    """,
)


class UnknownUserError(LookupError):
    """No enrolled user has this id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown user"


class TokenUnavailableError(ReauthorizationRequired):
    """The user's refresh token may not be used: paused, needs re-authorization, or none stored.

    A ReauthorizationRequired, so a pull loop parks this user and goes on with the others,
    exactly as when Spotify itself rejects the token.
    """

    def __init__(self, user_id: str, user_status: str, reason: str | None) -> None:
        self.user_status = user_status
        self.reason = reason
        if user_status == "needs_reauth":
            why = f" ({reason})" if reason else ""
            text = f"user {user_id!r} needs to log in again{why}: run `spotify-assets login`"
        elif user_status == "paused":
            text = (
                f"user {user_id!r} is paused: no pulls until "
                f"`spotify-assets users resume {user_id}`"
            )
        else:
            text = f"user {user_id!r} has no stored refresh token: run `spotify-assets login`"
        super().__init__(user_id, "token store", None, text)

    def _render(self) -> str:
        return self.message


@dataclass(frozen=True)
class User:
    """An enrolled account. Holds no token material, so its repr is safe to log."""

    id: str
    display_name: str
    timezone: str
    enrolled_at: datetime
    status: Status
    opt_ins: frozenset[str]
    last_pull: dict[str, datetime] = field(default_factory=dict)
    reauth_reason: str | None = None
    # When the user last authorized us: Spotify refresh tokens die 6 months after this.
    token_authorized_at: datetime | None = None
    # A random pseudonym ("l-3fa9c2d1") for run metadata, logs and report paths: Dagster's
    # event log keeps them after `users remove`, and without the registry row they name nobody.
    handle: str = ""


def check_user_id(user_id: str) -> str:
    """validate_user_id, plus an explicit refusal of line breaks (ids go into log lines)."""
    validate_user_id(user_id)
    if "\n" in user_id:
        raise InvalidIdError(f"invalid user id {user_id!r}: contains a line break")
    return user_id


@functools.cache
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """An IANA timezone name known to this system's tz database, else ValueError."""
    if not isinstance(name, str) or name not in _known_timezones():
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        )
    return name


def check_opt_in(flag: str) -> str:
    if flag not in OPT_IN_FLAGS:
        raise ValueError(f"unknown opt-in {flag!r}: choose one of {sorted(OPT_IN_FLAGS)}")
    return flag


def _check_source(source: str) -> str:
    if not isinstance(source, str) or not _SOURCE.match(source) or "\n" in source:
        raise ValueError(f"invalid pull source name {source!r}: use [a-z0-9_], at most 64")
    return source


def _utc_text(value: datetime, what: str) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")
    # Fixed width, so stored timestamps also sort correctly as text.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _from_text(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _use_wal(con: sqlite3.Connection) -> None:
    """Switch the file to WAL once. Switching needs an exclusive lock and SQLite does not wait
    on its busy handler for it, so two processes opening a new registry at once would see
    "database is locked": read the mode first, and retry the switch while it is contended."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while con.execute("pragma journal_mode").fetchone()[0] != "wal":
        try:
            con.execute("pragma journal_mode = wal")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def new_handle() -> str:
    return f"l-{secrets.token_hex(4)}"


def _migrate(con: sqlite3.Connection) -> None:
    """Columns added since a registry file was created (inside the schema transaction)."""
    columns = {row[1] for row in con.execute("pragma table_info(users)")}
    if "handle" not in columns:
        con.execute("alter table users add column handle text")
    for (user_id,) in con.execute("select id from users where handle is null").fetchall():
        con.execute("update users set handle = ? where id = ?", (new_handle(), user_id))


class UserRegistry:
    """Enrolled users over `<state_dir>/users.sqlite3`; also the Spotify client's TokenStore."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path: Path = settings.state_dir / DB_FILE_NAME
        self._cipher: crypto.TokenCipher | None = None
        self._init_db()

    def __repr__(self) -> str:
        return f"UserRegistry({str(self.path)!r})"

    # -- storage plumbing -------------------------------------------------------------------

    def _init_db(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before SQLite sees it; SQLite gives its -wal/-shm files the same mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        con = self._open()
        try:
            _use_wal(con)
            con.execute("begin immediate")
            for statement in _SCHEMA:
                con.execute(statement)
            _migrate(con)
            con.execute("commit")
        finally:
            con.close()

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        con.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS:d}")
        con.execute("pragma foreign_keys = on")
        # Overwrite freed pages, so a removed user's rows do not linger in the file.
        con.execute("pragma secure_delete = on")
        return con

    @contextlib.contextmanager
    def _tx(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction on a fresh connection (safe across threads and processes)."""
        con = self._open()
        try:
            # IMMEDIATE takes the write lock up front: a deferred transaction that upgrades
            # later can fail with SQLITE_BUSY without waiting for busy_timeout.
            con.execute("begin immediate" if write else "begin")
            try:
                yield con
            except BaseException:
                con.execute("rollback")
                raise
            con.execute("commit")
        finally:
            con.close()

    def _require(self, con: sqlite3.Connection, user_id: str) -> tuple:
        row = con.execute(
            "select status, reauth_reason, encrypted_refresh_token from users where id = ?",
            (user_id,),
        ).fetchone()
        if row is None:
            raise UnknownUserError(f"no enrolled user {user_id!r} in {self.path}")
        return row

    def _write_cipher(self, con: sqlite3.Connection) -> crypto.TokenCipher:
        """Keys re-read inside the write transaction, so a concurrent rotation is never missed."""
        stored = con.execute(
            "select exists(select 1 from users where encrypted_refresh_token is not null)"
        ).fetchone()[0]
        self._cipher = crypto.load_keyring(self.settings, create=not stored).cipher()
        return self._cipher

    def _decrypt(self, user_id: str, blob: bytes) -> str:
        if self._cipher is None:
            self._cipher = crypto.load_keyring(self.settings, create=False).cipher()
        try:
            return self._cipher.decrypt(user_id, blob)
        except crypto.TokenDecryptError:
            # Another process may have rotated the key since we loaded it.
            self._cipher = crypto.load_keyring(self.settings, create=False).cipher()
            return self._cipher.decrypt(user_id, blob)

    def _update(self, user_id: str, sql: str, params: tuple) -> None:
        with self._tx(write=True) as con:
            self._require(con, user_id)
            con.execute(sql, (*params, user_id))

    # -- enrollment and lookup --------------------------------------------------------------

    def enroll(
        self,
        user_id: str,
        display_name: str,
        refresh_token: str,
        timezone: str | None = None,
        authorized_at: datetime | None = None,
    ) -> User:
        """Add a user, or renew an existing one's token (keeping settings) and make it active."""
        check_user_id(user_id)
        if timezone is not None:
            check_timezone(timezone)
        now = datetime.now(UTC)
        authorized = _utc_text(authorized_at or now, "authorized_at")
        with self._tx(write=True) as con:
            blob = self._write_cipher(con).encrypt(user_id, refresh_token)
            con.execute(
                """
                insert into users (id, display_name, timezone, enrolled_at, status,
                                   reauth_reason, opt_ins, encrypted_refresh_token,
                                   token_authorized_at, handle)
                values (?, ?, ?, ?, 'active', null, '[]', ?, ?, ?)
                on conflict (id) do update set
                    display_name = excluded.display_name,
                    timezone = coalesce(?, users.timezone),
                    status = 'active',
                    reauth_reason = null,
                    encrypted_refresh_token = excluded.encrypted_refresh_token,
                    token_authorized_at = excluded.token_authorized_at
                """,
                (
                    user_id,
                    display_name or user_id,
                    timezone or self.settings.default_timezone,
                    _utc_text(now, "enrolled_at"),
                    blob,
                    authorized,
                    new_handle(),
                    timezone,
                ),
            )
        return self.require(user_id)

    def get(self, user_id: str) -> User | None:
        """The user, or None if nobody with this id is enrolled."""
        check_user_id(user_id)
        users = self._select("where id = ?", (user_id,))
        return users[0] if users else None

    def require(self, user_id: str) -> User:
        """The user, or UnknownUserError naming the id and the registry file."""
        user = self.get(user_id)
        if user is None:
            raise UnknownUserError(f"no enrolled user {user_id!r} in {self.path}")
        return user

    def require_listener(self, user_id: str) -> User:
        """The enrolled user `user_id` names, for work done on their behalf (an import): an
        unknown id is refused with what to do, never made into a phantom listener."""
        check_user_id(user_id)
        user = self.get(user_id)
        if user is not None:
            return user
        close = [u.id for u in self.list() if u.id.lower() == user_id.lower()]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownUserError(
            f"no listener {user_id!r} is enrolled.{hint} Enroll them first: "
            "`spotify-assets login` (see `spotify-assets users list` for who is)."
        )

    def active_users(self) -> builtins.list[User]:
        return self._select("where status = 'active'", ())

    def _select(self, where: str, params: tuple) -> builtins.list[User]:
        # `where` is always one of this module's constant strings; values go through params.
        with self._tx(write=False) as con:
            rows = con.execute(
                "select id, display_name, timezone, enrolled_at, status, reauth_reason, "
                f"opt_ins, token_authorized_at, handle from users {where} order by id",
                params,
            ).fetchall()
            pulls: dict[str, dict[str, datetime]] = {}
            for user_id, source, at in con.execute(
                "select user_id, source, last_success_at from pulls "
                f"where user_id in (select id from users {where}) order by user_id, source",
                params,
            ):
                pulls.setdefault(user_id, {})[source] = datetime.fromisoformat(at)
        return [
            User(
                id=row[0],
                display_name=row[1],
                timezone=row[2],
                enrolled_at=datetime.fromisoformat(row[3]),
                status=row[4],
                opt_ins=frozenset(json.loads(row[6])),
                last_pull=pulls.get(row[0], {}),
                reauth_reason=row[5],
                token_authorized_at=_from_text(row[7]),
                handle=row[8] or "",
            )
            for row in rows
        ]

    # -- user settings ----------------------------------------------------------------------

    def pause(self, user_id: str) -> None:
        """Stop pulling for this user (the token is kept)."""
        check_user_id(user_id)
        self._update(user_id, "update users set status = 'paused' where id = ?", ())

    def resume(self, user_id: str) -> None:
        """Resume a paused user; a user who needs re-authorization must log in instead."""
        check_user_id(user_id)
        with self._tx(write=True) as con:
            status, reason, _ = self._require(con, user_id)
            if status == "needs_reauth":
                raise TokenUnavailableError(user_id, status, reason)
            con.execute("update users set status = 'active' where id = ?", (user_id,))

    def remove(self, user_id: str) -> bool:
        """Delete the user's row and pull state; False if there was none."""
        check_user_id(user_id)
        with self._tx(write=True) as con:
            deleted = con.execute("delete from users where id = ?", (user_id,)).rowcount
        sqlite_db.purge_freed_pages(self.path)
        return deleted > 0

    def set_timezone(self, user_id: str, timezone: str) -> None:
        check_user_id(user_id)
        check_timezone(timezone)
        self._update(user_id, "update users set timezone = ? where id = ?", (timezone,))

    def opt_in(self, user_id: str, flag: str) -> None:
        self._change_opt_ins(user_id, flag, add=True)

    def opt_out(self, user_id: str, flag: str) -> None:
        self._change_opt_ins(user_id, flag, add=False)

    def _change_opt_ins(self, user_id: str, flag: str, *, add: bool) -> None:
        check_user_id(user_id)
        check_opt_in(flag)
        with self._tx(write=True) as con:
            self._require(con, user_id)
            (current,) = con.execute(
                "select opt_ins from users where id = ?", (user_id,)
            ).fetchone()
            flags = set(json.loads(current))
            flags = flags | {flag} if add else flags - {flag}
            con.execute(
                "update users set opt_ins = ? where id = ?",
                (json.dumps(sorted(flags)), user_id),
            )

    # -- pull state -------------------------------------------------------------------------

    def record_pull(
        self, user_id: str, source: str, at: datetime, cursor: str | None = None
    ) -> None:
        """Remember the last successful pull of `source` for the user (and its cursor)."""
        check_user_id(user_id)
        _check_source(source)
        when = _utc_text(at, "at")
        with self._tx(write=True) as con:
            self._require(con, user_id)
            con.execute(
                """
                insert into pulls (user_id, source, last_success_at, cursor)
                values (?, ?, ?, ?)
                on conflict (user_id, source) do update set
                    last_success_at = excluded.last_success_at,
                    cursor = excluded.cursor
                """,
                (user_id, source, when, cursor),
            )

    def pull_state(self, user_id: str, source: str) -> tuple[datetime | None, str | None]:
        """(last_success_at, cursor) of the user's last successful pull, (None, None) if none."""
        check_user_id(user_id)
        _check_source(source)
        with self._tx(write=False) as con:
            self._require(con, user_id)
            row = con.execute(
                "select last_success_at, cursor from pulls where user_id = ? and source = ?",
                (user_id, source),
            ).fetchone()
        return (None, None) if row is None else (_from_text(row[0]), row[1])

    # -- TokenStore protocol ----------------------------------------------------------------

    def get_refresh_token(self, user_id: str) -> str:
        """The decrypted refresh token of an active user; TokenUnavailableError otherwise."""
        check_user_id(user_id)
        with self._tx(write=False) as con:
            status, reason, blob = self._require(con, user_id)
        if status != "active" or blob is None:
            raise TokenUnavailableError(user_id, status, reason)
        return self._decrypt(user_id, blob)

    def save_refresh_token(self, user_id: str, token: str) -> None:
        """Store a rotated refresh token (the authorization date, and so its expiry, stays)."""
        check_user_id(user_id)
        with self._tx(write=True) as con:
            self._require(con, user_id)
            blob = self._write_cipher(con).encrypt(user_id, token)
            con.execute(
                "update users set encrypted_refresh_token = ? where id = ?", (blob, user_id)
            )

    def mark_needs_reauth(self, user_id: str, reason: str) -> None:
        """Stop using the user's token until they log in again; `reason` is shown to operators."""
        check_user_id(user_id)
        text = self._scrub(user_id, str(reason))[:_MAX_REASON]
        self._update(
            user_id,
            "update users set status = 'needs_reauth', reauth_reason = ? where id = ?",
            (text,),
        )

    def _scrub(self, user_id: str, reason: str) -> str:
        """Belt and braces: a reason must never carry the token it is about."""
        with self._tx(write=False) as con:
            _, _, blob = self._require(con, user_id)
        if blob is None:
            return reason
        try:
            token = self._decrypt(user_id, blob)
        except (crypto.TokenDecryptError, crypto.TokenKeyError):
            return reason
        return reason.replace(token, "[redacted]") if token else reason

    # -- key rotation -----------------------------------------------------------------------

    def rotate_key(self) -> crypto.RotationResult:
        """Re-encrypt every stored token under a new key (see crypto.rotate_key)."""
        with self._tx(write=False) as con:
            stored = con.execute(
                "select exists(select 1 from users where encrypted_refresh_token is not null)"
            ).fetchone()[0]
        # Fails with a clear message when the key file is gone but tokens depend on it.
        crypto.load_keyring(self.settings, create=not stored)
        result = crypto.rotate_key(self.settings, self._reencrypt_all)
        self._cipher = None
        return result

    def _reencrypt_all(self, cipher: crypto.TokenCipher) -> int:
        with self._tx(write=True) as con:
            rows = con.execute(
                "select id, encrypted_refresh_token from users "
                "where encrypted_refresh_token is not null"
            ).fetchall()
            for user_id, blob in rows:
                try:
                    new_blob = cipher.rotate(blob)
                except crypto.InvalidToken:
                    raise crypto.TokenDecryptError(
                        f"the stored refresh token of user {user_id!r} cannot be decrypted "
                        "with the current key(s); nothing was rotated. Remove that user or "
                        "restore the key, then rotate again"
                    ) from None
                con.execute(
                    "update users set encrypted_refresh_token = ? where id = ?",
                    (new_blob, user_id),
                )
        return len(rows)

    # Last, so the method name does not shadow the builtin in the annotations above.
    def list(self, status: Status | None = None) -> builtins.list[User]:
        """Every enrolled user (optionally only those with `status`), ordered by id."""
        if status is None:
            return self._select("", ())
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}: choose one of {list(STATUSES)}")
        return self._select("where status = ?", (status,))
