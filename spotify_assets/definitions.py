"""The whole asset graph: every domain under `defs/`, plus project-wide policies."""

import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg

from spotify_assets.defs.catalog_map import describe_asset

# How fresh the tables listeners read must be (evaluated by the daemon's freshness loop, shown
# on each asset; docs/operations.md "Health checks"). Set here, in one place, for the tables
# people look at, not in each asset's file.
FRESHNESS: dict[str, dg.FreshnessPolicy] = {
    # Refreshed after every poll that found a play (stale_days_sensor): a day without a refresh
    # is a household that did not listen at all, or a stall.
    **dict.fromkeys(
        ("plays", "daily_listening"),
        dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=24),
                                       warn_window=timedelta(hours=12)),
    ),
    # top_items_schedule runs at 05:00 UTC (one run: snapshots, movement, albums).
    **dict.fromkeys(
        ("top_tracks", "top_artists", "top_tracks_movement", "top_artists_movement",
         "top_albums"),
        dg.FreshnessPolicy.cron(deadline_cron="0 7 * * *", lower_bound_delta=timedelta(hours=2)),
    ),
    # tops_from_plays_schedule at 12:30 UTC, and after every refresh.
    "tops_from_plays": dg.FreshnessPolicy.cron(
        deadline_cron="0 14 * * *", lower_bound_delta=timedelta(hours=24)
    ),
    # monthly_wrapped_schedule: the 1st at 00:00 (capture) and 12:30 UTC (the month's numbers).
    **dict.fromkeys(
        ("monthly_wrapped", "monthly_wrapped_tops"),
        dg.FreshnessPolicy.cron(deadline_cron="0 15 1 * *", lower_bound_delta=timedelta(hours=3)),
    ),
}


def with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    policy = FRESHNESS.get(spec.key.to_user_string())
    return spec if policy is None else dg.apply_freshness_policy(spec, policy)


@dg.definitions
def defs() -> dg.Definitions:
    graph = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    with warnings.catch_warnings():
        # `map_asset_specs` is a preview API; dagster is pinned, so it cannot change under us.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        # Every table asset shows its columns (with their docs), catalog name and owner; the
        # tables people look at carry their freshness policy.
        return graph.map_asset_specs(func=lambda spec: with_freshness(describe_asset(spec)))
