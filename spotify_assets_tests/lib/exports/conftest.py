"""Fixtures for the export tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotify_assets_tests.lib.exports.samples import REAL_FILES


@pytest.fixture(params=sorted(REAL_FILES, key=lambda p: p.name), ids=lambda p: p.name[:40])
def real_file(request: pytest.FixtureRequest) -> Path:
    return request.param
