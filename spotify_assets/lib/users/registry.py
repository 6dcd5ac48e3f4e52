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
import difflib
import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from spotify_assets.lib import pseudonyms, sqlite_db
from spotify_assets.lib.users import crypto
from spotify_assets.lib.users.model import (  # re-exported: the registry's public names
    OPT_IN_FLAGS,
    STATUSES,
    Status,
    TokenUnavailableError,
    UnknownUserError,
    User,
    check_opt_in,
    check_source,
    check_timezone,
    check_user_id,
    new_handle,
)
from spotify_assets.lib.users.schema import DB_FILE_NAME, SCHEMA, migrate

if TYPE_CHECKING:
    from pathlib import Path

    from spotify_assets.lib.settings import Settings

__all__ = [
    "OPT_IN_FLAGS",
    "STATUSES",
    "Status",
    "TokenUnavailableError",
    "UnknownUserError",
    "User",
    "UserRegistry",
    "check_opt_in",
    "check_timezone",
    "check_user_id",
]
# Long enough to outlast another process's write (all writes are a few rows), short enough
# that a stuck writer surfaces as an error instead of a hung run.
BUSY_TIMEOUT_MS = 30_000
_MAX_REASON = 500

def _utc_text(value: datetime, what: str) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")
    # Fixed width, so stored timestamps also sort correctly as text.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _from_text(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
        # Created 0600 before SQLite sees it; SQLite gives its -wal/-shm files the same mode.
        sqlite_db.create(self.path, [], mode=0o600)
        con = sqlite_db.open_db(self.path, timeout_ms=BUSY_TIMEOUT_MS)
        try:
            # Foreign keys off while the schema may be rebuilt (a `users` copy must not cascade
            # into `pulls`); the pragma is ignored inside a transaction, so it comes first.
            con.execute("pragma foreign_keys = off")
            con.execute("begin immediate")
            for statement in SCHEMA:
                con.execute(statement)
            migrate(con)
            con.execute("commit")
        finally:
            con.close()

    def _tx(self, *, write: bool):
        """One transaction on a fresh connection (safe across threads and processes)."""
        return sqlite_db.transaction(self.path, write=write, timeout_ms=BUSY_TIMEOUT_MS)

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

    def add_export_only(self, user_id: str, display_name: str, timezone: str) -> User:
        """Enroll a listener who gives only their privacy export (no Spotify login): their
        imports are accepted and their stats computed in `timezone`; nobody polls them. A later
        `spotify-assets login` makes them an active listener."""
        check_user_id(user_id)
        check_timezone(timezone)
        with self._tx(write=True) as con:
            if con.execute("select 1 from users where id = ?", (user_id,)).fetchone():
                raise ValueError(f"user {user_id!r} is already enrolled")
            con.execute(
                "insert into users (id, display_name, timezone, enrolled_at, status, opt_ins, "
                "handle) values (?, ?, ?, ?, 'export_only', '[]', ?)",
                (
                    user_id,
                    display_name or user_id,
                    timezone,
                    _utc_text(datetime.now(UTC), "enrolled_at"),
                    new_handle(),
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
        ids = [u.id for u in self.list()]
        # Another case first, then a typo (`demo_ligth`): the closest enrolled id, if close.
        close = [i for i in ids if i.lower() == user_id.lower()] or difflib.get_close_matches(
            user_id, ids, n=1, cutoff=0.8
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownUserError(
            f"no listener {user_id!r} is enrolled.{hint} Enroll them first: "
            "`spotify-assets login`, or `spotify-assets users add ID --timezone TZ` for a "
            "listener who only gives an export (see `spotify-assets users list` for who is)."
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
        for row in rows:
            pseudonyms.remember(row[0], row[8] or "")
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
            if status in ("needs_reauth", "export_only"):
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
        check_source(source)
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
        check_source(source)
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
