"""Two costs of the test session that no test checks, paid once instead of thousands of times.

- `share_tls_context`: httpx builds a new TLS context for every client and loads certifi's CA
  bundle into it (~20 ms of CPU). The pipeline, the login flow and the tests make a client per
  request batch, hundreds per test, all to the emulator on plain-HTTP loopback where TLS is never
  used: a fifth of the CPU of a typical end-to-end test went into CA bundles. Clients of a test
  process now share one default context (an `ssl.SSLContext` is safe to share between clients and
  threads); any other `verify`/`cert` still gets its own, as before.
- `temp_files_on_tmpfs`: every test's data folder, Dagster home and SQLite event log live under
  the temporary folder. On a disk, each SQLite commit (hundreds per run) and each lake file's
  fsync waits for the disk. Where `/dev/shm` is a tmpfs with room to spare, the session's
  temporary folder (`TMPDIR`, inherited by xdist workers and every subprocess) goes there. The
  same files are written, renamed and fsynced; only the wait for the disk goes. An explicit
  `TMPDIR`, or `SPOTIFY_ASSETS_TESTS_TMPFS=0`, keeps the usual folder. The usual folder stays
  known (`DISK_TMP`) for a test that needs a write to take disk time (conftest's
  `disk_tmp_path`).
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

TMPFS = Path("/dev/shm")
# Peak size of one whole session's temporary files is ~1 GB; pytest keeps the last three.
TMPFS_MIN_FREE = 6 * 1024**3
# The temporary folder before the switch, for xdist workers and subprocesses too.
DISK_TMP = "SPOTIFY_ASSETS_TESTS_DISK_TMP"


def share_tls_context() -> None:
    import httpx._transports.default as transports

    create = transports.create_ssl_context
    if getattr(create, "shared", False):
        return

    @functools.lru_cache(maxsize=8)
    def default_context(trust_env: bool, cert_file: str | None, cert_dir: str | None):
        return create(verify=True, cert=None, trust_env=trust_env)

    def create_ssl_context(verify=True, cert=None, trust_env=True):
        if verify is True and cert is None:
            # httpx reads these two variables when trust_env is set: part of the key.
            env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
            return default_context(trust_env, *(env if trust_env else (None, None)))
        return create(verify=verify, cert=cert, trust_env=trust_env)

    create_ssl_context.shared = True
    transports.create_ssl_context = create_ssl_context


def temp_files_on_tmpfs() -> Path | None:
    """Point TMPDIR (and this process's `tempfile`) at a folder on /dev/shm when it is a tmpfs
    with room; returns the folder, or None when the usual one stays."""
    if "TMPDIR" in os.environ or os.environ.get("SPOTIFY_ASSETS_TESTS_TMPFS") == "0":
        return None
    if not _is_tmpfs(TMPFS) or not os.access(TMPFS, os.W_OK):
        return None
    stats = os.statvfs(TMPFS)
    if stats.f_bavail * stats.f_frsize < TMPFS_MIN_FREE:
        return None
    folder = TMPFS / f"spotify-assets-tests-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    # Like /tmp: a test's server running as `nobody` (throwaway_postgres) makes its own there.
    folder.chmod(0o1777)
    os.environ[DISK_TMP] = tempfile.gettempdir()
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    return folder


def _is_tmpfs(path: Path) -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(
        len(fields) > 2 and fields[1] == str(path) and fields[2] == "tmpfs"
        for fields in (line.split() for line in mounts)
    )
