"""Run the emulator: in a background thread for tests and the demo, or blocking for the CLI."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from spotify_assets.emulator.app import create_app
from spotify_assets.emulator.state import EmulatorState
from spotify_assets.emulator.world import WorldConfig

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class EmulatorHandle:
    base_url: str
    port: int
    state: EmulatorState


def _server(config: WorldConfig | None, port: int, *, mb_test_mode: bool = False) -> uvicorn.Server:
    app = create_app(config or WorldConfig(), mb_test_mode=mb_test_mode)
    settings = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        log_level="warning",
        lifespan="off",
        # The app dates answers by the emulator clock (middleware.ClockDateHeader).
        date_header=False,
        # A `slow` fault must not hold up shutdown for its whole delay.
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(settings)


@contextmanager
def running_emulator(
    config: WorldConfig | None = None, port: int = 0, *, mb_test_mode: bool = False
) -> Iterator[EmulatorHandle]:
    """Serve the emulator on 127.0.0.1 (port 0 = a free port) until the block ends."""
    # Bind here, not in uvicorn's thread, so a busy port is an exception in the caller.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"the emulator cannot listen on {HOST}:{port}: {exc}") from exc
    bound = sock.getsockname()[1]
    server = _server(config, bound, mb_test_mode=mb_test_mode)
    state: EmulatorState = server.config.app.state.emulator
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="spotify-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the emulator failed to start on {HOST}:{bound}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(
                f"the emulator did not start on {HOST}:{bound} within {START_TIMEOUT_S:.0f} s"
            )
        time.sleep(0.01)
    try:
        yield EmulatorHandle(base_url=f"http://{HOST}:{bound}", port=bound, state=state)
    finally:
        state.stopping.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve(
    port: int, config: WorldConfig | None = None, *, mb_min_interval_s: float | None = None
) -> None:
    """Serve the emulator in the foreground until interrupted (`spotify-assets emulator`).

    `mb_min_interval_s` overrides the 1 request/second MusicBrainz limit the emulator enforces
    (the demo lowers it, together with the client's, to enrich a whole world in seconds)."""
    server = _server(config, port)
    state: EmulatorState = server.config.app.state.emulator
    if mb_min_interval_s is not None:
        from spotify_assets.emulator.musicbrainz import mb_state

        mb_state(state).min_interval_s = mb_min_interval_s
    world = state.world
    print(
        f"Spotify emulator on http://{HOST}:{port} (seed {world.config.seed}, "
        f"{len(world.users)} demo users, plays up to {world.end.isoformat()}); Ctrl-C stops it",
        flush=True,
    )
    try:
        server.run()
    finally:
        state.stopping.set()
