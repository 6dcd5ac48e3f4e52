"""Catalogue construction, part 1: the mutable scratch objects and the builder's base.

`_ArtistSeed`, `_Song` and `_Release` are mutable while the catalogue is built; `World` freezes
them into the public models at the end. `_CatalogBase` holds the builder's state and makes
Spotify ids, ISRCs, UPCs, the artists and the demo users' tastes. `_CatalogReleases`
(catalog_releases.py) adds the releases and `_Catalog` (catalog.py) the MusicBrainz side.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from spotify_assets.emulator.world.models import (
    BASE62,
    MbArtist,
    MbRecording,
    MbRelease,
    WorldConfig,
)
from spotify_assets.emulator.world.names import (
    ACC_FIRST,
    ACC_LAST,
    ACC_SOLO,
    CULTURE_WEIGHTS,
    CULTURES,
    EN_ADJ,
    EN_NOUN,
    FIRST,
    GENRES,
    ISRC_COUNTRIES,
    JA_BAND,
    JA_FAMILY,
    JA_GIVEN,
    JA_WORD,
    LABEL_WORDS,
    LAST,
    RU_BAND,
    RU_FIRST_F,
    RU_FIRST_M,
    RU_LAST_F,
    RU_LAST_M,
)
from spotify_assets.emulator.world.population import user_specs
from spotify_assets.emulator.world.util import spotify_id, upc_check_digit

# --------------------------------------------------------------------------------------------
# Catalogue construction (mutable scratch objects, frozen at the end)
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _ArtistSeed:
    index: int
    id: str
    name: str
    culture: str
    person: bool
    genres: tuple[str, ...]
    popularity: int
    followers: int
    label: str
    isrc_country: str
    registrant: str
    career_start: int
    mb_status: str = "exact"  # exact | variant | absent
    mb: MbArtist | None = None
    titles: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Song:
    index: int
    artist: int
    feats: tuple[int, ...]
    title: str
    length_ms: int
    explicit: bool
    popularity: int = 0
    isrc: str = ""
    remaster_isrcs: list[str] = field(default_factory=list)
    first_date: date | None = None
    mb_status: str = "isrc"  # isrc | name | absent
    mb: MbRecording | None = None


@dataclass(eq=False)
class _Release:
    index: int
    kind: str  # album | single | ep | compilation | deluxe | remaster
    artist: int
    name: str
    entries: list[tuple[_Song, int, bool]]  # (song, disc, remastered)
    base: _Release | None = None
    recent: bool = False
    date: date | None = None
    id: str = ""
    upc: str = ""
    mb_status: str = "barcode"  # barcode | barcode_no_leading_zeros | name | absent
    mb: MbRelease | None = None
    rg_mbid: str = ""


class _CatalogBase:
    """The catalogue builder's state, ids, artists and users' tastes (the whole: `_Catalog`)."""

    def __init__(self, config: WorldConfig) -> None:
        assert config.end is not None
        self.config = config
        self.end = config.end
        self.rng = random.Random(f"{config.seed}:catalog")
        self.id_rng = random.Random(f"{config.seed}:ids")
        self.mb_rng = random.Random(f"{config.seed}:musicbrainz")
        self._used_ids: set[str] = set()
        self._isrc_counter: Counter[tuple[str, str, int]] = Counter()
        self._upcs: set[str] = set()
        self.seeds: list[_ArtistSeed] = []
        self.songs: list[_Song] = []
        self.releases: list[_Release] = []
        self.tastes: dict[str, list[int]] = {}
        self.follows: dict[str, list[int]] = {}

    # ids -----------------------------------------------------------------------------------
    def new_id(self) -> str:
        while True:
            value = spotify_id(self.id_rng)
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def new_isrc(self, seed: _ArtistSeed, year: int) -> str:
        key = (seed.isrc_country, seed.registrant, year % 100)
        self._isrc_counter[key] += 1
        return f"{key[0]}{key[1]}{key[2]:02d}{self._isrc_counter[key]:05d}"

    def new_upc(self, leading_zero: bool) -> str:
        rng = self.rng
        while True:
            if leading_zero:
                zeros = rng.choice((1, 1, 2))
                body = (
                    "0" * zeros
                    + str(rng.randint(1, 9))
                    + "".join(str(rng.randint(0, 9)) for _ in range(10 - zeros))
                )
            else:
                body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(10))
            upc = body + upc_check_digit(body)
            if upc not in self._upcs:
                self._upcs.add(upc)
                return upc

    # artists -------------------------------------------------------------------------------
    def _artist_name(self, culture: str) -> tuple[str, bool]:
        rng = self.rng
        if culture == "en":
            if rng.random() < 0.45:
                return f"{rng.choice(FIRST)} {rng.choice(LAST)}", True
            if rng.random() < 0.5:
                return f"The {rng.choice(EN_ADJ)} {rng.choice(EN_NOUN)}s", False
            return f"{rng.choice(EN_ADJ)} {rng.choice(EN_NOUN)}", False
        if culture == "acc":
            if rng.random() < 0.3:
                return rng.choice(ACC_SOLO), True
            return f"{rng.choice(ACC_FIRST)} {rng.choice(ACC_LAST)}", True
        if culture == "amp":
            if rng.random() < 0.5:
                return f"{rng.choice(FIRST)} & the {rng.choice(EN_NOUN)}s", False
            return f"{rng.choice(LAST)} & {rng.choice(LAST)}", False
        if culture == "ja":
            if rng.random() < 0.55:
                return f"{rng.choice(JA_FAMILY)}{rng.choice(JA_GIVEN)}", True
            return f"{rng.choice(JA_WORD)}{rng.choice(JA_BAND)}", False
        if rng.random() < 0.4:
            return rng.choice(RU_BAND), False
        if rng.random() < 0.5:
            return f"{rng.choice(RU_FIRST_F)} {rng.choice(RU_LAST_F)}", True
        return f"{rng.choice(RU_FIRST_M)} {rng.choice(RU_LAST_M)}", True

    def build_artists(self) -> None:
        rng = self.rng
        names: set[str] = set()
        for index in range(self.config.n_artists):
            culture = rng.choices(CULTURES, weights=CULTURE_WEIGHTS)[0]
            for attempt in itertools.count():
                name, person = self._artist_name(culture if attempt < 30 else "en")
                if attempt >= 60:
                    name = f"{name} {attempt}"
                if name not in names:
                    names.add(name)
                    break
            genres = tuple(rng.sample(GENRES[culture], k=rng.choice((1, 2, 2, 3))))
            popularity = max(5, min(95, int(rng.gauss(45, 18))))
            self.seeds.append(
                _ArtistSeed(
                    index=index,
                    id=self.new_id(),
                    name=name,
                    culture=culture,
                    person=person,
                    genres=genres,
                    popularity=popularity,
                    followers=int(10 ** (2 + popularity / 22) * rng.uniform(0.5, 1.5)),
                    label=f"{rng.choice(EN_ADJ)} {rng.choice(EN_NOUN)} {rng.choice(LABEL_WORDS)}",
                    isrc_country=rng.choice(ISRC_COUNTRIES[culture]),
                    registrant="".join(rng.choice(BASE62[:36]).upper() for _ in range(3)),
                    career_start=int(rng.triangular(1968, self.end.year - 1, self.end.year - 6)),
                )
            )

    # users' taste ----------------------------------------------------------------------------
    def build_tastes(self) -> None:
        rng = random.Random(f"{self.config.seed}:tastes")
        for spec in user_specs(self.config):
            weights = [
                spec.culture_weights[s.culture] * (0.5 + s.popularity / 100) for s in self.seeds
            ]
            chosen: list[int] = []
            pool = list(range(len(self.seeds)))
            for _ in range(min(spec.n_favorites, len(pool))):
                pick = rng.choices(range(len(pool)), weights=[weights[i] for i in pool])[0]
                chosen.append(pool.pop(pick))
            self.tastes[spec.id] = chosen
            n_follow = min(spec.n_follows, len(self.seeds))
            from_favorites = chosen[: max(1, int(n_follow * 0.8))]
            others = [i for i in range(len(self.seeds)) if i not in from_favorites]
            rest = rng.sample(others, k=min(len(others), n_follow - len(from_favorites)))
            self.follows[spec.id] = sorted(from_favorites + rest)

    def recent_artists(self) -> list[int]:
        """Followed artists who release something in the last three weeks (>= 2 per user)."""
        rng = random.Random(f"{self.config.seed}:recent")
        recent: list[int] = []
        for spec in user_specs(self.config):
            followed = self.follows[spec.id]
            k = max(2, int(len(followed) * 0.3))
            for index in rng.sample(followed, k=min(k, len(followed))):
                if index not in recent:
                    recent.append(index)
        return sorted(recent)
