"""PKCE, the authorize URL, the /api/token request and answer parsing (no network).

Round trips against the emulator's accounts service are in test_client_tokens.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from spotify_assets.lib import pseudonyms
from spotify_assets.lib.settings import load_settings
from spotify_assets.lib.spotify import auth
from spotify_assets.lib.spotify.errors import (
    AuthorizationError,
    InvalidGrantError,
    RateLimitDeferred,
    SpotifyServerError,
)

RECORDED = Path(__file__).parent / "recorded"


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(_env_file=None, data_dir=tmp_path, emulator_port=9999)


def token_answer(status: int, body: object, headers: dict[str, str] | None = None):
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def test_pkce_challenge_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert auth.pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_pairs_are_fresh_and_well_formed() -> None:
    pairs = {auth.pkce_pair() for _ in range(20)}
    assert len(pairs) == 20
    for verifier, challenge in pairs:
        assert 43 <= len(verifier) <= 128
        assert re.fullmatch(r"[A-Za-z0-9\-._~]+", verifier)
        digest = hashlib.sha256(verifier.encode()).digest()
        assert base64.urlsafe_b64decode(challenge + "=") == digest


def test_authorize_url_carries_the_pkce_and_client_parameters(settings) -> None:
    url = auth.build_authorize_url(
        settings, "st4te", "chal", [*auth.READ_SCOPES, *auth.PLAYLIST_SCOPES],
        extra_params={"emulator_user": "demo_heavy"},
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == settings.spotify_accounts_url
    assert parts.path == "/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": settings.spotify_client_id,
        "response_type": "code",
        "redirect_uri": settings.spotify_redirect_uri,
        "state": "st4te",
        "scope": " ".join([*auth.READ_SCOPES, *auth.PLAYLIST_SCOPES]),
        "code_challenge": "chal",
        "code_challenge_method": "S256",
        "emulator_user": "demo_heavy",
    }


def test_pkce_token_request_sends_client_id_in_the_form_and_no_secret(settings) -> None:
    with httpx.Client() as http:
        request = auth.token_request(settings, auth.refresh_form("r-token-123"), http)
    assert str(request.url) == f"{settings.spotify_accounts_url}/api/token"
    assert request.method == "POST"
    form = parse_qs(request.content.decode())
    assert form == {"grant_type": ["refresh_token"], "refresh_token": ["r-token-123"],
                    "client_id": [settings.spotify_client_id]}
    assert "authorization" not in request.headers
    assert "r-token-123" not in str(request.url)


def test_confidential_client_uses_basic_auth(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path, spotify_client_secret="s3cr3t!")
    with httpx.Client() as http:
        request = auth.token_request(settings, auth.code_form(settings, "the-code", None), http)
    expected = base64.b64encode(f"{settings.spotify_client_id}:s3cr3t!".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    form = parse_qs(request.content.decode())
    assert "client_id" not in form
    assert form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == [settings.spotify_redirect_uri]
    assert "code_verifier" not in form


@pytest.mark.parametrize(
    "name",
    [
        "authorization__authorization_code__AuthorizationCodeRefresh.json",
        "authorization__authorization_code__pkce__AuthorizationCodePKCERefresh.json",
    ],
)
def test_recorded_token_answers_parse_and_repr_hides_tokens(name: str) -> None:
    raw = json.loads((RECORDED / name).read_text())
    token = auth.parse_token_response(httpx.Response(200, content=json.dumps(raw).encode()))
    assert token.access_token == raw["access_token"]
    assert token.refresh_token == raw.get("refresh_token")
    assert token.expires_in == raw["expires_in"]
    assert token.scope == raw["scope"]
    for text in (repr(token), str(token), f"{token}", repr([token])):
        assert raw["access_token"] not in text
        if raw.get("refresh_token"):
            assert raw["refresh_token"] not in text


def test_invalid_grant_is_its_own_error_and_redacts_the_refresh_token() -> None:
    secret = "refresh-AbCdEf123456"
    answer = token_answer(
        400, {"error": "invalid_grant", "error_description": f"Refresh token {secret} revoked"}
    )
    pseudonyms.remember("demo_light", "l-00001111")
    with pytest.raises(InvalidGrantError) as caught:
        auth.parse_token_response(answer, user_id="demo_light", secrets_sent=[secret])
    text = str(caught.value)
    assert secret not in text
    assert "listener l-00001111" in text and "demo_light" not in text
    assert "POST /api/token" in text and "invalid_grant" in text
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "invalid_client", "error_description": "Invalid client"},
         AuthorizationError),
        (503, {"error": {"status": 503, "message": "down"}}, SpotifyServerError),
        (200, {"token_type": "Bearer"}, AuthorizationError),
        (502, "not json", SpotifyServerError),
    ],
)
def test_other_token_failures_map_to_errors(status: int, body: object, error: type) -> None:
    pseudonyms.remember("demo_heavy", "l-00002222")
    with pytest.raises(error) as caught:
        auth.parse_token_response(token_answer(status, body), user_id="demo_heavy")
    assert not isinstance(caught.value, InvalidGrantError)
    assert "l-00002222" in str(caught.value) and "demo_heavy" not in str(caught.value)


def test_rate_limited_token_endpoint_defers_with_retry_after() -> None:
    answer = token_answer(429, {"error": "rate"}, {"Retry-After": "17"})
    with pytest.raises(RateLimitDeferred) as caught:
        auth.parse_token_response(answer, user_id="u1")
    assert caught.value.retry_after_s == 17


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), (None, 1.0), ("soon", 1.0),
                                                 ("-5", 0.0), ("2.5", 2.5)])
def test_retry_after_parsing(header: str | None, seconds: float) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    assert auth.retry_after_seconds(httpx.Response(429, headers=headers)) == seconds


def test_redact_only_replaces_secret_length_strings() -> None:
    assert auth.redact("token abcdef123 and abc", ["abcdef123", "abc", ""]) == (
        "token <redacted> and abc"
    )
