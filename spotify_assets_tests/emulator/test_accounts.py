"""The accounts service over real HTTP: /authorize (PKCE), code exchange, refresh with rotation,
revocation and expiry, and the tokens the control API reports.
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.emulator.tokens import IssuedToken
from spotify_assets.lib.settings import EMULATOR_CLIENT_ID
from spotify_assets_tests.emulator.conftest import (
    REDIRECT_URI,
    authorize_code,
    login,
    pkce_pair,
)


def _authorize_params(challenge: str, **extra: str) -> dict[str, str]:
    return {
        "client_id": EMULATOR_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "state": "abc",
        "scope": "user-top-read",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def _token(emu: EmulatorHandle, **form: str) -> httpx.Response:
    return httpx.post(f"{emu.base_url}/api/token", data={"client_id": EMULATOR_CLIENT_ID, **form})


def _refresh(emu: EmulatorHandle, token: str) -> httpx.Response:
    return _token(emu, grant_type="refresh_token", refresh_token=token)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links += [v for k, v in attrs if k == "href" and v]


def test_login_page_lists_demo_users_and_each_link_logs_in(emu: EmulatorHandle) -> None:
    verifier, challenge = pkce_pair()
    page = httpx.get(f"{emu.base_url}/authorize", params=_authorize_params(challenge))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    parser = _Links()
    parser.feed(page.text)
    users = [parse_qs(urlparse(link).query)["emulator_user"][0] for link in parser.links]
    assert users == list(emu.state.world.users)
    redirect = httpx.get(emu.base_url + parser.links[2])
    assert redirect.status_code == 302
    query = parse_qs(urlparse(redirect.headers["location"]).query)
    assert query["state"] == ["abc"]
    body = _token(emu, grant_type="authorization_code", code=query["code"][0],
                  redirect_uri=REDIRECT_URI, code_verifier=verifier).json()
    me = httpx.get(f"{emu.base_url}/v1/me",
                   headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me["id"] == users[2]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"client_id": "someone-else"}, "INVALID_CLIENT: Invalid client"),
        ({"redirect_uri": "ftp://x"}, "INVALID_CLIENT: Invalid redirect URI"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"response_type": "token"}, "response_type"),
        ({"emulator_user": "nobody"}, "unknown emulator_user"),
    ],
)
def test_authorize_refuses_bad_requests(emu: EmulatorHandle, override: dict,
                                        message: str) -> None:
    _, challenge = pkce_pair()
    response = httpx.get(f"{emu.base_url}/authorize",
                         params=_authorize_params(challenge, **override))
    assert response.status_code == 400
    assert message in response.text


def test_a_denied_login_redirects_with_access_denied(emu: EmulatorHandle) -> None:
    _, challenge = pkce_pair()
    response = httpx.get(f"{emu.base_url}/authorize", params=_authorize_params(
        challenge, emulator_user="demo_light", emulator_deny="1"))
    assert response.status_code == 302
    assert parse_qs(urlparse(response.headers["location"]).query) == {
        "error": ["access_denied"], "state": ["abc"],
    }


def test_code_exchange_checks_verifier_redirect_and_single_use(emu: EmulatorHandle) -> None:
    verifier, challenge = pkce_pair()
    code = authorize_code(emu, "demo_light", challenge)
    wrong = _token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI,
                   code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant",
                            "error_description": "code_verifier was incorrect"}
    elsewhere = _token(emu, grant_type="authorization_code", code=code,
                       redirect_uri="http://127.0.0.1:9/other", code_verifier=verifier)
    assert elsewhere.json()["error_description"] == "Invalid redirect URI"
    ok = _token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI,
                code_verifier=verifier)
    assert ok.status_code == 200 and ok.json()["scope"].split() == \
        emu.state.accounts.lookup(ok.json()["access_token"]).scope.split()
    again = _token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI,
                   code_verifier=verifier)
    assert again.status_code == 400
    assert again.json()["error_description"] == "Invalid authorization code"


def test_codes_expire_after_ten_minutes(emu: EmulatorHandle) -> None:
    verifier, challenge = pkce_pair()
    code = authorize_code(emu, "demo_light", challenge)
    emu.state.clock.advance(601)
    late = _token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI,
                  code_verifier=verifier)
    assert late.json()["error"] == "invalid_grant"


def test_every_third_refresh_rotates_and_the_old_token_dies(emu: EmulatorHandle) -> None:
    first = login(emu, "demo_tokyo")["refresh_token"]
    plain = [_refresh(emu, first).json() for _ in range(2)]
    assert all("refresh_token" not in body for body in plain)
    rotated = _refresh(emu, first).json()
    second = rotated["refresh_token"]
    assert second != first
    dead = _refresh(emu, first)
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    assert _refresh(emu, second).status_code == 200
    assert all(len(body["access_token"]) > 100 for body in [*plain, rotated])


def test_revoked_users_get_invalid_grant_and_401(emu: EmulatorHandle) -> None:
    body = login(emu, "demo_skipper")
    other = login(emu, "demo_light")
    revoked = httpx.post(f"{emu.base_url}/_emulator/users/demo_skipper/revoke").json()
    assert revoked["revoked_tokens"] >= 2
    refresh = _refresh(emu, body["refresh_token"])
    assert refresh.status_code == 400
    assert refresh.json() == {"error": "invalid_grant",
                              "error_description": "Refresh token revoked"}
    api = httpx.get(f"{emu.base_url}/v1/me",
                    headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.status_code == 401
    assert _refresh(emu, other["refresh_token"]).status_code == 200
    again = login(emu, "demo_skipper")
    assert _refresh(emu, again["refresh_token"]).status_code == 200


def test_refresh_tokens_expire_six_months_after_login(emu: EmulatorHandle) -> None:
    body = login(emu, "demo_light")
    emu.state.clock.advance(timedelta(days=181).total_seconds())
    assert _refresh(emu, body["refresh_token"]).status_code == 200
    emu.state.clock.advance(timedelta(days=2).total_seconds())
    expired = _refresh(emu, body["refresh_token"])
    assert expired.json() == {"error": "invalid_grant",
                              "error_description": "Refresh token expired"}


def test_token_endpoint_errors(emu: EmulatorHandle) -> None:
    assert _refresh(emu, "AQunknown").json()["error_description"] == "Invalid refresh token"
    missing = httpx.post(f"{emu.base_url}/api/token", data={"client_id": EMULATOR_CLIENT_ID})
    assert missing.json() == {"error": "unsupported_grant_type",
                              "error_description": "grant_type parameter is missing"}
    stranger = httpx.post(f"{emu.base_url}/api/token",
                          data={"client_id": "x", "grant_type": "refresh_token"})
    assert stranger.json()["error"] == "invalid_client"


def test_basic_client_authentication_is_accepted(emu: EmulatorHandle) -> None:
    refresh = login(emu, "demo_light")["refresh_token"]
    basic = base64.b64encode(f"{EMULATOR_CLIENT_ID}:secret".encode()).decode()
    response = httpx.post(f"{emu.base_url}/api/token",
                          data={"grant_type": "refresh_token", "refresh_token": refresh},
                          headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200


def test_tokens_are_random_listed_by_the_control_api_and_hidden_from_repr(
    emu: EmulatorHandle,
) -> None:
    first, second = login(emu, "demo_heavy"), login(emu, "demo_heavy")
    assert first["access_token"] != second["access_token"]
    assert first["refresh_token"] != second["refresh_token"]
    listed = httpx.get(f"{emu.base_url}/_emulator/tokens").json()["tokens"]
    values = {t["token"] for t in listed}
    assert {first["access_token"], first["refresh_token"], second["refresh_token"]} <= values
    kinds = {t["token"]: t["kind"] for t in listed}
    assert kinds[first["access_token"]] == "access" and kinds[first["refresh_token"]] == "refresh"
    token = emu.state.accounts.lookup(first["access_token"])
    assert isinstance(token, IssuedToken)
    assert first["access_token"] not in repr(token)
    assert re.fullmatch(r"BQ[A-Za-z0-9_-]{100,}", first["access_token"])
