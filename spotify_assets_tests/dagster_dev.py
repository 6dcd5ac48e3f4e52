"""`dagster dev` (webserver and daemon) on a deployment, as an operator starts it, for the tests
that need a running deployment (the UI test, the kill -9 fault case)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_dagster_dev(env: dict[str, str], port: int) -> subprocess.Popen:
    """`dagster dev` on 127.0.0.1:`port` in its own process group (stopped whole by `stop`)."""
    # SIG_DFL for SIGINT: a child of a non-interactive shell inherits SIGINT ignored, and
    # dagster maps SIGTERM to SIGINT, so without it neither signal stops `dagster dev`.
    wrapper = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execvp(sys.argv[1], sys.argv[1:])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", wrapper, sys.executable, "-m", "dagster", "dev", "-h",
         "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, then SIGKILL if it has not ended within 20 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue
