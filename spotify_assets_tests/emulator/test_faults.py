"""Each fault kind observed over real HTTP with httpx, rule matching (path, user, times), the
rolling-window limiter, rule validation, and request counting per endpoint template.
"""

from __future__ import annotations

import json

import httpx
import pytest

from spotify_assets.emulator.faults import FaultEngine, FaultRule
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets_tests.emulator.conftest import api_client, login


def _fault(emu: EmulatorHandle, **rule: object) -> dict:
    response = httpx.post(f"{emu.base_url}/_emulator/faults", json=rule)
    assert response.status_code == 200, response.text
    return response.json()


def test_rate_limit_answers_429_with_retry_after_for_the_given_times(emu: EmulatorHandle) -> None:
    _fault(emu, path="/v1/me/top/*", kind="rate_limit", retry_after=7, times=2)
    with api_client(emu, "demo_light") as client:
        limited = [client.get("/v1/me/top/tracks") for _ in range(2)]
        other = client.get("/v1/me")
        after = client.get("/v1/me/top/artists")
    for response in limited:
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        assert response.json() == {"error": {"status": 429, "message": "API rate limit exceeded"}}
    assert other.status_code == 200 and after.status_code == 200
    rules = httpx.get(f"{emu.base_url}/_emulator/faults").json()["rules"]
    assert rules[0]["hits"] == 2 and rules[0]["times"] == 0


def test_quota_has_its_own_body(emu: EmulatorHandle) -> None:
    _fault(emu, path="/v1/*", kind="quota")
    with api_client(emu, "demo_light") as client:
        response = client.get("/v1/me/player/recently-played")
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert response.json() == {
        "error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
    }


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_faults(emu: EmulatorHandle, status: int) -> None:
    _fault(emu, path="/v1/albums/*", kind="status", status=status, times=1)
    album = next(iter(emu.state.world.albums))
    with api_client(emu, "demo_light") as client:
        failed = client.get(f"/v1/albums/{album}")
        recovered = client.get(f"/v1/albums/{album}")
    assert failed.status_code == status
    assert failed.json()["error"]["status"] == status
    assert recovered.status_code == 200


def test_slow_answers_trip_a_client_timeout(emu: EmulatorHandle) -> None:
    _fault(emu, path="/v1/me", kind="slow", delay_s=1.5, times=1)
    with api_client(emu, "demo_light") as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v1/me", timeout=0.3)
        assert client.get("/v1/me", timeout=5).status_code == 200


def test_malformed_bodies_are_not_json(emu: EmulatorHandle) -> None:
    _fault(emu, path="/v1/me/top/tracks", kind="malformed", times=1)
    with api_client(emu, "demo_light") as client:
        response = client.get("/v1/me/top/tracks")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_truncated_pages_claim_more_than_they_hold(emu: EmulatorHandle) -> None:
    with api_client(emu, "demo_heavy") as client:
        whole = client.get("/v1/me/top/tracks?limit=10").json()
        _fault(emu, path="/v1/me/top/*", kind="truncated", times=1)
        cut = client.get("/v1/me/top/tracks?limit=10").json()
        followed = client.get("/v1/me/following?type=artist&limit=10")
        _fault(emu, path="/v1/me/following", kind="truncated", times=1)
        cut_followed = client.get("/v1/me/following?type=artist&limit=10").json()
    assert len(whole["items"]) == 10 and len(cut["items"]) == 5
    assert cut["items"] == whole["items"][:5]
    assert (cut["total"], cut["next"]) == (whole["total"], whole["next"])
    assert len(cut_followed["artists"]["items"]) == len(followed.json()["artists"]["items"]) // 2


def test_invalid_grant_hits_only_the_named_user(emu: EmulatorHandle) -> None:
    light = login(emu, "demo_light")["refresh_token"]
    heavy = login(emu, "demo_heavy")["refresh_token"]
    _fault(emu, path="/api/token", kind="invalid_grant", user="demo_light")

    def refresh(token: str) -> httpx.Response:
        return httpx.post(f"{emu.base_url}/api/token", data={
            "grant_type": "refresh_token", "refresh_token": token,
            "client_id": "spotify-assets-demo-client",
        })

    refused = refresh(light)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert refresh(heavy).status_code == 200


