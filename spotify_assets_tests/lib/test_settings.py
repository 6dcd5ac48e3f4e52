"""Settings: defaults select the emulator; a bad or missing value fails at load, named."""

import pytest

from spotify_assets.lib.settings import SettingsError, load_settings


def test_defaults_select_the_local_emulator(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert settings.mode == "emulator"
    assert settings.spotify_api_url == "http://127.0.0.1:8765"
    assert settings.musicbrainz_url == settings.spotify_accounts_url == settings.spotify_api_url
    assert settings.spotify_client_id
    assert settings.warehouse_path == settings.data_dir / "warehouse.duckdb"


def test_env_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SPOTIFY_ASSETS_EMULATOR_PORT=9999\n")
    assert load_settings().spotify_api_url == "http://127.0.0.1:9999"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SPOTIFY_ASSETS_DEFAULT_TIMEZONE", "Mars/Olympus_Mons"),
        ("SPOTIFY_ASSETS_EMULATOR_PORT", "70000"),
        ("SPOTIFY_ASSETS_MODE", "production"),
        ("SPOTIFY_API_URL", "ftp://example.org"),
        ("SPOTIFY_ASSETS_HTTP_TIMEOUT", "-1"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_live_mode_requires_credentials_and_a_contact_user_agent(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_ASSETS_MODE", "live")
    with pytest.raises(SettingsError, match=r"SPOTIFY_CLIENT_ID.*MUSICBRAINZ_USER_AGENT"):
        load_settings()
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "abc")
    monkeypatch.setenv("MUSICBRAINZ_USER_AGENT", "spotify_assets")
    with pytest.raises(SettingsError, match="contact"):
        load_settings()
    monkeypatch.setenv("MUSICBRAINZ_USER_AGENT", "spotify_assets/0.1 ( ops@example.org )")
    settings = load_settings()
    assert settings.spotify_api_url == "https://api.spotify.com"
    assert settings.musicbrainz_url == "https://musicbrainz.org"


def test_musicbrainz_may_only_be_asked_faster_than_1_per_second_on_loopback(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUSICBRAINZ_MIN_INTERVAL", "0.2")
    assert load_settings().musicbrainz_min_interval_s == 0.2  # the emulator on 127.0.0.1
    monkeypatch.setenv("MUSICBRAINZ_URL", "https://musicbrainz.org")
    with pytest.raises(SettingsError, match="MUSICBRAINZ_MIN_INTERVAL"):
        load_settings()


def test_env_example_lists_every_setting() -> None:
    from pathlib import Path

    from spotify_assets.lib.settings import Settings

    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    listed = {
        line.lstrip("# ").split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and line.lstrip("# ")[:1].isupper()
    }
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    assert aliases - listed == set(), "settings missing from .env.example"


def test_poll_interval_bounds_are_checked_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from spotify_assets.lib.polling import policy_from

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_ASSETS_POLL_MIN_MINUTES", "90")
    monkeypatch.setenv("SPOTIFY_ASSETS_POLL_MAX_MINUTES", "60")
    with pytest.raises(SettingsError, match="SPOTIFY_ASSETS_POLL_MIN_MINUTES"):
        load_settings()
    monkeypatch.setenv("SPOTIFY_ASSETS_POLL_MAX_MINUTES", "120")
    monkeypatch.setenv("SPOTIFY_ASSETS_POLL_REQUESTS_PER_WINDOW", "5")
    policy = policy_from(load_settings())
    assert (policy.min_interval.total_seconds(), policy.max_interval.total_seconds()) == (
        5400,
        7200,
    )
    assert policy.requests_per_window == 5
    monkeypatch.setenv("SPOTIFY_ASSETS_POLL_REQUESTS_PER_WINDOW", "0")
    with pytest.raises(SettingsError, match="SPOTIFY_ASSETS_POLL_REQUESTS_PER_WINDOW"):
        load_settings()
