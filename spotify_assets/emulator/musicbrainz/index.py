"""The world as MusicBrainz sees it: `MbIndex` holds every MusicBrainz entity of a world (true
ones and decoys), the release groups derived from releases, ISRC and barcode maps, tracklists
and track counts, and search postings over `fold`ed (accent- and case-insensitive) text.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from unidecode import unidecode

# --- the world as MusicBrainz sees it ------------------------------------------------------------


def fold(text: str) -> str:
    """Accent- and case-insensitive words, like the search server's analysed fields."""
    return " ".join(re.sub(r"[\W_]+", " ", unidecode(text or "").lower()).split())


@dataclass
class ReleaseGroup:
    mbid: str
    title: str
    type: str
    artist_mbids: tuple[str, ...]
    first_release_date: str
    release_mbids: list[str]


@dataclass
class MbIndex:
    """Every MusicBrainz entity of a world (true ones and decoys), with search postings."""

    artists: dict[str, Any] = field(default_factory=dict)
    recordings: dict[str, Any] = field(default_factory=dict)
    releases: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, ReleaseGroup] = field(default_factory=dict)
    by_isrc: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_barcode: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    release_tracks: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # Total tracks per release. MusicBrainz tracklists are complete, but the world lists only
    # the recordings that exist in MusicBrainz, so the count comes from the Spotify album.
    track_counts: dict[str, int] = field(default_factory=dict)
    folded: dict[tuple[str, str], str] = field(default_factory=dict)
    postings: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def build(cls, world: Any) -> MbIndex:
        index = cls()
        decoys = world.mb_decoys.values() if isinstance(world.mb_decoys, dict) else world.mb_decoys
        entities = [a.mb for a in world.artists.values() if a.mb is not None]
        entities += [t.mb for t in world.tracks.values() if t.mb is not None]
        entities += [a.mb for a in world.albums.values() if a.mb is not None]
        for entity in [*entities, *decoys]:
            index.add(entity)
        for album in world.albums.values():
            if album.mb is not None:
                index.track_counts[album.mb.mbid] = len(album.track_ids)
        index.finish()
        return index

    def track_count(self, release: Any) -> int:
        """Tracks on a release: the Spotify album's count, else a stable plausible number."""
        if release.mbid in self.track_counts:
            return self.track_counts[release.mbid]
        listed = len(self.release_tracks.get(release.mbid, ()))
        if listed or (release.release_group_type or "").lower() in ("single", "ep"):
            return max(listed, 1)
        return 8 + int(release.mbid[:2], 16) % 7

    def add(self, entity: Any) -> None:
        if hasattr(entity, "isrcs"):
            if entity.mbid in self.recordings:
                return
            self.recordings[entity.mbid] = entity
            for code in entity.isrcs:
                self.by_isrc[code].append(entity.mbid)
        elif hasattr(entity, "release_group_mbid"):
            if entity.mbid not in self.releases:
                self.releases[entity.mbid] = entity
                self.release_tracks[entity.mbid] = list(getattr(entity, "recording_mbids", ()))
        elif hasattr(entity, "sort_name"):
            self.artists.setdefault(entity.mbid, entity)
        else:
            raise TypeError(f"not a MusicBrainz entity: {type(entity).__name__}")

    def finish(self) -> None:
        """Derive release-groups and barcodes, then index every searchable text."""
        for release in sorted(self.releases.values(), key=lambda r: (r.date or "9999", r.mbid)):
            if release.barcode:
                self.by_barcode[release.barcode].append(release.mbid)
            group = self.groups.get(release.release_group_mbid)
            if group is None:
                title = getattr(release, "release_group_title", "") or release.title
                self.groups[release.release_group_mbid] = ReleaseGroup(
                    release.release_group_mbid,
                    title,
                    release.release_group_type,
                    tuple(release.artist_mbids),
                    release.date or "",
                    [release.mbid],
                )
            else:
                group.release_mbids.append(release.mbid)
        for rec_mbid, rec in self.recordings.items():
            # Releases that list a recording without the release being in its tracklist.
            for release_mbid in rec.release_mbids:
                tracks = self.release_tracks.get(release_mbid)
                if tracks is not None and rec_mbid not in tracks:
                    tracks.append(rec_mbid)
        for mbid, artist in self.artists.items():
            self._index_text("artist", mbid, "artist", artist.name)
            self._index_text("artist", mbid, "sortname", artist.sort_name)
        for mbid, rec in self.recordings.items():
            self._index_text("recording", mbid, "recording", rec.title)
            self._index_text("recording", mbid, "artist", self.credit_phrase(rec.artist_mbids))
        for mbid, rel in self.releases.items():
            self._index_text("release", mbid, "release", rel.title)
            self._index_text("release", mbid, "artist", self.credit_phrase(rel.artist_mbids))
        for mbid, group in self.groups.items():
            self._index_text("release-group", mbid, "releasegroup", group.title)
            self._index_text(
                "release-group", mbid, "artist", self.credit_phrase(group.artist_mbids)
            )

    def _index_text(self, entity: str, mbid: str, fieldname: str, text: str) -> None:
        folded = fold(text)
        self.folded[(mbid, fieldname)] = folded
        for word in folded.split():
            self.postings[(entity, word)].add(mbid)

    def credit_phrase(self, artist_mbids: Sequence[str]) -> str:
        names = [self.artists[m].name for m in artist_mbids if m in self.artists]
        return " & ".join(names)
