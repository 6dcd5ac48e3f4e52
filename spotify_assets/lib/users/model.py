"""Who a listener is in the registry: the `User` record, its statuses, and the checks every id,
timezone and flag passes before it reaches SQL, a path or a log line."""

from __future__ import annotations

import functools
import re
import secrets
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from spotify_assets.lib.ids import InvalidIdError, validate_user_id
from spotify_assets.lib.spotify.errors import ReauthorizationRequired

# export_only: enrolled without a Spotify login (`users add`), for a listener who only gives
# their privacy export; never polled, never asked to log in again.
Status = Literal["active", "needs_reauth", "paused", "export_only"]
STATUSES: tuple[Status, ...] = ("active", "needs_reauth", "paused", "export_only")
OPT_IN_FLAGS = frozenset({"wrapped_playlist", "release_radar_playlist"})
_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def new_handle() -> str:
    return f"l-{secrets.token_hex(4)}"


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
        elif user_status == "export_only":
            text = (
                f"user {user_id!r} gave only an export (no Spotify login): to poll them, "
                "run `spotify-assets login`"
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


def check_source(source: str) -> str:
    if not isinstance(source, str) or not _SOURCE.match(source) or "\n" in source:
        raise ValueError(f"invalid pull source name {source!r}: use [a-z0-9_], at most 64")
    return source
