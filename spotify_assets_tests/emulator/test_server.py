"""Starting and stopping the emulator: background thread on a free port, and the blocking
`serve()` the CLI uses (run in a child process we start and stop ourselves).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from spotify_assets.emulator.server import running_emulator
from spotify_assets.emulator.world import WorldConfig

TINY = WorldConfig(days=2, n_artists=10, n_tracks=60)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_running_emulator_serves_on_a_free_port_then_stops() -> None:
    with running_emulator(TINY) as handle:
        assert handle.base_url == f"http://127.0.0.1:{handle.port}"
        assert httpx.get(f"{handle.base_url}/_emulator/users").status_code == 200
        assert handle.state.world.config.n_tracks == 60
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{handle.base_url}/_emulator/users", timeout=1)


def test_a_busy_port_fails_with_the_port_named() -> None:
    with (
        running_emulator(TINY) as handle,
        pytest.raises(RuntimeError, match=f"127.0.0.1:{handle.port}"),
        running_emulator(TINY, port=handle.port),
    ):
        pass


def test_serve_blocks_until_interrupted() -> None:
    port = _free_port()
    code = (
        "from spotify_assets.emulator.server import serve\n"
        "from spotify_assets.emulator.world import WorldConfig\n"
        f"serve({port}, WorldConfig(days=2, n_artists=10, n_tracks=60))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/_emulator/users", timeout=1)
                break
            except httpx.TransportError:
                assert child.poll() is None, child.stderr.read() if child.stderr else ""
                assert time.monotonic() < deadline, "serve() did not start"
                time.sleep(0.1)
        assert len(response.json()) == 5
    finally:
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in out
