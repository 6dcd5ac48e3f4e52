"""Typed Web API objects, tolerant of the 2026 development-mode field removals.

Every model ignores unknown fields (Spotify adds fields without notice) and every field that
dev mode removed (popularity, followers, genres, label, available_markets, country, product...)
is optional, so the same models parse extended-quota and dev-mode bodies. Ids, hrefs and uris
are optional where Spotify sends null: local files (`is_local: true`) have no id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

T = TypeVar("T")


class SpotifyModel(BaseModel):
    """Base: unknown fields are ignored, instances are immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Image(SpotifyModel):
    url: str
    height: int | None = None
    width: int | None = None


class Followers(SpotifyModel):
    total: int | None = None


class ExternalIds(SpotifyModel):
    isrc: str | None = None
    ean: str | None = None
    upc: str | None = None


class SimplifiedArtist(SpotifyModel):
    id: str | None = None
    name: str
    uri: str | None = None
    href: str | None = None
    type: str | None = "artist"


class Artist(SimplifiedArtist):
    images: list[Image] = Field(default_factory=list)
    # Removed for development-mode apps in 2026; present with extended quota.
    genres: list[str] | None = None
    popularity: int | None = None
    followers: Followers | None = None


class SimplifiedAlbum(SpotifyModel):
    id: str | None = None
    name: str
    # Spotify has sent both "album" and "ALBUM"; local files send null.
    album_type: str | None = None
    album_group: str | None = None
    artists: list[SimplifiedArtist] = Field(default_factory=list)
    release_date: str | None = None
    release_date_precision: str | None = None
    total_tracks: int | None = None
    images: list[Image] = Field(default_factory=list)
    uri: str | None = None
    href: str | None = None
    type: str | None = "album"


class SimplifiedTrack(SpotifyModel):
    """A track without its album (album tracks); also the base of `Track`."""

    id: str | None = None
    name: str
    artists: list[SimplifiedArtist] = Field(default_factory=list)
    duration_ms: int | None = None
    track_number: int | None = None
    disc_number: int | None = None
    explicit: bool | None = None
    is_local: bool = False
    is_playable: bool | None = None
    uri: str | None = None
    href: str | None = None
    type: str | None = "track"
    preview_url: str | None = None


class Track(SimplifiedTrack):
    album: SimplifiedAlbum | None = None
    # external_ids (ISRC) was removed in Feb 2026 and restored in March; keep it optional.
    external_ids: ExternalIds | None = None
    popularity: int | None = None


class Paging(SpotifyModel, Generic[T]):
    """An offset page: `items` from `offset`, `total` in all, `next` null on the last page."""

    items: list[T] = Field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None
    next: str | None = None
    previous: str | None = None
    href: str | None = None


class Album(SimplifiedAlbum):
    tracks: Paging[SimplifiedTrack] | None = None
    external_ids: ExternalIds | None = None
    # Removed for development-mode apps in 2026.
    label: str | None = None
    popularity: int | None = None
    genres: list[str] | None = None


class Context(SpotifyModel):
    type: str | None = None
    uri: str | None = None
    href: str | None = None


class PlayHistoryItem(SpotifyModel):
    track: Track
    # The moment playback ended, UTC, usually with milliseconds.
    played_at: datetime
    # Null for Liked Songs, deleted playlists and some accounts.
    context: Context | None = None


class Cursors(SpotifyModel):
    """Cursor strings: Unix ms for recently-played, an artist id for followed artists."""

    after: str | None = None
    before: str | None = None


class RecentlyPlayedPage(SpotifyModel):
    items: list[PlayHistoryItem] = Field(default_factory=list)
    cursors: Cursors | None = None
    next: str | None = None
    limit: int | None = None
    href: str | None = None
    # Not in the body: when Spotify answered, by its clock (`SpotifyClient.latest_played`).
    fetched_at: datetime | None = None


class FollowedArtistsPage(SpotifyModel):
    """The inner `artists` object of `GET /me/following?type=artist`."""

    items: list[Artist] = Field(default_factory=list)
    cursors: Cursors | None = None
    next: str | None = None
    total: int | None = None
    limit: int | None = None
    href: str | None = None

    @classmethod
    def from_response(cls, body: Any) -> FollowedArtistsPage:
        """Parse the whole response body, which wraps the page in `{"artists": {...}}`."""
        if not isinstance(body, dict) or not isinstance(body.get("artists"), dict):
            raise ValueError("followed artists body has no 'artists' object")
        return cls.model_validate(body["artists"])


class UserProfile(SpotifyModel):
    id: str
    display_name: str | None = None
    # Added in May 2026: the stable id Spotify recommends for account linking.
    account_id: str | None = None
    uri: str | None = None
    images: list[Image] = Field(default_factory=list)
    # Removed for development-mode apps in 2026.
    country: str | None = None
    product: str | None = None
    email: str | None = None


class PlaylistOwner(SpotifyModel):
    id: str | None = None
    display_name: str | None = None
    uri: str | None = None


class PlaylistItem(SpotifyModel):
    """One playlist entry; 2026 bodies name the object `item`, older ones `track`."""

    added_at: datetime | None = None
    is_local: bool = False
    # Episodes parse too (their missing track fields are optional); null when unavailable.
    track: Track | None = None

    @model_validator(mode="before")
    @classmethod
    def _item_is_track(cls, data: Any) -> Any:
        if isinstance(data, dict) and "item" in data and data.get("track") is None:
            data = {**data, "track": data["item"]}
        return data


class Playlist(SpotifyModel):
    id: str
    name: str
    description: str | None = None
    public: bool | None = None
    collaborative: bool | None = None
    owner: PlaylistOwner | None = None
    snapshot_id: str | None = None
    uri: str | None = None
    href: str | None = None
    # `items` since Feb 2026, `tracks` before; a fresh playlist carries only {href, total}.
    items: Paging[PlaylistItem] | None = None

    @model_validator(mode="before")
    @classmethod
    def _tracks_is_items(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("items") is None and "tracks" in data:
            data = {**data, "items": data["tracks"]}
        return data
