"""How text written for people (logs, errors, run metadata) names a listener: by handle
(`l-3fa9c2d1`, random, in `users list`), never by Spotify user id. Dagster's event log and
compute logs outlive `users remove`; a handle that no longer maps to anyone names nobody.

The registry teaches this module every handle it reads, so any process that works for users
(it always lists them first) can name them; one it has not read is "an unlisted listener".
"""

from __future__ import annotations

import threading

_handles: dict[str, str] = {}
_lock = threading.Lock()


def remember(user_id: str, handle: str) -> None:
    if handle:
        with _lock:
            _handles[user_id] = handle


def handle_of(user_id: str | None) -> str:
    """The listener's handle, or a placeholder that names nobody."""
    if user_id is None:
        return "no listener"
    with _lock:
        return _handles.get(user_id, "an unlisted listener")


def who(user_id: str | None) -> str:
    """'listener l-3fa9c2d1', for a log line or an error message."""
    handle = handle_of(user_id)
    return f"listener {handle}" if handle.startswith("l-") else handle
