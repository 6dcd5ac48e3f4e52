"""A throwaway deployment for the process faults: a data folder with export-only listeners, its
own Dagster instance, the CLI run as an operator runs it, and the lake compared with a copy that
ran without the fault."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc

from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets.lib.instance import LOCAL_DAGSTER_YAML
from spotify_assets.lib.lake import Lake
from spotify_assets.lib.settings import load_settings
from spotify_assets.lib.users.registry import UserRegistry

ROOT = Path(__file__).resolve().parents[2]
LISTENERS = ("keeper", "other")
# Tables whose content a no-fault run determines (import_reports also carry when they ran).
COMPARED = (
    "exported_plays",
    "import_rejects",
    "plays",
    "episode_plays",
    "daily_listening",
    "listening_sessions",
    "listening_coverage",
)


@dataclass
class Deployment:
    root: Path
    _logs: dict[int, Path] = field(default_factory=dict, repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "SPOTIFY_ASSETS_DATA_DIR": str(self.data),
            "DAGSTER_HOME": str(self.home),
            **extra,
        }

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "spotify_assets.cli", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def spawn_cli(self, *args: str) -> subprocess.Popen:
        """The CLI in its own process group, as a shell would start it (to be killed whole).
        What it says goes to `cli-<pid>.log` beside the data (`said`)."""
        with tempfile.NamedTemporaryFile(dir=self.root, prefix="cli-", suffix=".log",
                                         delete=False) as log:  # fmt: skip
            child = subprocess.Popen(
                [sys.executable, "-m", "spotify_assets.cli", *args],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._logs[child.pid] = Path(log.name)
        return child

    def said(self, child: subprocess.Popen) -> str:
        """The last lines a spawned CLI printed (for a failing assertion's message)."""
        return self._logs[child.pid].read_text(errors="replace")[-3000:]

    def history(self, user: str, rows: int, seed: int) -> Path:
        path = self.root / f"Streaming_History_Audio_{user}_{seed}.json"
        write_extended_file(path, rows, seed=seed)
        return path

    def copy(self, root: Path) -> Deployment:
        shutil.copytree(self.root, root, symlinks=True)
        return Deployment(root)

    def lake(self) -> Lake:
        return Lake(self.data / "lake")

    def current(self) -> dict[tuple[str, str], str]:
        """(table, partition) -> current file, for the compared tables (names are hashes)."""
        return {
            (e.table, e.partition): e.path
            for e in self.lake().manifest.current()
            if e.table in COMPARED
        }

    def play_ids(self) -> set[str]:
        lake = self.lake()
        if not lake.files("plays"):
            return set()
        return set(pc.unique(lake.read("plays").column("play_id")).to_pylist())


def new_deployment(root: Path) -> Deployment:
    deployment = Deployment(root)
    deployment.home.mkdir(parents=True)
    (deployment.home / "dagster.yaml").write_text(LOCAL_DAGSTER_YAML)
    registry = UserRegistry(load_settings(data_dir=deployment.data))
    for user in LISTENERS:
        registry.add_export_only(user, user.title(), "Europe/Berlin")
    return deployment


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(") ", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def kill_tree(pid: int) -> None:
    for member in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)
