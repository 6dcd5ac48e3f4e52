"""The whole asset graph: every domain under `defs/`, plus project-wide policies."""

import warnings
from pathlib import Path

import dagster as dg

from spotify_assets.defs.catalog_map import describe_asset


@dg.definitions
def defs() -> dg.Definitions:
    graph = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    with warnings.catch_warnings():
        # `map_asset_specs` is a preview API; dagster is pinned, so it cannot change under us.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        # Every table asset shows its columns (with their docs), catalog name and owner.
        return graph.map_asset_specs(func=describe_asset)
