"""The definitions load offline, validate, and name the jobs, schedules and sensors we run."""

import ast
import subprocess
import sys
from pathlib import Path

import dagster as dg

from spotify_assets.definitions import defs

PACKAGE = Path(__file__).resolve().parents[1] / "spotify_assets"


def test_definitions_load_and_validate() -> None:
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    assert {j.name for j in definitions.jobs} >= {
        "poll_job",
        "import_job",
        "listening_refresh_job",
        "listening_totals_job",
        "release_radar_job",
        "album_appearances_job",
        "monthly_wrapped_job",
        "yearly_wrapped_job",
        "spotify_tracks_job",
    }
    assert {s.name for s in definitions.schedules} >= {
        "release_radar_schedule",
        "album_appearances_schedule",
        "monthly_wrapped_schedule",
        "yearly_wrapped_schedule",
        "spotify_tracks_schedule",
    }
    assert {s.name for s in definitions.sensors} >= {
        "inbox_export_sensor",
        "stale_days_sensor",
        "history_settled_sensor",
        "stats_after_refresh_sensor",
    }
    # Polling follows each user's plan (poll_plan_sensor), not a fixed schedule.
    assert "poll_schedule" not in {s.name for s in definitions.schedules}
    assert "poll_plan_sensor" in {s.name for s in definitions.sensors}
    keys = {k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert keys >= {
        "polled_plays",
        "poll_plan",
        "exported_plays",
        "import_reports",
        "import_rejects",
        "plays",
        "episode_plays",
        "daily_listening",
        "listening_sessions",
        "listening_coverage",
        "listening_heatmap",
        "followed_artists",
        "artist_releases",
        "artist_release_fetches",
        "release_radar",
        "release_radar_playlists",
        "album_appearances",
        "trending_artists",
        "monthly_wrapped_captured",
        "monthly_wrapped",
        "monthly_wrapped_tops",
        "monthly_wrapped_playlists",
        "monthly_wrapped_reports",
        "yearly_wrapped",
        "yearly_wrapped_tops",
        "yearly_wrapped_reports",
        "spotify_tracks",
    }


def test_dagster_cli_validates_the_code_location() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_poll_job_polls_and_rewrites_the_plan_table() -> None:
    job = defs().resolve_job_def("poll_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "polled_plays",
        "poll_plan",
    }
    sensor = defs().resolve_sensor_def("poll_plan_sensor")
    assert sensor.job_name == "poll_job" and sensor.minimum_interval_seconds == 30


def test_pipeline_code_never_imports_the_emulator() -> None:
    """Ground truth is for tests: the pipeline must not be able to peek at it."""
    offenders = []
    for path in [*PACKAGE.joinpath("lib").rglob("*.py"), *PACKAGE.joinpath("defs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.startswith("spotify_assets.emulator") for n in names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_every_table_asset_shows_its_columns_owner_and_catalog_name() -> None:
    from spotify_assets.defs.catalog_map import table_specs

    graph = defs().resolve_asset_graph()
    tables = table_specs()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners, f"{key} has no owner"
        mapped = tables.get(key.to_user_string())
        if mapped is None:
            continue
        schema = node.metadata["dagster/column_schema"]
        schema = getattr(schema, "schema", schema)  # a MetadataValue once serialized
        assert [(c.name, c.description) for c in schema.columns] == [
            (c.name, c.doc) for c in mapped.spec.columns
        ]
        assert node.metadata["dagster/table_name"] == f"{mapped.domain}.{key.to_user_string()}"
    assert {"plays", "daily_listening", "top_tracks", "genres"} <= set(tables)


def _outside_code_spans(markdown: str) -> str:
    return "".join(markdown.split("`")[::2])


def test_descriptions_render_as_written_in_the_ui() -> None:
    # The UI renders descriptions as Markdown: `<user>` outside a code span is eaten as a tag.
    graph = defs().resolve_asset_graph()
    eaten = [
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if "<" in _outside_code_spans(graph.get(key).description or "")
    ]
    assert eaten == []
