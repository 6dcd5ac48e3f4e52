"""An artist's discography from `GET /artists/{id}/albums`, paging only as far as needed.

Spotify's order (checked in spotify/web-api#1002 and #1431, in the recorded fixture
`data__artists__GetArtistsAlbumsRequest.json`, whose `single` page runs 2019-08-23, 2019-06-14,
and in the emulator): the items are grouped by `album_group` (album, single, compilation,
appears_on: each group one contiguous run) and newest first *inside* a group; the list as a
whole is not by date. So a new single sits after all of an artist's albums, and a plain "stop at
the first old item" would miss it. Development mode also strips `album_group`; it is inferred:
`appears_on` when the artist is not among the album's artists, else the album's `album_type`.

One request stream (`include_groups=album,single,compilation,appears_on`, 10 per page):
- First fetch of an artist (nothing known): every page (`full`).
- Later fetches (`incremental`): each group's head is read until an item strictly older than
  the newest release we already have in that group; the rest of that group is skipped by
  jumping to its predicted end (last fetch's group size + the new items just seen). The jump is
  verified with the page that starts one item before the predicted end (its first item must
  still be in the group, its second in another group): it also carries the next group's head.
  A group with nothing known yet is read to its end. A wrong prediction (something removed, or
  an old-dated item added) means that group is read on item by item: slower, not lossy. (Only a
  removal and an older-dated addition in the same group in the same week cancel out unseen.)
- If the order is not as described (a group appearing twice, or an item newer than the one
  before it in its group), everything is read (`full_unordered`).
Pages read are kept by position, so no position is ever requested twice in one fetch. Partial
dates ("2026-03", "1987") compare as the range of days they cover: only a certain difference
counts as newer or older.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from spotify_assets.lib.spotify.models import SimplifiedAlbum

if TYPE_CHECKING:
    from spotify_assets.lib.spotify.client import SpotifyClient

GROUPS = ("album", "single", "compilation", "appears_on")
_UNKNOWN = (date.min, date.max)


@dataclass(frozen=True)
class KnownDiscography:
    """What earlier fetches saw of one artist's listing."""

    album_ids: frozenset[str]
    newest: Mapping[str, str]  # group -> newest release_date seen in it
    group_sizes: Mapping[str, int]  # group -> items the last fetch found in it


@dataclass(frozen=True)
class Listed:
    album: SimplifiedAlbum
    group: str
    position: int


@dataclass
class DiscographyFetch:
    artist_id: str
    listed: list[Listed]  # every item read, in listing order
    total: int
    requests: int
    mode: str  # full | incremental | full_unordered
    group_sizes: dict[str, int] = field(default_factory=dict)
    page_offsets: list[int] = field(default_factory=list)
    predictions_missed: int = 0

    @property
    def ordered(self) -> bool:
        """Whether what was read is grouped and newest first inside each group."""
        return is_ordered(self.listed)


def is_ordered(listed: list[Listed]) -> bool:
    groups: list[str] = []
    for previous, item in zip([None, *listed], listed, strict=False):
        if previous is None or previous.group != item.group:
            if item.group in groups:
                return False
            groups.append(item.group)
        elif surely_older(previous.album.release_date, item.album.release_date):
            return False
    return True


