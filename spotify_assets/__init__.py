"""spotify_assets: own your Spotify listening data (Dagster assets, Parquet lake, DuckDB)."""

import warnings

# Every daily asset uses BackfillPolicy.single_run() on purpose (a year of days is one run);
# Dagster 1.13 flags the parameter as beta on each asset. Only that one warning is silenced.
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta"
)

