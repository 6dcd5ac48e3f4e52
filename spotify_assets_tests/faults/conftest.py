"""The fault suite uses the pipeline of the domain tests (enrolled demo users, a fresh lake)."""

from spotify_assets_tests.defs.conftest import pipeline  # noqa: F401 (a fixture, by name)
