"""Settings pointed at a temp data dir, with no token key from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotify_assets.lib.settings import Settings, load_settings
from spotify_assets.lib.users.registry import UserRegistry


@pytest.fixture
def user_settings(tmp_path: Path) -> Settings:
    # token_key=None explicitly: a key in the developer's environment must not leak in.
    return load_settings(data_dir=tmp_path / "data", token_key=None)


@pytest.fixture
def registry(user_settings: Settings) -> UserRegistry:
    return UserRegistry(user_settings)
