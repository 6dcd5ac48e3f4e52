"""The deployment's Dagster instance: the one every run that changes data goes through.

`$DAGSTER_HOME` names it; when it is unset, the default is the local one under `data/`
(`data/dagster_home`), created on first use, so `spotify-assets import`, the demo and
`dagster dev` (which the demo starts with the same `DAGSTER_HOME`) all record their runs in one
place: the UI shows them, pools keep overlapping refreshes apart, retries and sensors see them.

A new home gets the instance profile `SPOTIFY_ASSETS_INSTANCE` selects, a file of
`deploy/dagster/`: `local` (SQLite under the home) or `production` (Postgres storage, every
connection value from `DAGSTER_PG_*`). An existing `dagster.yaml` is never overwritten; one
written from the other profile is refused with what to do, so a deployment never runs half on
SQLite and half on Postgres.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from spotify_assets.lib.settings import Settings

PROFILES = ("local", "production")
MARKER = "# spotify_assets instance profile: "
# What the local profile's first line said before profiles were files.
_LEGACY_LOCAL = "# Written by spotify-assets for a local deployment"


def profiles_dir() -> Path:
    """`deploy/dagster/` of the checkout (or its copy inside an installed wheel)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "deploy" / "dagster", package.parent / "deploy" / "dagster"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no deploy/dagster/ beside {package}")


def profile_text(name: str) -> str:
    """The `dagster.yaml` of instance profile `name` (`local` or `production`)."""
    if name not in PROFILES:
        raise ValueError(f"unknown instance profile {name!r}: choose one of {PROFILES}")
    return (profiles_dir() / f"{name}.yaml").read_text()


LOCAL_DAGSTER_YAML = profile_text("local")
PRODUCTION_DAGSTER_YAML = profile_text("production")


def profile_of(config_text: str) -> str | None:
    """Which profile a `dagster.yaml` was written from (None: an operator's own file)."""
    first = config_text.lstrip().splitlines()[0] if config_text.strip() else ""
    if first.startswith(MARKER):
        return first.removeprefix(MARKER).split()[0]
    return "local" if first.startswith(_LEGACY_LOCAL) else None


class InstanceError(RuntimeError):
    """The Dagster instance cannot be used; the message says why and what to do."""


def write_profile(home: Path, settings: Settings) -> Path:
    """`home/dagster.yaml` from the selected profile unless it exists; an existing one written
    from the other profile is refused (InstanceError), an operator's own file is kept."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(profile_text(settings.instance))
        return config
    written = profile_of(config.read_text())
    if written is not None and written != settings.instance:
        raise InstanceError(
            f"{config} holds the {written} instance profile but SPOTIFY_ASSETS_INSTANCE="
            f"{settings.instance}: set SPOTIFY_ASSETS_INSTANCE={written}, or point DAGSTER_HOME "
            f"at a new folder for the {settings.instance} profile (docs/operations.md)"
        )
    return config


def export_postgres_env(settings: Settings) -> None:
    """Dagster reads `{env: DAGSTER_PG_*}` from the process environment only; values that came
    from `.env` are put there, so the CLI sees what the settings validated."""
    if settings.instance != "production":
        return
    values = {
        "DAGSTER_PG_HOST": settings.pg_host,
        "DAGSTER_PG_PORT": str(settings.pg_port),
        "DAGSTER_PG_DB": settings.pg_db,
        "DAGSTER_PG_USERNAME": settings.pg_username,
        "DAGSTER_PG_PASSWORD": (
            settings.pg_password.get_secret_value() if settings.pg_password else ""
        ),
    }
    for name, value in values.items():
        os.environ.setdefault(name, value)


def prepare_dagster_home(settings: Settings) -> Path:
    """Point `DAGSTER_HOME` at the instance under the data folder, creating it with the
    selected profile if it does not exist yet."""
    home = settings.dagster_home.resolve()
    write_profile(home, settings)
    export_postgres_env(settings)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def ensure_pool_limits(instance: dg.DagsterInstance, limits: Mapping[str, int]) -> list[str]:
    """Give every pool an explicit limit unless an operator set one; returns the pools set.

    `concurrency: pools: default_limit` alone is applied lazily, when a step first uses a pool,
    and on SQLite two runs that first use a pool at the same moment both allocate a slot (two
    slots for a limit of 1: seen when two refreshes started together). Set up front, there is no
    first use to race on.
    """
    storage = instance.event_log_storage
    changed = []
    for pool, limit in sorted(limits.items()):
        for attempt in range(5):
            known = {p.name: p for p in storage.get_pool_limits()}.get(pool)
            if known is not None and not known.from_default:
                break
            try:
                storage.set_concurrency_slots(pool, limit)
            except Exception:  # another process set it between our read and our write
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
                continue
            changed.append(pool)
            break
    return changed


def deployment_instance(settings: Settings) -> dg.DagsterInstance:
    """The instance of this deployment (`$DAGSTER_HOME`, else the local one), loaded and
    checked before anything is written: a bad `dagster.yaml`, a profile other than the selected
    one or an unreachable Postgres fails here, not half-way."""
    if not os.environ.get("DAGSTER_HOME"):
        prepare_dagster_home(settings)
    home = Path(os.environ["DAGSTER_HOME"])
    if not home.is_dir():
        raise InstanceError(
            f"DAGSTER_HOME={home} is not a folder; create it or unset DAGSTER_HOME to use "
            f"{settings.dagster_home}"
        )
    write_profile(home, settings)
    export_postgres_env(settings)
    try:
        # The first load creates SQLite's tables: two CLIs started together on a new home
        # both did (UNIQUE constraint failed: alembic_version), so loads take turns.
        with open(home / ".instance.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            instance = dg.DagsterInstance.get()
    except Exception as exc:  # Dagster raises several types for a bad dagster.yaml
        raise InstanceError(
            f"the Dagster instance at {home} cannot be loaded: {_one_line(exc)}"
        ) from exc
    storage = type(instance.run_storage).__name__
    if settings.instance == "production" and "Postgres" not in storage:
        raise InstanceError(
            f"SPOTIFY_ASSETS_INSTANCE=production but {home / 'dagster.yaml'} stores runs in "
            f"{storage}: give that home the production profile (deploy/dagster/production.yaml)"
        )
    return instance


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:500]
