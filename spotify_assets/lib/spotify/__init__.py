"""The Spotify Web API client: accounts (auth), typed models, errors, SpotifyClient."""

from spotify_assets.lib.spotify.auth import (
    PLAYLIST_SCOPES,
    READ_SCOPES,
    TokenResponse,
    build_authorize_url,
    exchange_code,
    pkce_pair,
    refresh_access_token,
)
from spotify_assets.lib.spotify.client import SpotifyClient, TokenStore
from spotify_assets.lib.spotify.errors import (
    AuthorizationError,
    EndpointRemovedError,
    InvalidGrantError,
    MalformedResponseError,
    NotFoundError,
    QuotaExceededError,
    RateLimitDeferred,
    ReauthorizationRequired,
    SpotifyError,
    SpotifyServerError,
)
from spotify_assets.lib.spotify.models import (
    Album,
    Artist,
    Context,
    Cursors,
    FollowedArtistsPage,
    Paging,
    PlayHistoryItem,
    Playlist,
    PlaylistItem,
    RecentlyPlayedPage,
    SimplifiedAlbum,
    SimplifiedArtist,
    SimplifiedTrack,
    Track,
    UserProfile,
)
from spotify_assets.lib.spotify.redaction import install_http_log_redaction, redact_secrets
from spotify_assets.lib.spotify.transport import OnResponse, RetryPolicy

# Installed on import, before any login or API call can log: whoever imports the Spotify code
# (the login command, the client, the assets) gets httpx/httpcore records masked.
install_http_log_redaction()

__all__ = [
    "PLAYLIST_SCOPES",
    "READ_SCOPES",
    "Album",
    "Artist",
    "AuthorizationError",
    "Context",
    "Cursors",
    "EndpointRemovedError",
    "FollowedArtistsPage",
    "InvalidGrantError",
    "MalformedResponseError",
    "NotFoundError",
    "OnResponse",
    "Paging",
    "PlayHistoryItem",
    "Playlist",
    "PlaylistItem",
    "QuotaExceededError",
    "RateLimitDeferred",
    "ReauthorizationRequired",
    "RecentlyPlayedPage",
    "RetryPolicy",
    "SimplifiedAlbum",
    "SimplifiedArtist",
    "SimplifiedTrack",
    "SpotifyClient",
    "SpotifyError",
    "SpotifyServerError",
    "TokenResponse",
    "TokenStore",
    "Track",
    "UserProfile",
    "build_authorize_url",
    "exchange_code",
    "install_http_log_redaction",
    "pkce_pair",
    "redact_secrets",
    "refresh_access_token",
]
