"""Errors name the listener (by handle, never by user id), endpoint and status, and survive
pickling (Dagster, process pools)."""

from __future__ import annotations

import pickle

import pytest

from spotify_assets.lib import pseudonyms
from spotify_assets.lib.spotify import errors


@pytest.mark.parametrize(
    "cls",
    [errors.SpotifyError, errors.ReauthorizationRequired, errors.QuotaExceededError,
     errors.EndpointRemovedError, errors.SpotifyServerError, errors.MalformedResponseError,
     errors.InvalidGrantError, errors.NotFoundError],
)
def test_message_names_user_endpoint_status_and_pickles(cls: type) -> None:
    pseudonyms.remember("demo_tokyo", "l-0000beef")
    error = cls("demo_tokyo", "GET /v1/me/top/{type}", 503, "upstream down")
    text = str(error)
    assert "demo_tokyo" not in text
    for part in ("listener l-0000beef", "GET /v1/me/top/{type}", "503", "upstream down"):
        assert part in text
    assert isinstance(error, errors.SpotifyError)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls and str(again) == text
    assert (again.user_id, again.endpoint, again.status) == ("demo_tokyo",
                                                             "GET /v1/me/top/{type}", 503)


def test_rate_limit_deferred_keeps_retry_after_through_pickle() -> None:
    error = errors.RateLimitDeferred("u", "GET /v1/me", 429, "later", retry_after_s=7200.0)
    again = pickle.loads(pickle.dumps(error))
    assert again.retry_after_s == 7200.0
    assert "GET /v1/me" in str(again) and "an unlisted listener" in str(again)
    assert again.user_id == "u"


def test_error_without_user_or_response() -> None:
    text = str(errors.SpotifyServerError(None, "POST /api/token", None, "ConnectError"))
    assert "no listener" in text and "no response" in text
