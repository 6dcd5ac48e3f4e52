"""Enrolled users: the registry, encrypted refresh tokens, login and the `users` commands."""

from spotify_assets.lib.users.crypto import TokenDecryptError, TokenKeyError
from spotify_assets.lib.users.registry import (
    OPT_IN_FLAGS,
    TokenUnavailableError,
    UnknownUserError,
    User,
    UserRegistry,
)

__all__ = [
    "OPT_IN_FLAGS",
    "TokenDecryptError",
    "TokenKeyError",
    "TokenUnavailableError",
    "UnknownUserError",
    "User",
    "UserRegistry",
]
