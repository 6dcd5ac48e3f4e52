"""SpotifyClient against misbehaving servers the emulator does not play (real HTTP, loopback).

A small stdlib HTTP server answers /api/token and one scripted Web API route per test: a page
served again whatever the offset, a cursor that never advances, a `next` link to another host.
The client must fetch every item once, stop instead of looping, and never follow a foreign URL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from spotify_assets.lib.settings import load_settings
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets.lib.spotify.errors import MalformedResponseError
from spotify_assets_tests.lib.spotify.conftest import FakeTime, MemoryTokenStore

Route = Callable[[dict[str, str]], dict[str, Any]]
ACCESS = "BQstub-access-token-0123456789"


class StubServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, dict[str, str], str]] = []  # path, query, authorization
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer({"access_token": ACCESS, "token_type": "Bearer",
                              "expires_in": 3600, "scope": ""})

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                stub.seen.append((parts.path, query, self.headers.get("Authorization", "")))
                self._answer(stub.routes[parts.path](query))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [query for p, query, _ in self.seen if p == path]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join()


@pytest.fixture
def client(stub: StubServer, tmp_path: Path) -> Iterator[SpotifyClient]:
    settings = load_settings(_env_file=None, data_dir=tmp_path, spotify_api_url=stub.base_url,
                             spotify_accounts_url=stub.base_url, http_timeout_s=5)
    store = MemoryTokenStore(tokens={"u1": "AQstub-refresh-token"})
    time = FakeTime()
    with SpotifyClient(settings, store, sleep=time.sleep, clock=time.clock) as made:
        yield made


def artist(n: int) -> dict[str, Any]:
    return {"id": f"a{n:04d}", "name": f"Artist {n}", "type": "artist"}


def test_offset_ignored_by_the_server_stops_instead_of_duplicating(stub, client) -> None:
    page = {"items": [artist(i) for i in range(10)], "total": 25, "limit": 10, "offset": 0,
            "next": "http://x/next", "previous": None}
    stub.routes["/v1/me/top/artists"] = lambda query: page
    with pytest.raises(MalformedResponseError, match="repeats items"):
        client.top_items("u1", "artists", "short_term", limit=10)
    assert [q["offset"] for q in stub.requests_to("/v1/me/top/artists")] == ["0", "10"]


def test_foreign_next_link_is_never_followed(stub, client) -> None:
    def page(query: dict[str, str]) -> dict[str, Any]:
        offset, limit = int(query["offset"]), int(query["limit"])
        items = [artist(i) for i in range(offset, min(offset + limit, 23))]
        more = offset + limit < 23
        return {"items": items, "total": 23, "limit": limit, "offset": offset,
                "next": "http://evil.invalid/steal?offset=999" if more else None}

    stub.routes["/v1/me/top/artists"] = page
    got = client.top_items("u1", "artists", "long_term", limit=10)
    assert [a.id for a in got] == [f"a{i:04d}" for i in range(23)]
    assert [q["offset"] for q in stub.requests_to("/v1/me/top/artists")] == ["0", "10", "20"]
    assert all(auth == f"Bearer {ACCESS}" for _, _, auth in stub.seen)
    assert not any(ACCESS in json.dumps(query) for _, query, _ in stub.seen)


def test_cursor_that_never_advances_is_caught(stub, client) -> None:
    body = {"artists": {"items": [artist(1), artist(2)], "next": "http://x/n", "total": 9,
                        "cursors": {"after": "a0002"}, "limit": 2}}
    stub.routes["/v1/me/following"] = lambda query: body
    with pytest.raises(MalformedResponseError, match="served twice"):
        client.followed_artists("u1", limit=2)
    assert len(stub.requests_to("/v1/me/following")) == 2


def play(ms: int) -> dict[str, Any]:
    at = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"track": {"id": f"t{ms}", "name": "x", "artists": []}, "played_at": at,
            "context": None}


def test_recently_played_page_served_again_adds_nothing(stub, client) -> None:
    moments = [1_700_000_005_000, 1_700_000_004_000, 1_700_000_003_000]
    body = {"items": [play(ms) for ms in moments], "limit": 3, "next": "http://x/n",
            "cursors": {"after": str(moments[0]), "before": str(moments[-1])}}
    stub.routes["/v1/me/player/recently-played"] = lambda query: body  # ignores `after`
    page = client.recently_played("u1", after_ms=1_700_000_000_000, limit=3)
    assert [i.track.id for i in page.items] == [f"t{ms}" for ms in moments]
    requests = stub.requests_to("/v1/me/player/recently-played")
    assert [q["after"] for q in requests] == ["1700000000000", str(moments[0])]
