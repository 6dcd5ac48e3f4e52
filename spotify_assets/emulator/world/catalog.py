"""Catalogue construction, part 3: `_Catalog`, the complete builder, and its MusicBrainz side.

`_Catalog` extends `_CatalogReleases` (catalog_releases.py, on `_CatalogBase` in
catalog_base.py) with the MusicBrainz ground truth (artists, releases and recordings, some
missing or spelled differently) and the decoys a careless matcher would take.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import date

from spotify_assets.emulator.world.catalog_base import _ArtistSeed, _Release
from spotify_assets.emulator.world.catalog_releases import _CatalogReleases
from spotify_assets.emulator.world.models import MbArtist, MbRecording, MbRelease
from spotify_assets.emulator.world.names import EXTRA_TAGS, GENRES, MB_COUNTRY, PARENT_GENRE
from spotify_assets.emulator.world.util import _by_votes, mbid, strip_accents


class _Catalog(_CatalogReleases):
    """Builds artists, releases, MusicBrainz truth, decoys, shows and the users' tastes."""

    # MusicBrainz truth -------------------------------------------------------------------------
    def build_musicbrainz(self) -> None:
        rng = self.mb_rng
        for seed in self.seeds:
            roll = rng.random()
            seed.mb_status = "absent" if roll < 0.04 else "variant" if roll < 0.12 else "exact"
            if seed.mb_status != "absent":
                seed.mb = self._mb_artist(seed, rng)
        for release in self.releases:
            if self.seeds[release.artist].mb is None:
                release.mb_status = "absent"
                continue
            roll = rng.random()
            release.mb_status = (
                "absent"
                if roll < 0.07
                else "name"
                if roll < 0.17
                else "barcode_no_leading_zeros"
                if roll < 0.27
                else "barcode"
            )
            release.upc = self.new_upc(
                leading_zero=release.mb_status == "barcode_no_leading_zeros" or rng.random() < 0.12
            )
        for release in self.releases:
            if not release.upc:
                release.upc = self.new_upc(leading_zero=rng.random() < 0.15)
        first_release: dict[int, _Release] = {}
        for release in self.releases:
            for song, _, _ in release.entries:
                first_release.setdefault(song.index, release)
        for song in self.songs:
            if (
                self.seeds[song.artist].mb is None
                or first_release[song.index].mb_status == "absent"
            ):
                song.mb_status = "absent"
            else:
                song.mb_status = "name" if rng.random() < 0.11 else "isrc"
        self._mb_releases(rng)
        self._mb_recordings(rng)

    def _mb_artist(self, seed: _ArtistSeed, rng: random.Random) -> MbArtist:
        name = seed.name
        if seed.mb_status == "variant":
            if " & " in name:
                name = name.replace(" & ", " and ")
            elif strip_accents(name) != name:
                name = strip_accents(name)
            elif name.startswith("The "):
                name = name[4:]
        if seed.person and " " in name and seed.culture not in ("ja",):
            first, last = name.rsplit(" ", 1)
            sort_name = f"{last}, {first}"
        elif name.startswith("The "):
            sort_name = f"{name[4:]}, The"
        else:
            sort_name = name
        tags: list[tuple[str, int]] = []
        genres: list[tuple[str, int]] = []
        if rng.random() >= 0.1:  # ~10% of MB artists carry no tags at all
            for genre in seed.genres:
                count = rng.randint(1, 12)
                tags.append((genre, count))
                genres.append((genre, count))
                parent = PARENT_GENRE[genre]
                if parent != genre and all(parent != g for g, _ in genres):
                    genres.append((parent, max(1, count // 2)))
                    tags.append((parent, max(1, count // 2)))
            if rng.random() < 0.5:
                tags.append((rng.choice(EXTRA_TAGS), rng.randint(1, 4)))
        return MbArtist(
            mbid=mbid(rng),
            name=name,
            sort_name=sort_name,
            tags=tuple(sorted(tags, key=_by_votes)),
            genres=tuple(sorted(genres, key=_by_votes)),
            artist_type="Person" if seed.person else "Group",
            country=MB_COUNTRY[seed.culture],
        )

    @staticmethod
    def mb_title_variant(title: str) -> str:
        """How MusicBrainz might spell a title a little differently from Spotify."""
        if strip_accents(title) != title:
            return strip_accents(title)
        if " & " in title:
            return title.replace(" & ", " and ")
        if "'" in title:
            return title.replace("'", "\u2019")
        words = title.split(" ")
        if len(words) > 1 and title.isascii():
            small = {"the", "of", "me"}
            return " ".join(
                [words[0]] + [w.capitalize() if w in small else w.lower() for w in words[1:]]
            )
        return title

    def _mb_releases(self, rng: random.Random) -> None:
        for release in self.releases:
            if release.mb_status == "absent":
                continue
            assert release.date is not None
            seed = self.seeds[release.artist]
            assert seed.mb is not None
            base = release.base
            if base is not None and base.rg_mbid:
                release.rg_mbid = base.rg_mbid
            else:
                release.rg_mbid = mbid(rng)
            title = base.name if base is not None else release.name
            if release.mb_status == "name":
                title = self.mb_title_variant(title)
            barcode = {
                "barcode": release.upc,
                "barcode_no_leading_zeros": release.upc.lstrip("0"),
                "name": None,
            }[release.mb_status]
            release.mb = MbRelease(
                mbid=mbid(rng),
                title=title,
                release_group_mbid=release.rg_mbid,
                release_group_type=self._rg_type(release),
                barcode=barcode,
                artist_mbids=(seed.mb.mbid,),
                date=release.date.isoformat(),
                release_group_title=base.name if base is not None else release.name,
                country=seed.mb.country,
            )

    @staticmethod
    def _rg_type(release: _Release) -> str:
        if release.kind == "compilation":
            return "Compilation"
        if release.kind == "single":
            return "Single"
        if release.kind == "ep":
            return "EP"
        if release.base is not None:
            return _Catalog._rg_type(release.base)
        return "Album"

    def _mb_recordings(self, rng: random.Random) -> None:
        releases_of: dict[int, list[str]] = {}
        for release in self.releases:
            if release.mb is not None:
                for song, _, _ in release.entries:
                    releases_of.setdefault(song.index, []).append(release.mb.mbid)
        for song in self.songs:
            if song.mb_status == "absent":
                continue
            credit = [self.seeds[song.artist].mb]
            credit += [self.seeds[f].mb for f in song.feats]
            title = song.title if song.mb_status == "isrc" else self.mb_title_variant(song.title)
            isrcs = (song.isrc, *song.remaster_isrcs) if song.mb_status == "isrc" else ()
            song.mb = MbRecording(
                mbid=mbid(rng),
                title=title,
                artist_mbids=tuple(a.mbid for a in credit if a is not None),
                length_ms=song.length_ms + rng.randint(-1500, 1500),
                isrcs=isrcs,
                release_mbids=tuple(releases_of.get(song.index, ())),
            )
        for release in self.releases:
            if release.mb is not None:
                recordings = tuple(s.mb.mbid for s, _, _ in release.entries if s.mb is not None)
                release.mb = dataclasses.replace(release.mb, recording_mbids=recordings)

    # decoys ---------------------------------------------------------------------------------
    def build_decoys(self) -> list[MbArtist | MbRecording | MbRelease]:
        """Look-alikes that must NOT be matched: similar artist names, same titles."""
        rng = random.Random(f"{self.config.seed}:decoys")
        decoys: list[MbArtist | MbRecording | MbRelease] = []
        lookalike: dict[int, MbArtist] = {}
        for seed in self.seeds:
            if rng.random() < 0.12 or (seed.mb is None and rng.random() < 0.6):
                other = rng.choice(self.seeds)
                lookalike[seed.index] = MbArtist(
                    mbid=mbid(rng),
                    name=self._similar_name(seed.name, rng),
                    sort_name=self._similar_name(seed.name, rng),
                    tags=((rng.choice(GENRES[other.culture]), rng.randint(1, 5)),),
                    genres=((rng.choice(GENRES[other.culture]), rng.randint(1, 5)),),
                    artist_type="Group",
                    country=MB_COUNTRY[other.culture],
                    disambiguation="not the one you think",
                )
                decoys.append(lookalike[seed.index])
        real_mb = [s.mb for s in self.seeds if s.mb is not None]
        serial = itertools.count(1)
        for song in self.songs:
            chance = 0.5 if song.mb_status != "isrc" else 0.08
            if rng.random() >= chance:
                continue
            seed = self.seeds[song.artist]
            roll = rng.random()
            if roll < 0.4 and song.artist in lookalike:
                artist, title, note = lookalike[song.artist], song.title, ""
            elif roll < 0.75 or seed.mb is None:
                artist = rng.choice(real_mb)
                if seed.mb is not None and artist.mbid == seed.mb.mbid:
                    continue
                title, note = song.title, ""
            else:
                artist, title, note = seed.mb, song.title, "live"
            isrc = (
                (f"QZDCY{(self.end.year - 1) % 100:02d}{next(serial):05d}",)
                if rng.random() < 0.4
                else ()
            )
            release_mbid = mbid(rng)
            recording = MbRecording(
                mbid=mbid(rng),
                title=title,
                artist_mbids=(artist.mbid,),
                length_ms=song.length_ms + rng.choice((-1, 1)) * rng.randint(20_000, 60_000),
                isrcs=isrc,
                release_mbids=(release_mbid,),
                disambiguation=note,
            )
            decoys.append(recording)
            decoys.append(
                MbRelease(
                    mbid=release_mbid,
                    title=f"{title} (Live)" if note else title,
                    release_group_mbid=mbid(rng),
                    release_group_type="Single",
                    barcode=None,
                    artist_mbids=(artist.mbid,),
                    date=date(
                        rng.randint(1990, self.end.year - 1), rng.randint(1, 12), rng.randint(1, 28)
                    ).isoformat(),
                    recording_mbids=(recording.mbid,),
                    release_group_title=title,
                    country=artist.country,
                )
            )
        for release in self.releases:
            if release.kind not in ("album", "compilation") or rng.random() >= 0.08:
                continue
            artist = rng.choice(real_mb)
            if release.mb is not None and artist.mbid in release.mb.artist_mbids:
                continue
            decoys.append(
                MbRelease(
                    mbid=mbid(rng),
                    title=release.name,
                    release_group_mbid=mbid(rng),
                    release_group_type="Album",
                    barcode=self.new_upc(rng.random() < 0.2),
                    artist_mbids=(artist.mbid,),
                    date=f"{rng.randint(1975, self.end.year - 1)}-06-01",
                    release_group_title=release.name,
                    country=artist.country,
                )
            )
        return decoys

    @staticmethod
    def _similar_name(name: str, rng: random.Random) -> str:
        if name.startswith("The "):
            return name[4:]
        if name.endswith("s") and name.isascii():
            return name[:-1]
        if not name.isascii() and strip_accents(name) == name:
            return name + rng.choice((" Project", " Band", "!"))
        if len(name) > 4:
            i = rng.randrange(1, len(name) - 2)
            if name[i] != " " and name[i + 1] != " ":
                return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        return name + " Band"