def test_user_filter_on_api_paths(emu: EmulatorHandle) -> None:
    _fault(emu, path="/v1/*", kind="status", status=503, user="demo_skipper")
    with api_client(emu, "demo_skipper") as skipper, api_client(emu, "demo_tokyo") as tokyo:
        assert skipper.get("/v1/me").status_code == 503
        assert tokyo.get("/v1/me").status_code == 200


def test_window_limiter_rejects_past_the_limit_over_http(emu: EmulatorHandle) -> None:
    _fault(emu, path="/v1/me", kind="window", limit=3)
    with api_client(emu, "demo_light") as client:
        statuses = [client.get("/v1/me") for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    assert 1 <= int(statuses[3].headers["retry-after"]) <= 30


def test_window_limiter_rolls_over_thirty_seconds() -> None:
    now = [1000.0]
    engine = FaultEngine(clock=lambda: now[0])
    engine.add(FaultRule.from_json({"path": "/v1/*", "kind": "window", "limit": 2}))
    assert engine.decide("/v1/me", None) is None
    now[0] += 10
    assert engine.decide("/v1/me", None) is None
    now[0] += 5
    refused = engine.decide("/v1/me", None)
    assert refused is not None and refused.retry_after == 15
    now[0] += 15  # the first request leaves the window
    assert engine.decide("/v1/me", None) is None
    refused = engine.decide("/v1/me", None)
    assert refused is not None and refused.retry_after == 10
    assert engine.decide("/api/token", None) is None


def test_first_matching_rule_wins_and_delete_clears(emu: EmulatorHandle) -> None:
    _fault(emu, path="/v1/me", kind="status", status=502, times=1)
    _fault(emu, path="/v1/*", kind="status", status=500, times=1)
    with api_client(emu, "demo_light") as client:
        assert client.get("/v1/me").status_code == 502
        assert client.get("/v1/me").status_code == 500
        _fault(emu, path="*", kind="status", status=503)
        assert client.get("/v1/me").status_code == 503
        cleared = httpx.delete(f"{emu.base_url}/_emulator/faults").json()
        assert cleared == {"rules": []}
        assert client.get("/v1/me").status_code == 200


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"path": "/v1/*", "kind": "boom"}, "kind"),
        ({"path": "/v1/*", "kind": "status", "status": 200}, "status"),
        ({"path": "/v1/*", "kind": "status", "times": "2"}, "times"),
        ({"path": "/v1/*", "kind": "slow", "dely_s": 2}, "dely_s"),
        ({"path": "", "kind": "slow"}, "path"),
    ],
)
def test_bad_rules_are_refused_with_the_field_named(emu: EmulatorHandle, rule: dict,
                                                    named: str) -> None:
    response = httpx.post(f"{emu.base_url}/_emulator/faults", json=rule)
    assert response.status_code == 400
    assert named in response.json()["error"]
    assert httpx.get(f"{emu.base_url}/_emulator/faults").json() == {"rules": []}


def test_requests_are_counted_per_endpoint_template(emu: EmulatorHandle) -> None:
    world = emu.state.world
    albums = list(world.albums)[:3]
    with api_client(emu, "demo_light") as client:
        httpx.post(f"{emu.base_url}/_emulator/requests/reset").raise_for_status()
        for album in albums:
            client.get(f"/v1/albums/{album}")
        client.get("/v1/me/top/tracks")
        client.get("/v1/me/top/artists")
        _fault(emu, path="/v1/me", kind="status", status=500, times=1)
        client.get("/v1/me")
        httpx.get(f"{emu.base_url}/_emulator/users")
    counts = httpx.get(f"{emu.base_url}/_emulator/requests").json()
    assert counts == {
        "counts": {"GET /v1/albums/{id}": 3, "GET /v1/me": 1, "GET /v1/me/top/{type}": 2},
        "total": 6,
    }
    httpx.post(f"{emu.base_url}/_emulator/requests/reset").raise_for_status()
    assert httpx.get(f"{emu.base_url}/_emulator/requests").json()["total"] == 0
