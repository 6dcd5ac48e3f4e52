"""The models parse Spotify's recorded responses and 2026 development-mode shapes.

Covers every recorded body in recorded/ (a copy of shared/realdata/spotify/responses/) for an
endpoint the client calls (batch `?ids=` lookups and saved tracks are not called, so they are
left out), bodies with the dev-mode field removals, unknown new fields, and local-file tracks.
Expected values are read from the raw JSON, not written down here.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from spotify_assets.lib.spotify.models import (
    Album,
    Artist,
    FollowedArtistsPage,
    Paging,
    Playlist,
    RecentlyPlayedPage,
    SimplifiedAlbum,
    SimplifiedTrack,
    Track,
    UserProfile,
)

RESPONSES = Path(__file__).parent / "recorded"
# Fields removed from development-mode answers in February 2026 (shared/notes/spotify.md §2).
DEV_MODE_REMOVED = {
    "available_markets", "linked_from", "popularity", "album_group", "label",
    "followers", "genres", "country", "email", "explicit_content", "product",
}


def load(name: str) -> Any:
    return json.loads((RESPONSES / name).read_text(encoding="utf-8"))


def strip(body: Any, fields: set[str]) -> Any:
    """`body` with `fields` removed at every depth."""
    if isinstance(body, dict):
        return {k: strip(v, fields) for k, v in body.items() if k not in fields}
    if isinstance(body, list):
        return [strip(v, fields) for v in body]
    return body


def parse_track_page(body: Any) -> Paging[Track]:
    return Paging[Track].model_validate(body)


# file -> how the client parses that endpoint's body, and where the items are in the raw JSON.
SINGLE: dict[str, type[BaseModel]] = {
    "data__albums__GetAlbumRequest.json": Album,
    "data__artists__GetArtistRequest.json": Artist,
    "data__tracks__GetTrackRequest.json": Track,
    "legacy__playlist-localfiles-response.json": Playlist,
}
PAGED: dict[str, tuple[Any, str | None]] = {
    "data__albums__GetAlbumsTracksRequest.json": (Paging[SimplifiedTrack], None),
    "data__artists__GetArtistsAlbumsRequest.json": (Paging[SimplifiedAlbum], None),
    "data__browse__GetListOfNewReleasesRequest.json": (Paging[SimplifiedAlbum], "albums"),
    "data__personalization__simplified__GetUsersTopArtistsRequest.json": (Paging[Artist], None),
    "data__personalization__simplified__GetUsersTopTracksRequest.json": (Paging[Track], None),
    "data__player__GetCurrentUsersRecentlyPlayedTracksRequest.json": (RecentlyPlayedPage, None),
}


def test_every_used_endpoint_fixture_is_covered() -> None:
    """A new fixture for an endpoint we use must be added to the tables above."""
    unused = {  # removed batch lookups and an endpoint the client does not call
        "data__albums__GetSeveralAlbumsRequest.json",
        "data__artists__GetSeveralArtistsRequest.json",
        "data__tracks__GetSeveralTracksRequest.json",
        "data__library__GetUsersSavedTracksRequest.json",
    }
    token_files = {p.name for p in RESPONSES.glob("authorization__*.json")}
    followed = {p.name for p in RESPONSES.glob("data__follow__*.json")}
    covered = set(SINGLE) | set(PAGED) | unused | token_files | followed
    assert {p.name for p in RESPONSES.glob("*.json")} == covered


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_single_objects_parse_with_their_ids(name: str) -> None:
    raw = load(name)
    model = SINGLE[name].model_validate(raw)
    assert model.id == raw["id"]
    assert model.name == raw["name"]


@pytest.mark.parametrize("name", sorted(PAGED))
def test_pages_parse_every_item(name: str) -> None:
    model, unwrap = PAGED[name]
    raw = load(name)
    raw_page = raw[unwrap] if unwrap else raw
    page = model.model_validate(raw_page)
    assert len(page.items) == len(raw_page["items"]) > 0
    assert page.next == raw_page["next"]
    for item, raw_item in zip(page.items, raw_page["items"], strict=True):
        obj = getattr(item, "track", item)
        raw_obj = raw_item.get("track", raw_item)
        assert obj.id == raw_obj["id"]
        artists = getattr(obj, "artists", [])
        assert [a.id for a in artists] == [a["id"] for a in raw_obj.get("artists", [])]


@pytest.mark.parametrize("name", sorted(p.name for p in RESPONSES.glob("data__follow__*.json")))
def test_followed_artists_pages_parse(name: str) -> None:
    raw = load(name)["artists"]
    page = FollowedArtistsPage.from_response(load(name))
    assert [a.id for a in page.items] == [a["id"] for a in raw["items"]]
    assert page.cursors is not None
    assert page.cursors.after == raw["cursors"]["after"]
    assert page.total == raw["total"]


def test_followed_artists_without_wrapper_is_rejected() -> None:
    with pytest.raises(ValueError, match="artists"):
        FollowedArtistsPage.from_response(load("data__follow__GetUsersFollowedArtistsRequest.json")
                                          ["artists"])


def test_recently_played_keeps_milliseconds_and_null_context() -> None:
    raw = load("data__player__GetCurrentUsersRecentlyPlayedTracksRequest.json")
    page = RecentlyPlayedPage.model_validate(raw)
    for item, raw_item in zip(page.items, raw["items"], strict=True):
        expected = datetime.fromisoformat(raw_item["played_at"].replace("Z", "+00:00"))
        assert item.played_at == expected
        assert item.played_at.tzinfo is not None
        assert item.played_at.utcoffset() == UTC.utcoffset(None)
        assert (item.context is None) == (raw_item["context"] is None)
    assert page.cursors is not None
    assert page.cursors.before == raw["cursors"]["before"]


def test_full_objects_keep_extended_quota_fields_when_present() -> None:
    raw = load("data__artists__GetArtistRequest.json")
    artist = Artist.model_validate(raw)
    assert artist.genres == raw["genres"]
    assert artist.popularity == raw["popularity"]
    assert artist.followers is not None and artist.followers.total == raw["followers"]["total"]
    album_raw = load("data__albums__GetAlbumRequest.json")
    album = Album.model_validate(album_raw)
    assert album.external_ids is not None
    assert album.external_ids.upc == album_raw["external_ids"]["upc"]
    assert album.tracks is not None and album.tracks.total == album_raw["tracks"]["total"]
    track_raw = load("data__tracks__GetTrackRequest.json")
    track = Track.model_validate(track_raw)
    assert track.external_ids is not None
    assert track.external_ids.isrc == track_raw["external_ids"]["isrc"]
    assert track.album is not None and track.album.id == track_raw["album"]["id"]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("data__artists__GetArtistRequest.json", Artist),
        ("data__tracks__GetTrackRequest.json", Track),
        ("data__albums__GetAlbumRequest.json", Album),
        ("data__personalization__simplified__GetUsersTopArtistsRequest.json", Paging[Artist]),
        ("data__personalization__simplified__GetUsersTopTracksRequest.json", Paging[Track]),
        ("data__player__GetCurrentUsersRecentlyPlayedTracksRequest.json", RecentlyPlayedPage),
    ],
)
def test_dev_mode_bodies_parse_with_removed_fields_as_none(name: str, model: Any) -> None:
    raw = strip(load(name), DEV_MODE_REMOVED)
    parsed = model.model_validate(raw)
    objects = [parsed] if not hasattr(parsed, "items") else [
        getattr(i, "track", i) for i in parsed.items
    ]
    for obj in objects:
        assert getattr(obj, "popularity", None) is None
        assert getattr(obj, "genres", None) is None
        assert getattr(obj, "followers", None) is None
        assert getattr(obj, "label", None) is None


def test_reported_2026_top_artist_item_parses() -> None:
    """Live 2026 /me/top/artists items carry only these keys (spotify.md §2)."""
    raw = load("data__personalization__simplified__GetUsersTopArtistsRequest.json")["items"][0]
    kept = {k: raw[k] for k in ("external_urls", "href", "id", "images", "name", "type", "uri")}
    artist = Artist.model_validate(kept)
    assert (artist.id, artist.genres, artist.popularity) == (raw["id"], None, None)


def test_unknown_new_fields_are_ignored() -> None:
    raw = copy.deepcopy(load("data__tracks__GetTrackRequest.json"))
    raw["brand_new_field"] = {"nested": [1, 2]}
    raw["album"]["another_new_field"] = "x"
    track = Track.model_validate(raw)
    assert track.id == raw["id"]
    assert not hasattr(track, "brand_new_field")


def test_local_file_playlist_item_parses_without_ids() -> None:
    raw = load("legacy__playlist-localfiles-response.json")
    playlist = Playlist.model_validate(raw)
    assert playlist.items is not None
    raw_item = raw["tracks"]["items"][0]
    item = playlist.items.items[0]
    assert item.is_local is raw_item["is_local"] is True
    assert item.track is not None
    assert item.track.id is None
    assert item.track.uri == raw_item["track"]["uri"]
    assert item.track.uri.startswith("spotify:local:")
    assert item.track.album is not None and item.track.album.album_type is None
    assert [a.name for a in item.track.artists] == [a["name"] for a in raw_item["track"]["artists"]]


def test_2026_playlist_items_shape_parses() -> None:
    """Since Feb 2026 a playlist names its entries `items` and each entry's object `item`."""
    raw = load("legacy__playlist-localfiles-response.json")
    entries = [
        {k if k != "track" else "item": v for k, v in entry.items()}
        for entry in raw["tracks"]["items"]
    ]
    body = {k: v for k, v in raw.items() if k != "tracks"}
    body["items"] = {**raw["tracks"], "items": entries}
    playlist = Playlist.model_validate(body)
    assert playlist.items is not None
    assert playlist.items.items[0].track is not None
    assert playlist.items.items[0].track.name == entries[0]["item"]["name"]


def test_fresh_playlist_with_items_reference_parses() -> None:
    body = {"id": "abc", "name": "Radar", "description": None, "public": False,
            "items": {"href": "http://x/v1/playlists/abc/items", "total": 0}}
    playlist = Playlist.model_validate(body)
    assert playlist.items is not None
    assert playlist.items.total == 0 and playlist.items.items == []


def test_user_profile_dev_mode_and_account_id() -> None:
    profile = UserProfile.model_validate(
        {"id": "demo_heavy", "display_name": "Heavy", "account_id": "aB3dE5fG7h",
         "type": "user", "uri": "spotify:user:demo_heavy"}
    )
    assert profile.account_id == "aB3dE5fG7h"
    assert profile.country is None and profile.product is None
    older = UserProfile.model_validate({"id": "x", "display_name": None, "country": "SE"})
    assert older.account_id is None and older.country == "SE"


def test_missing_required_fields_fail_loudly() -> None:
    raw = load("data__tracks__GetTrackRequest.json")
    with pytest.raises(ValidationError):
        Track.model_validate({k: v for k, v in raw.items() if k != "name"})
    played = load("data__player__GetCurrentUsersRecentlyPlayedTracksRequest.json")
    bad = copy.deepcopy(played)
    bad["items"][0]["played_at"] = "yesterday"
    with pytest.raises(ValidationError):
        RecentlyPlayedPage.model_validate(bad)