def date_span(text: str | None) -> tuple[date, date]:
    """First and last day a "YYYY[-MM[-DD]]" release date can mean; unknown: all of time."""
    parts = (text or "").split("-")
    try:
        year = int(parts[0])
        if len(parts) == 1:
            return date(year, 1, 1), date(year, 12, 31)
        month = int(parts[1])
        if len(parts) == 2:
            following = date(year + month // 12, month % 12 + 1, 1)
            return date(year, month, 1), date.fromordinal(following.toordinal() - 1)
        day = date(year, month, int(parts[2]))
        return day, day
    except (ValueError, IndexError):
        return _UNKNOWN


def surely_older(text: str | None, than: str | None) -> bool:
    """True when every day `text` can mean is before every day `than` can mean."""
    return date_span(text)[1] < date_span(than)[0]


def group_of(album: SimplifiedAlbum, artist_id: str) -> str:
    """The album's `album_group` for this artist, inferred when dev mode leaves it out."""
    if album.album_group:
        return album.album_group.lower()
    if artist_id not in [a.id for a in album.artists]:
        return "appears_on"
    kind = (album.album_type or "album").lower()
    return kind if kind in GROUPS else "album"


class _Reader:
    """Items of one artist's listing by position; fetches a page at the first missing one."""

    def __init__(self, client: SpotifyClient, user_id: str, artist_id: str) -> None:
        self.client, self.user_id, self.artist_id = client, user_id, artist_id
        self.items: dict[int, Listed] = {}
        self.offsets: list[int] = []
        self.total = 0
        self.read(0)

    def read(self, position: int) -> Listed | None:
        if position >= self.total and self.offsets:
            return None
        if position not in self.items:
            page = self.client.artist_albums_page(self.user_id, self.artist_id, GROUPS, position)
            self.offsets.append(position)
            self.total = page.total if page.total is not None else position + len(page.items)
            for index, album in enumerate(page.items, start=position):
                self.items.setdefault(index, Listed(album, group_of(album, self.artist_id), index))
        return self.items.get(position)


class _Unordered(Exception):
    """The listing is not grouped and newest-first as assumed."""


def fetch_discography(
    client: SpotifyClient, user_id: str, artist_id: str, known: KnownDiscography | None = None
) -> DiscographyFetch:
    """Read the artist's listing as far as needed (rules in the module docstring)."""
    reader = _Reader(client, user_id, artist_id)
    if known is not None:
        try:
            return _incremental(reader, known)
        except _Unordered:
            return _full(reader, "full_unordered")
    return _full(reader, "full")


def _full(reader: _Reader, mode: str) -> DiscographyFetch:
    listed = [item for p in range(reader.total) if (item := reader.read(p)) is not None]
    sizes: dict[str, int] = {}
    for item in listed:
        sizes[item.group] = sizes.get(item.group, 0) + 1
    return DiscographyFetch(reader.artist_id, listed, reader.total, len(reader.offsets), mode,
                            sizes, list(reader.offsets))


def _check_order(previous: Listed | None, item: Listed) -> None:
    if previous is not None and surely_older(previous.album.release_date, item.album.release_date):
        raise _Unordered(f"{item.album.id} is newer than the item before it")


def _incremental(reader: _Reader, known: KnownDiscography) -> DiscographyFetch:
    listed: list[Listed] = []
    sizes: dict[str, int] = {}
    missed = 0
    position = 0
    while (head := reader.read(position)) is not None:
        group, start = head.group, position
        if group in sizes:
            raise _Unordered(f"group {group} appears twice")
        watermark = known.newest.get(group)
        predicted = known.group_sizes.get(group)
        new = 0
        previous: Listed | None = None
        while (item := reader.read(position)) is not None and item.group == group:
            _check_order(previous, item)
            listed.append(item)
            new += item.album.id not in known.album_ids
            previous = item
            position += 1
            if watermark is None or predicted is None:
                continue
            if not surely_older(item.album.release_date, watermark):
                continue
            end = start + predicted + new
            if end > position and _ends_at(reader, group, end):
                position = end
                break
            # The prediction does not hold here (or says the group is over while it is not):
            # read this group item by item.
            missed += 1
            predicted = None
        sizes[group] = position - start
    return DiscographyFetch(reader.artist_id, listed, reader.total, len(reader.offsets),
                            "incremental", sizes, list(reader.offsets), missed)


def _ends_at(reader: _Reader, group: str, end: int) -> bool:
    """Whether the group's last item is at `end - 1` (the next item is another group's)."""
    last = reader.read(end - 1)
    if last is None or last.group != group:
        return False
    following = reader.read(end)
    return following is None or following.group != group
