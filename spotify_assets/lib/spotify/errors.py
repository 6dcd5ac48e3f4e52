"""Errors of the Spotify client: each names the user and the endpoint, never a token.

Callers branch on the class: `ReauthorizationRequired` parks one user until they log in again,
`RateLimitDeferred` and `QuotaExceededError` postpone work to a later tick, `EndpointRemovedError`
means the app's quota mode lacks the endpoint; the rest are failures of one request.
"""

from __future__ import annotations

from spotify_assets.lib import pseudonyms


class SpotifyError(RuntimeError):
    """A Web API or accounts request failed for `user_id` at `endpoint` (e.g. `GET /v1/me`)."""

    def __init__(
        self, user_id: str | None, endpoint: str, status: int | None, message: str
    ) -> None:
        self.user_id = user_id
        self.endpoint = endpoint
        self.status = status
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        # Named by handle: the message reaches run logs, which outlive `users remove`.
        who = pseudonyms.who(self.user_id)
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"{self.endpoint} for {who}: {status}: {self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions with extra __init__ arguments do not pickle by default; Dagster and
        # ThreadPoolExecutor may need to move them between processes.
        return (from_state, (type(self), self.__dict__.copy()))


def from_state(cls: type[SpotifyError], state: dict[str, object]) -> SpotifyError:
    """An error of `cls` with these attributes, whatever its `__init__` takes (unpickling,
    and a replay raising a recorded failure again)."""
    error = cls.__new__(cls)
    error.__dict__.update(state)
    RuntimeError.__init__(error, error._render())
    return error


class ReauthorizationRequired(SpotifyError):
    """The user's refresh token is dead (revoked, expired, rotated away): they must log in again."""


class AuthorizationError(SpotifyError):
    """The accounts service refused a token request (bad client id, bad code, bad verifier...)."""


class InvalidGrantError(AuthorizationError):
    """`400 invalid_grant` from /api/token: the code or refresh token is not valid (any more)."""


class RateLimitDeferred(SpotifyError):
    """The app is rate limited for longer than we are willing to wait: retry the work later."""

    def __init__(
        self,
        user_id: str | None,
        endpoint: str,
        status: int | None,
        message: str,
        *,
        retry_after_s: float,
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(user_id, endpoint, status, message)


class QuotaExceededError(SpotifyError):
    """429 with reason QUOTA_EXCEEDED: the developer quota is spent; waiting will not help."""


class EndpointRemovedError(SpotifyError):
    """403 from an endpoint removed for development-mode apps (needs extended quota)."""


class SpotifyServerError(SpotifyError):
    """5xx answers or timeouts/connection errors persisted through every retry."""


class MalformedResponseError(SpotifyError):
    """The body is not the JSON we expect (bad JSON, truncated page, missing fields), twice."""


class NotFoundError(SpotifyError):
    """404: the id does not exist (any more) in Spotify's catalogue."""
