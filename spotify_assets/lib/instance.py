"""The deployment's Dagster instance: the one every run that changes data goes through.

`$DAGSTER_HOME` names it; when it is unset, the default is the local one under `data/`
(`data/dagster_home`), created with the local profile on first use, so `spotify-assets import`,
the demo and `dagster dev` (which the demo starts with the same `DAGSTER_HOME`) all record their
runs in one place: the UI shows them, pools keep overlapping refreshes apart, retries and
sensors see them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from spotify_assets.lib.settings import Settings

LOCAL_DAGSTER_YAML = """\
# Written by spotify-assets for a local deployment; edit freely, it is not overwritten.
telemetry:
  enabled: false
concurrency:
  pools:
    # One op at a time per pool: `musicbrainz` (the 1 req/s limit holds across processes
    # anyway; this keeps two runs from asking the same questions) and `days_<asset>` for each
    # listening history asset (two refreshes of overlapping days take turns on it, so neither
    # puts back a stale day file).
    default_limit: 1
  runs:
    max_concurrent_runs: 4
run_monitoring:
  # With the default launcher run monitoring cannot check run workers (dead_run_sensor does),
  # but it frees the pool slots a run still holds after it ended: a run whose worker was
  # killed is marked failed from outside, and its slots would otherwise block its own retry.
  enabled: true
  free_slots_after_run_end_seconds: 30
run_retries:
  # Only jobs tagged `dagster/max_retries` retry: the listening refresh, so a refresh cut off
  # (a stopped deployment, a crash) is run again and the days it was rebuilding reach the stats.
  enabled: true
  max_retries: 0
"""


class InstanceError(RuntimeError):
    """The Dagster instance cannot be used; the message says why and what to do."""


def prepare_dagster_home(settings: Settings) -> Path:
    """Point `DAGSTER_HOME` at the local instance under the data folder, creating it with the
    local profile if it does not exist yet."""
    home = settings.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML)
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
    checked before anything is written: a bad `dagster.yaml` fails here, not half-way."""
    if not os.environ.get("DAGSTER_HOME"):
        prepare_dagster_home(settings)
    home = Path(os.environ["DAGSTER_HOME"])
    if not home.is_dir():
        raise InstanceError(
            f"DAGSTER_HOME={home} is not a folder; create it or unset DAGSTER_HOME to use "
            f"{settings.dagster_home}"
        )
    try:
        return dg.DagsterInstance.get()
    except Exception as exc:  # Dagster raises several types for a bad dagster.yaml
        raise InstanceError(f"the Dagster instance at {home} cannot be loaded: {exc}") from exc
