"""httpx/httpcore log records are masked: OAuth codes and tokens never reach a handler.

The end-to-end part drives the emulator's real authorize redirect, whose Location header
(logged by httpcore at DEBUG) carries the authorization code.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from spotify_assets.lib.spotify import auth
from spotify_assets.lib.spotify.redaction import HTTP_LOGGERS, redact_secrets


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET http://h/callback?code=AQxyz123&state=s1", "AQxyz123"),
        ("(b'location', b'http://h/cb?state=s&code=AQabc-_9')", "AQabc-_9"),
        ("Authorization: Bearer BQtok.en_1-2", "BQtok.en_1-2"),
        ("authorization: basic c3BvdGlmeTpzZWNyZXQ=", "c3BvdGlmeTpzZWNyZXQ="),
        ('{"access_token": "BQ1", "refresh_token": "AQ2"}', "BQ1"),
        ('{"access_token": "BQ1", "refresh_token": "AQ2"}', "AQ2"),
        ("refresh_token=AQ999&grant_type=refresh_token", "AQ999"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    cleaned = redact_secrets(text)
    assert secret not in cleaned and "<redacted>" in cleaned


def test_harmless_text_is_left_alone() -> None:
    text = ("GET http://h/authorize?response_type=code&code_challenge=E9Mel&"
            "code_challenge_method=S256&state=x \"HTTP/1.1 302 Found\"")
    assert redact_secrets(text) == text


def test_filter_is_installed_on_every_http_logger() -> None:
    import spotify_assets.lib.spotify  # noqa: F401  (installs on import)

    for name in HTTP_LOGGERS:
        assert any(type(f).__name__ == "SecretRedactingFilter"
                   for f in logging.getLogger(name).filters), name


def test_authorization_code_in_a_redirect_is_not_logged(emu, emu_settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    verifier, challenge = auth.pkce_pair()
    url = auth.build_authorize_url(emu_settings, "st", challenge, auth.READ_SCOPES,
                                   {"emulator_user": "demo_light"})
    with httpx.Client(follow_redirects=False) as http:
        answer = http.get(url)
        code = httpx.URL(answer.headers["location"]).params["code"]
        # Delivering the redirect puts the code in a request URL, which httpx logs at INFO
        # (any loopback server does; the emulator answers 404 here).
        http.get(f"{emu.base_url}/callback?code={code}&state=st")
    token = auth.exchange_code(emu_settings, code, verifier)
    assert any("location" in r.getMessage() for r in caplog.records)
    assert any(r.name == "httpx" and "GET" in r.getMessage()
               and "/callback?code=<redacted>" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        message = record.getMessage()
        assert code not in message and token.access_token not in message
    assert code not in caplog.text
