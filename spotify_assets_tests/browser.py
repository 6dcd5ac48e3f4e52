"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol, for UI tests.

Why the protocol, not `--screenshot`/`--dump-dom` or a driver library: the Dagster UI is a React
app that fetches its data over GraphQL after the page loads, so a test must wait until the page
*shows* something (an asset name, "Materialized") before it reads or photographs it; the
one-shot flags cannot wait on content. Playwright's browser download does not work offline and
its bundled driver is Node; Selenium needs `chromium-driver` beside it. The protocol needs the
browser and a WebSocket client (`websockets`, already installed with uvicorn) and nothing else.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags that work on these machines: no sandbox (root in a container), no GPU, nothing phoning
# home, a fresh profile per browser.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]


class Page:
    """One tab: navigate, wait until its text says something, read it, photograph it."""

    def __init__(self, ws_url: str) -> None:
        self._ws = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30)
        self._ids = itertools.count(1)

    def send(self, method: str, **params: object) -> dict:
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv(timeout=120))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def goto(self, url: str, width: int = 1600, height: int = 1000) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        self.send("Page.navigate", url=url)

    def text(self) -> str:
        result = self.send(
            "Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
            returnByValue=True,
        )  # fmt: skip
        return result.get("result", {}).get("value") or ""

    def wait_for(self, *needles: str, timeout: float = 90.0) -> str:
        """The page's text once it contains every needle (raises with what it showed)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(n in text for n in needles):
                return text
            time.sleep(0.5)
        missing = [n for n in needles if n not in text]
        raise AssertionError(f"the page never showed {missing}; it showed:\n{text[:3000]}")

    def evaluate(self, expression: str) -> object:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def click_text(self, text: str) -> bool:
        """Click the last element whose own text is exactly `text` (False: none shown)."""
        return bool(self.evaluate(
            "(() => { const hits = [...document.querySelectorAll('*')].filter(e => "
            f"e.childElementCount === 0 && e.textContent.trim() === {json.dumps(text)}); "
            "if (!hits.length) return false; hits[hits.length - 1].click(); return true })()"
        ))  # fmt: skip

    def images(self) -> list[dict]:
        """Every rendered image on the page: its alt text and natural size."""
        return self.evaluate(
            "[...document.querySelectorAll('img')].map(i => "
            "({alt: i.alt, width: i.naturalWidth, height: i.naturalHeight}))"
        ) or []  # fmt: skip

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self._ws.close()


@contextlib.contextmanager
def chromium() -> Iterator[Page]:
    """A headless Chromium with a fresh profile, and its first tab."""
    assert CHROMIUM is not None, "chromium is not installed"
    # Chromium's helpers (renderer, crashpad) may still be writing to the profile after the
    # browser exits: they share its process group, which is ended whole, and a file one of
    # them leaves behind must not fail the test that used the browser.
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text().strip():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chromium did not start its DevTools endpoint")
                time.sleep(0.2)
            port = int(port_file.read_text().split()[0])
            tabs = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            tab = next(t for t in tabs if t.get("type") == "page")
            page = Page(tab["webSocketDebuggerUrl"])
            try:
                yield page
            finally:
                page.close()
        finally:
            _end_group(process)


def _end_group(process: subprocess.Popen) -> None:
    """SIGTERM to the browser's whole process group, SIGKILL to what is left after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
