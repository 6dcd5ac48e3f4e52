"""The one settings object: environment variables and `.env`, validated once at load.

Every resource, the CLI and the demo read settings through `load_settings()`. The defaults select
the local emulator (mode `emulator`), so a fresh clone needs no credentials and no internet.
"""

from __future__ import annotations

import functools
import ipaddress
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SPOTIFY_API_URL = "https://api.spotify.com"
SPOTIFY_ACCOUNTS_URL = "https://accounts.spotify.com"
MUSICBRAINZ_URL = "https://musicbrainz.org"
# The public client id the demo enrolls with; the emulator accepts it (see .env.example).
EMULATOR_CLIENT_ID = "spotify-assets-demo-client"


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message names each offending variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    mode: Literal["emulator", "live"] = Field("emulator", alias="SPOTIFY_ASSETS_MODE")
    data_dir: Path = Field(Path("data"), alias="SPOTIFY_ASSETS_DATA_DIR")
    emulator_port: int = Field(8765, alias="SPOTIFY_ASSETS_EMULATOR_PORT", ge=1, le=65535)
    # Empty means "derived from mode": the emulator on loopback, or Spotify's real hosts.
    spotify_api_url: str = Field("", alias="SPOTIFY_API_URL")
    spotify_accounts_url: str = Field("", alias="SPOTIFY_ACCOUNTS_URL")
    musicbrainz_url: str = Field("", alias="MUSICBRAINZ_URL")
    spotify_client_id: str = Field("", alias="SPOTIFY_CLIENT_ID")
    # Optional: PKCE needs no secret; a confidential app may set one.
    spotify_client_secret: SecretStr | None = Field(None, alias="SPOTIFY_CLIENT_SECRET")
    spotify_redirect_uri: str = Field(
        "http://127.0.0.1:8888/callback", alias="SPOTIFY_REDIRECT_URI"
    )
    musicbrainz_user_agent: str = Field("", alias="MUSICBRAINZ_USER_AGENT")
    default_timezone: str = Field("UTC", alias="SPOTIFY_ASSETS_DEFAULT_TIMEZONE")
    # Fernet key for refresh tokens; when unset a 0600 key file under data_dir is used.
    token_key: SecretStr | None = Field(None, alias="SPOTIFY_ASSETS_TOKEN_KEY")
    http_timeout_s: float = Field(10.0, alias="SPOTIFY_ASSETS_HTTP_TIMEOUT", gt=0)
    # Longest Retry-After the client sleeps through; past it the user's work is deferred.
    max_retry_after_s: float = Field(60.0, alias="SPOTIFY_ASSETS_MAX_RETRY_AFTER", ge=0)
    # The demo's replay of past polls steps the emulator clock by this much.
    poll_interval_minutes: int = Field(30, alias="SPOTIFY_ASSETS_POLL_MINUTES", ge=1, le=1440)
    # The adaptive poll plan (lib/polling/): bounds of a user's interval, and how many
    # recently-played requests polling may send per rolling 30 s window (Spotify's rate window
    # is per app and unpublished; leave room for the other assets' requests).
    poll_min_minutes: int = Field(2, alias="SPOTIFY_ASSETS_POLL_MIN_MINUTES", ge=1, le=1440)
    poll_max_minutes: int = Field(360, alias="SPOTIFY_ASSETS_POLL_MAX_MINUTES", ge=1, le=1440)
    poll_requests_per_window: int = Field(
        30, alias="SPOTIFY_ASSETS_POLL_REQUESTS_PER_WINDOW", ge=1, le=10_000
    )
    demo_days: int = Field(21, alias="SPOTIFY_ASSETS_DEMO_DAYS", ge=1, le=3650)
    # MusicBrainz allows 1 request/second; only a loopback server (the emulator) may go faster.
    musicbrainz_min_interval_s: float = Field(1.0, alias="MUSICBRAINZ_MIN_INTERVAL", ge=0, le=60)
    # Pins the emulator world's "now" (default: the current hour), for reproducible demos.
    demo_end: datetime | None = Field(None, alias="SPOTIFY_ASSETS_DEMO_END")
    # Superseded lake files are kept this long for runs that listed them before a commit.
    lake_grace_minutes: float = Field(60.0, alias="SPOTIFY_ASSETS_LAKE_GRACE_MINUTES", ge=0)
    # `users remove` waits this long for analysts to close catalogs that still list the user.
    forget_wait_s: float = Field(30.0, alias="SPOTIFY_ASSETS_FORGET_WAIT_SECONDS", ge=0)
    # Release radar: also each user's N most played artists of the last 90 days (0 = follows only).
    radar_top_played_artists: int = Field(
        0, alias="RELEASE_RADAR_TOP_PLAYED_ARTISTS", ge=0, le=50
    )
    # A started run whose worker process is gone is failed (and its pool slots freed) once it
    # is at least this old: younger runs may not have recorded their worker yet.
    dead_run_grace_s: float = Field(10.0, alias="SPOTIFY_ASSETS_DEAD_RUN_GRACE_SECONDS", ge=0)
    # Memory an import may use; unset = what the machine has available when the import runs.
    import_memory_bytes: int | None = Field(None, alias="SPOTIFY_ASSETS_IMPORT_MEMORY", gt=0)

    # Which Dagster instance profile a new Dagster home gets (deploy/dagster/<profile>.yaml):
    # `local` (SQLite under the home) or `production` (Postgres, from the DAGSTER_PG_* below).
    instance: Literal["local", "production"] = Field("local", alias="SPOTIFY_ASSETS_INSTANCE")
    # The production profile's Postgres; Dagster reads the same variables from the environment.
    pg_host: str = Field("", alias="DAGSTER_PG_HOST")
    pg_port: int = Field(5432, alias="DAGSTER_PG_PORT", ge=1, le=65535)
    pg_db: str = Field("", alias="DAGSTER_PG_DB")
    pg_username: str = Field("", alias="DAGSTER_PG_USERNAME")
    pg_password: SecretStr | None = Field(None, alias="DAGSTER_PG_PASSWORD")

    # Collection health (defs/operations/health.py): a user whose last successful poll is
    # older than this is red; so is one whose pulls have been deferred (429, quota) this long.
    health_stale_hours: float = Field(6.0, alias="SPOTIFY_ASSETS_HEALTH_STALE_HOURS", gt=0)
    health_deferred_minutes: float = Field(
        30.0, alias="SPOTIFY_ASSETS_HEALTH_DEFERRED_MINUTES", ge=0
    )
    # Where a red check or a failed run is posted (JSON, one message per problem); unset: none.
    alert_webhook_url: SecretStr | None = Field(None, alias="SPOTIFY_ASSETS_ALERT_WEBHOOK_URL")

    # Pins the pipeline's clock (`lib/clock.py`): tests and reproducible demos only.
    now: datetime | None = Field(None, alias="SPOTIFY_ASSETS_NOW")

    @field_validator("demo_end", "now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timezone, e.g. 2026-01-31T12:00:00+00:00")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value

    @field_validator(
        "spotify_api_url", "spotify_accounts_url", "musicbrainz_url", "spotify_redirect_uri"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and urlparse(value).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if urlparse(value.get_secret_value()).scheme not in ("http", "https"):
            # The URL may embed a token: never echo it.
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _derive_and_require(self) -> Settings:
        if self.poll_min_minutes > self.poll_max_minutes:
            raise ValueError(
                "SPOTIFY_ASSETS_POLL_MIN_MINUTES must not exceed SPOTIFY_ASSETS_POLL_MAX_MINUTES"
            )
        emulator = f"http://127.0.0.1:{self.emulator_port}"
        if self.mode == "emulator":
            self.spotify_api_url = self.spotify_api_url or emulator
            self.spotify_accounts_url = self.spotify_accounts_url or emulator
            self.musicbrainz_url = self.musicbrainz_url or emulator
            self.spotify_client_id = self.spotify_client_id or EMULATOR_CLIENT_ID
            self.musicbrainz_user_agent = (
                self.musicbrainz_user_agent or "spotify_assets-demo/0.1 ( emulator )"
            )
        if self.mode == "live":
            self.spotify_api_url = self.spotify_api_url or SPOTIFY_API_URL
            self.spotify_accounts_url = self.spotify_accounts_url or SPOTIFY_ACCOUNTS_URL
            self.musicbrainz_url = self.musicbrainz_url or MUSICBRAINZ_URL
            missing = [
                name
                for name, value in (
                    ("SPOTIFY_CLIENT_ID", self.spotify_client_id),
                    ("MUSICBRAINZ_USER_AGENT", self.musicbrainz_user_agent),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"live mode requires {', '.join(missing)}")
            if not _is_loopback(self.musicbrainz_url) and "(" not in self.musicbrainz_user_agent:
                # MusicBrainz blocks anonymous agents; its docs ask for "app/version ( contact )".
                raise ValueError(
                    "MUSICBRAINZ_USER_AGENT must name the app and a contact, "
                    "like 'app/1.0 ( you@example.org )'"
                )
        if self.instance == "production":
            missing = [
                name
                for name, value in (
                    ("DAGSTER_PG_HOST", self.pg_host),
                    ("DAGSTER_PG_DB", self.pg_db),
                    ("DAGSTER_PG_USERNAME", self.pg_username),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"SPOTIFY_ASSETS_INSTANCE=production requires {', '.join(missing)} "
                    "(the Postgres of deploy/dagster/production.yaml)"
                )
        if self.musicbrainz_min_interval_s < 1.0 and not _is_loopback(self.musicbrainz_url):
            raise ValueError(
                "MUSICBRAINZ_MIN_INTERVAL below 1.0 is only allowed against a local emulator; "
                "MusicBrainz allows one request per second"
            )
        return self

    # Paths derived from data_dir: the layers of docs/architecture.md.
    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def state_dir(self) -> Path:
        """Small operational stores that are not lake tables (users, cursors, caches)."""
        return self.data_dir / "state"

    @property
    def reports_dir(self) -> Path:
        """The wrapped's HTML reports, one folder per listener's handle (never their id)."""
        return self.data_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = item.get("loc") or ()
        field = str(loc[0]) if loc else "settings"
        alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
        lines.append(f"{alias or field}: {item['msg']}")
    # One line: it is what the CLI prints, and what a log line shows.
    return "invalid settings (environment or .env): " + "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


@functools.cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return load_settings()
