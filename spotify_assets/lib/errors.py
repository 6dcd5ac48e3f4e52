"""Errors an operator can cause and fix (a bad id, an unknown listener, an unusable instance):
the CLI prints their message as one line and exits 2, with no traceback."""

from spotify_assets.lib.ids import InvalidIdError
from spotify_assets.lib.instance import InstanceError
from spotify_assets.lib.users.registry import UnknownUserError


class OperatorError(RuntimeError):
    """Bad operator input found by a command; the message says what to do instead."""


OPERATOR_ERRORS: tuple[type[Exception], ...] = (
    OperatorError,
    InvalidIdError,
    UnknownUserError,
    InstanceError,
)
