"""The registry's SQLite schema, and the migrations of files made by earlier versions."""

from __future__ import annotations

import sqlite3

from spotify_assets.lib.users.model import STATUSES, new_handle

DB_FILE_NAME = "users.sqlite3"
_STATUS_CHECK = "check (status in (" + ", ".join(f"'{s}'" for s in STATUSES) + "))"
_USERS = f"""
    create table if not exists {{name}} (
        id text primary key,
        display_name text not null,
        timezone text not null,
        enrolled_at text not null,
        status text not null {_STATUS_CHECK},
        reauth_reason text,
        opt_ins text not null default '[]',
        encrypted_refresh_token blob,
        token_authorized_at text,
        handle text
    )
"""
SCHEMA = (
    _USERS.format(name="users"),
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
_COLUMNS = (
    "id, display_name, timezone, enrolled_at, status, reauth_reason, opt_ins, "
    "encrypted_refresh_token, token_authorized_at, handle"
)


def migrate(con: sqlite3.Connection) -> None:
    """Bring a registry file made by an earlier version up to `SCHEMA`, in the caller's write
    transaction (with foreign keys off: rebuilding `users` must not cascade into `pulls`)."""
    columns = {row[1] for row in con.execute("pragma table_info(users)")}
    if "handle" not in columns:
        con.execute("alter table users add column handle text")
    (sql,) = con.execute("select sql from sqlite_master where name = 'users'").fetchone()
    if "'export_only'" not in sql:
        # SQLite cannot alter a CHECK constraint: copy into a table made with the new one.
        con.execute(_USERS.format(name="users_migrated"))
        con.execute(f"insert into users_migrated ({_COLUMNS}) select {_COLUMNS} from users")
        con.execute("drop table users")
        con.execute("alter table users_migrated rename to users")
    for (user_id,) in con.execute("select id from users where handle is null").fetchall():
        con.execute("update users set handle = ? where id = ?", (new_handle(), user_id))
