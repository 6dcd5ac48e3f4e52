"""Validation of identifiers that become part of paths or SQL."""

from __future__ import annotations

import re

# Spotify user ids are [a-z0-9._-] in practice (older accounts use chosen usernames); we allow
# that set plus upper case, never a path separator, never a leading dot.
_USER_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
_SPOTIFY_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


class InvalidIdError(ValueError):
    pass


def validate_user_id(user_id: str) -> str:
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id) or ".." in user_id:
        raise InvalidIdError(
            f"invalid user id {user_id!r}: use letters, digits, '.', '_' or '-' "
            "(no path separators, no '..', at most 128 characters)"
        )
    return user_id


def validate_spotify_id(value: str) -> str:
    if not isinstance(value, str) or not _SPOTIFY_ID.fullmatch(value):
        raise InvalidIdError(f"invalid Spotify id {value!r}")
    return value
