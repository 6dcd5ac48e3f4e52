"""Spotify's error answers: `ApiError` carries a status and a message, and `_api` wraps an
endpoint so that a raised `ApiError` is answered as Spotify's `{"error": {"status", "message"}}`
body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from spotify_assets.emulator.faults import spotify_error


class ApiError(Exception):
    """Answered as Spotify's `{"error": {"status", "message"}}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request], Awaitable[Response]]


def _api(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return spotify_error(exc.status, exc.message)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped
