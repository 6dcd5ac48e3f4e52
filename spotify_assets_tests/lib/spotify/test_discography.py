"""`fetch_discography`: an artist's albums paged only as far as needed, on an emulator whose world
has big discographies (12 artists, 900 tracks), with the emulator clock moving releases in.

Covers: a first fetch reads every page; a later fetch finds every new release (single and
appears_on heads, after the album group) with the pages the layout needs; a wrong size
prediction and a 429 in the middle lose nothing; the recorded real Spotify page and partial
dates; an unordered listing falls back to reading everything. Expected ids come from the world's
albums and release days, pages from the world's group sizes.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from spotify_assets.emulator.server import EmulatorHandle, running_emulator
from spotify_assets.emulator.world import World, WorldConfig
from spotify_assets.lib.settings import EMULATOR_CLIENT_ID, load_settings
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets.lib.spotify.discography import (
    GROUPS,
    DiscographyFetch,
    KnownDiscography,
    date_span,
    fetch_discography,
    group_of,
    surely_older,
)
from spotify_assets.lib.spotify.models import Paging, SimplifiedAlbum
from spotify_assets_tests.lib.spotify.conftest import FakeTime, MemoryTokenStore, authorize

ALBUMS = "GET /v1/artists/{id}/albums"
USER = "demo_light"
BIG_WORLD = WorldConfig(
    seed=3, days=3, n_artists=12, n_tracks=900, end=datetime(2026, 3, 10, 12, tzinfo=UTC)
)
RECORDED = Path(__file__).parent / "recorded" / "data__artists__GetArtistsAlbumsRequest.json"


@dataclass
class Big:
    handle: EmulatorHandle
    client: SpotifyClient
    time: FakeTime

    @property
    def world(self) -> World:
        return self.handle.state.world

    def at(self, day: str) -> None:
        """Move the emulator to `day`; the client's clock moves on too, so it takes a fresh
        access token (one issued on another emulator day would be answered 401)."""
        self.handle.state.clock.set(datetime.fromisoformat(day).replace(tzinfo=UTC))
        self.time.advance(7200)
        self.handle.state.reset_request_counts()

    def requests(self) -> int:
        return self.handle.state.request_counts_snapshot().get(ALBUMS, 0)


@pytest.fixture(scope="module")
def big_emulator() -> Iterator[EmulatorHandle]:
    with running_emulator(BIG_WORLD) as handle:
        yield handle


@pytest.fixture
def big(big_emulator: EmulatorHandle, tmp_path: Path) -> Iterator[Big]:
    big_emulator.state.reset()
    settings = load_settings(
        mode="emulator",
        data_dir=tmp_path / "data",
        emulator_port=big_emulator.port,
        spotify_api_url=big_emulator.base_url,
        spotify_accounts_url=big_emulator.base_url,
        musicbrainz_url=big_emulator.base_url,
        spotify_client_id=EMULATOR_CLIENT_ID,
    )
    store = MemoryTokenStore()
    store.tokens[USER] = authorize(settings, USER).refresh_token or ""
    fake = FakeTime()
    client = SpotifyClient(
        settings, store, sleep=fake.sleep, clock=fake.clock, rng=random.Random(1)
    )
    yield Big(big_emulator, client, fake)
    client.close()
    big_emulator.state.reset()


def listing(world: World, artist: str, day: str) -> list[tuple[str, str]]:
    """(group, album id) of what is out on `day`: the artist's own albums by type, then the
    albums of others crediting them (appears_on); the truth the order checks compare with."""
    own = [(world.albums[a].album_type, a) for a in world.artist_album_ids[artist]]
    guest = [("appears_on", a) for a in world.appears_on(artist)]
    return [(g, a) for g, a in own + guest if world.albums[a].release_date <= day]


def known_from(fetch: DiscographyFetch) -> KnownDiscography:
    newest: dict[str, str] = {}
    for item in fetch.listed:
        when = item.album.release_date or ""
        if date_span(when)[1] > date_span(newest.get(item.group))[1] or item.group not in newest:
            newest[item.group] = when
    return KnownDiscography(
        frozenset(i.album.id for i in fetch.listed), newest, dict(fetch.group_sizes)
    )


def artist_with_news_after_the_albums(world: World) -> str:
    """The artist whose new single and new appears_on came out between 02-25 and 03-09."""
    for artist in sorted(world.artists):
        now = listing(world, artist, "2026-03-09")
        new = [(g, a) for g, a in now if world.albums[a].release_date > "2026-02-25"]
        groups = {g for g, _ in now}
        if {"single", "appears_on"} <= {g for g, _ in new} and "album" in groups and len(now) > 20:
            return artist
    raise AssertionError("the big world should have such an artist")


def test_first_fetch_reads_every_page(big: Big) -> None:
    big.at("2026-02-25")
    artist = artist_with_news_after_the_albums(big.world)
    truth = listing(big.world, artist, "2026-02-25")

    fetched = fetch_discography(big.client, USER, artist)

    assert fetched.mode == "full" and fetched.ordered
    assert sorted(i.album.id for i in fetched.listed) == sorted(a for _, a in truth)
    assert {i.album.id: i.group for i in fetched.listed} == {a: g for g, a in truth}
    assert big.requests() == fetched.requests == math.ceil(len(truth) / 10)


def test_a_later_fetch_finds_every_new_release_with_the_pages_the_layout_needs(big: Big) -> None:
    artist = artist_with_news_after_the_albums(big.world)
    big.at("2026-02-25")
    known = known_from(fetch_discography(big.client, USER, artist))
    big.at("2026-03-09")
    now = listing(big.world, artist, "2026-03-09")
    new = {a for g, a in now if a not in known.album_ids}

    fetched = fetch_discography(big.client, USER, artist, known)

    assert new and new <= {i.album.id for i in fetched.listed}
    sizes = {g: sum(1 for x, _ in now if x == g) for g in GROUPS}
    assert fetched.group_sizes == {g: n for g, n in sizes.items() if n}
    # The album group's head is page 0; the singles' end (and appears_on's head) is one page
    # starting one item before it, which reaches the listing's end.
    boundary = sizes["album"] + sizes["single"] + sizes["compilation"]
    assert sizes["album"] < 10 <= boundary - 1 and len(now) - (boundary - 1) <= 10
    assert fetched.page_offsets == [0, boundary - 1]
    assert big.requests() == 2 < math.ceil(len(now) / 10)
    assert fetched.predictions_missed == 0


def test_a_wrong_size_prediction_reads_the_group_item_by_item(big: Big) -> None:
    artist = artist_with_news_after_the_albums(big.world)
    big.at("2026-02-25")
    known = known_from(fetch_discography(big.client, USER, artist))
    # As if one single had been removed since: the predicted end of the singles is one short.
    sizes = {**known.group_sizes, "single": known.group_sizes["single"] - 1}
    big.at("2026-03-09")
    now = listing(big.world, artist, "2026-03-09")

    fetched = fetch_discography(
        big.client, USER, artist, KnownDiscography(known.album_ids, known.newest, sizes)
    )

    assert {a for _, a in now} - known.album_ids <= {i.album.id for i in fetched.listed}
    assert fetched.predictions_missed == 1
    assert len(set(fetched.page_offsets)) == len(fetched.page_offsets)
    assert fetched.group_sizes["single"] == sum(1 for g, _ in now if g == "single")


def test_a_429_in_the_middle_of_paging_loses_nothing_and_repeats_no_page(big: Big) -> None:
    big.at("2026-03-09")
    artist = artist_with_news_after_the_albums(big.world)
    truth = listing(big.world, artist, "2026-03-09")
    big.handle.state.faults.add(
        _rule(
            path=f"/v1/artists/{artist}/albums", kind="rate_limit", retry_after=3, times=1, after=1
        )
    )

    fetched = fetch_discography(big.client, USER, artist)

    assert sorted(i.album.id for i in fetched.listed) == sorted(a for _, a in truth)
    pages = math.ceil(len(truth) / 10)
    assert fetched.page_offsets == [10 * n for n in range(pages)]
    assert big.requests() == pages + 1  # the page answered 429 once, then served
    assert big.time.sleeps == [3]


def _rule(**fields: Any) -> Any:
    from spotify_assets.emulator.faults import FaultRule

    return FaultRule.from_json(fields)


# --- pages nothing but a fake can serve ----------------------------------------------------------


class PagesOf:
    """A stand-in for the client's one-page call over a fixed listing (10 per page)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.offsets: list[int] = []

    def artist_albums_page(self, user_id, artist_id, groups, offset=0) -> Paging[SimplifiedAlbum]:
        self.offsets.append(offset)
        page = self.items[offset : offset + 10]
        return Paging[SimplifiedAlbum].model_validate(
            {
                "items": page,
                "total": len(self.items),
                "offset": offset,
                "limit": 10,
                "next": None if offset + 10 >= len(self.items) else "more",
            }
        )


def _album(ident: str, when: str, artists: list[str], kind: str = "single") -> dict[str, Any]:
    return {
        "id": ident,
        "name": ident,
        "album_type": kind,
        "release_date": when,
        "artists": [{"id": a, "name": a} for a in artists],
    }


def test_the_recorded_spotify_page_is_grouped_and_newest_first() -> None:
    body = json.loads(RECORDED.read_text())
    artist = "1vCWHaC5f2uS3yhpwWbIA6"  # Avicii, from the request URL
    albums = [SimplifiedAlbum.model_validate(i) for i in body["items"]]
    assert [group_of(a, artist) for a in albums] == ["single", "single"]
    assert surely_older(albums[1].release_date, albums[0].release_date)
    # Development mode strips album_group: the same answer infers the same groups.
    stripped = [a.model_copy(update={"album_group": None}) for a in albums]
    assert [group_of(a, artist) for a in stripped] == ["single", "single"]
    guest = stripped[0].model_copy(update={"artists": stripped[0].artists[1:]})
    assert group_of(guest, artist) == "appears_on"


def test_partial_dates_compare_as_the_days_they_cover() -> None:
    assert date_span("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert date_span("1987") == (date(1987, 1, 1), date(1987, 12, 31))
    assert date_span(None) == (date.min, date.max)
    assert not surely_older("2026-03", "2026-03-05") and not surely_older("2026-03-05", "2026-03")
    assert surely_older("2026-02", "2026-03-01") and surely_older("2025", "2026-01")


def test_an_unordered_listing_is_read_whole() -> None:
    artist = "A"
    items = [_album(f"s{n}", f"2020-01-{n + 1:02d}", [artist]) for n in range(25)]  # oldest first
    pages = PagesOf(items)
    known = KnownDiscography(
        frozenset(i["id"] for i in items[:20]), {"single": "2020-01-20"}, {"single": 20}
    )

    fetched = fetch_discography(pages, USER, artist, known)  # type: ignore[arg-type]

    assert fetched.mode == "full_unordered"
    assert [i.album.id for i in fetched.listed] == [i["id"] for i in items]
    assert len(pages.offsets) == len(set(pages.offsets)) == 3  # no page asked twice


def test_a_group_that_shows_up_twice_is_unordered_too() -> None:
    items = [
        _album("s1", "2021-01-01", ["A"]),
        _album("x1", "2020-01-01", ["B"]),
        _album("s2", "2019-01-01", ["A"]),
    ]
    known = KnownDiscography(frozenset(), {}, {})
    fetched = fetch_discography(PagesOf(items), USER, "A", known)  # type: ignore[arg-type]
    assert fetched.mode == "full_unordered" and len(fetched.listed) == 3
