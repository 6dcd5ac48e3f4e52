"""Catalogue construction, part 2: songs and releases.

`_CatalogReleases` plans each artist's releases in chronological order (albums with lead
singles, EPs, singles, compilations, remasters, deluxe editions, recent releases), spreads
their dates over the artist's career and assigns ISRCs and album ids.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from spotify_assets.emulator.world.catalog_base import (
    _ArtistSeed,
    _CatalogBase,
    _Release,
    _Song,
)
from spotify_assets.emulator.world.names import (
    ACC_WORDS,
    EN_ADJ,
    EN_NOUN,
    EN_VERB,
    JA_WORD,
    RU_ADJ,
    RU_NOUN,
)


class _CatalogReleases(_CatalogBase):
    """Songs and releases per artist, their dates and codes (the whole: `_Catalog`)."""

    # songs and releases ------------------------------------------------------------------------
    def _title(self, seed: _ArtistSeed) -> str:
        rng = self.rng
        for attempt in itertools.count():
            if seed.culture == "ja" and rng.random() < 0.8:
                a, b = rng.sample(JA_WORD, 2)
                title = rng.choice((f"{a}の{b}", f"{a}と{b}", f"さよなら{a}", f"{a}"))
            elif seed.culture == "ru" and rng.random() < 0.8:
                title = f"{rng.choice(RU_ADJ)} {rng.choice(RU_NOUN)}"
            else:
                pattern = rng.randrange(8)
                adj, noun, verb = rng.choice(EN_ADJ), rng.choice(EN_NOUN), rng.choice(EN_VERB)
                title = (
                    f"{adj} {noun}",
                    f"{verb} the {noun}",
                    f"Don't {verb} Me",
                    f"{noun} of {rng.choice(EN_NOUN)}s",
                    f"{adj} {noun} Blues",
                    f"{rng.choice(ACC_WORDS)} {noun}",
                    f"{noun} & {rng.choice(EN_NOUN)}",
                    f"{verb} Me Tonight",
                )[pattern]
            if attempt > 20:
                title = f"{title} {attempt}"
            if title not in seed.titles:
                seed.titles.add(title)
                return title
        raise AssertionError("unreachable")

    def _new_song(self, seed: _ArtistSeed) -> _Song:
        rng = self.rng
        feats: tuple[int, ...] = ()
        if rng.random() < 0.12:
            others = rng.sample(range(len(self.seeds)), k=3)
            feats = tuple(o for o in others if o != seed.index)[: rng.choice((1, 1, 1, 2))]
        length = int(rng.gauss(215_000, 45_000))
        if rng.random() < 0.03:
            length = rng.randint(480_000, 720_000)
        song = _Song(
            index=len(self.songs),
            artist=seed.index,
            feats=feats,
            title=self._title(seed),
            length_ms=max(95_000, min(720_000, length)),
            explicit=rng.random() < 0.15,
            popularity=max(0, min(100, int(rng.gauss(seed.popularity, 12)))),
        )
        self.songs.append(song)
        return song

    def _release(
        self,
        kind: str,
        seed: _ArtistSeed,
        name: str,
        entries: list[tuple[_Song, int, bool]],
        base: _Release | None = None,
        recent: bool = False,
    ) -> _Release:
        release = _Release(
            index=len(self.releases),
            kind=kind,
            artist=seed.index,
            name=name,
            entries=entries,
            base=base,
            recent=recent,
        )
        self.releases.append(release)
        return release

    def _album_name(self, seed: _ArtistSeed) -> str:
        rng = self.rng
        if seed.culture == "ja" and rng.random() < 0.7:
            return f"{rng.choice(JA_WORD)}{rng.choice(('', 'の記憶', 'ライト', 'ストーリー'))}"
        if seed.culture == "ru" and rng.random() < 0.7:
            return f"{rng.choice(RU_ADJ)} {rng.choice(RU_NOUN)}"
        return rng.choice(
            (
                f"{rng.choice(EN_ADJ)} {rng.choice(EN_NOUN)}s",
                f"The {rng.choice(EN_NOUN)} Sessions",
                f"{rng.choice(EN_ADJ)}",
                f"{rng.choice(ACC_WORDS)} {rng.choice(EN_NOUN)}",
            )
        )

    def _album_with_singles(
        self, seed: _ArtistSeed, remaining: int, albums: list[_Release], released: list[_Song]
    ) -> int:
        """An 8-14 track album preceded by 0-2 lead singles (same songs, same ISRCs)."""
        rng = self.rng
        leads = min(rng.choice((0, 1, 1, 2)), remaining - 8)
        size = rng.randint(8, min(14, remaining - leads))
        songs = [self._new_song(seed) for _ in range(size)]
        for song in rng.sample(songs, k=leads):
            self._release("single", seed, song.title, [(song, 1, False)])
        entries = [(s, 1, False) for s in songs]
        albums.append(self._release("album", seed, self._album_name(seed), entries))
        released.extend(songs)
        return size + leads

    def _compilation(self, seed: _ArtistSeed, remaining: int, released: list[_Song]) -> int:
        """A best-of reusing the artist's most popular songs (their ISRCs repeat)."""
        rng = self.rng
        size = rng.randint(8, min(14, remaining, len(released)))
        best = sorted(released, key=lambda s: (-s.popularity, s.index))[: size + 4]
        picks = sorted(rng.sample(best, k=size), key=lambda s: s.index)
        names = ("Greatest Hits", f"The Very Best of {seed.name}", "Essentials", "Anthology")
        self._release("compilation", seed, rng.choice(names), [(s, 1, False) for s in picks])
        return size

    def _reissue(
        self, seed: _ArtistSeed, base: _Release, remaining: int, released: list[_Song], kind: str
    ) -> int:
        """A remaster (new ISRCs, "- Remastered YYYY") or a deluxe edition (bonus disc 2)."""
        if kind == "remaster":
            entries = [(s, d, True) for s, d, _ in base.entries]
            self._release("remaster", seed, base.name, entries, base=base)
            return len(entries)
        n_bonus = min(self.rng.randint(2, 4), remaining - len(base.entries))
        bonus = [self._new_song(seed) for _ in range(n_bonus)]
        entries = [(s, 1, False) for s, _, _ in base.entries] + [(s, 2, False) for s in bonus]
        released.extend(bonus)
        self._release("deluxe", seed, f"{base.name} (Deluxe Edition)", entries, base=base)
        return len(entries)

    def _spent(self, seed: _ArtistSeed) -> int:
        return sum(len(r.entries) for r in self.releases if r.artist == seed.index)

    def _special(
        self,
        seed: _ArtistSeed,
        remaining: int,
        albums: list[_Release],
        reissued: list[_Release],
        released: list[_Song],
        roll: float,
    ) -> bool:
        """Try a compilation, remaster or deluxe edition; False when none fits the budget."""
        base = albums[0]
        if roll < 0.34 and remaining >= 8 and len(released) >= 8:
            self._compilation(seed, remaining, released)
        elif roll < 0.67 and len(base.entries) <= remaining and base not in reissued:
            reissued.append(base)
            self._reissue(seed, base, remaining, released, "remaster")
        elif len(base.entries) + 2 <= remaining and base not in reissued:
            reissued.append(base)
            self._reissue(seed, base, remaining, released, "deluxe")
        else:
            return False
        return True

    def _plan_artist(self, seed: _ArtistSeed, budget: int, recent: bool) -> None:
        """Create this artist's releases in chronological order, exactly `budget` tracks."""
        rng = self.rng
        recent_cost = 0
        if recent:
            recent_cost = (
                rng.randint(8, min(12, budget)) if budget >= 12 and rng.random() < 0.3 else 1
            )
        remaining = budget - recent_cost
        released: list[_Song] = []
        albums: list[_Release] = []
        reissued: list[_Release] = []
        # Prolific artists always get one reissue or best-of, so every world has some.
        special_due = budget >= 24
        while remaining > 0:
            if special_due and albums:
                special_due = False
                if self._special(seed, remaining, albums, reissued, released, rng.random()):
                    remaining = budget - recent_cost - self._spent(seed)
                    continue
            if remaining >= 9 and rng.random() < 0.5:
                remaining -= self._album_with_singles(seed, remaining, albums, released)
                continue
            roll = rng.random()
            candidates = [a for a in albums if a not in reissued]
            if roll < 0.3 and len(albums) >= 2 and remaining >= 8 and len(released) >= 8:
                remaining -= self._compilation(seed, remaining, released)
            elif roll < 0.55 and candidates and len(candidates[0].entries) <= remaining:
                reissued.append(candidates[0])
                remaining -= self._reissue(seed, candidates[0], remaining, released, "remaster")
            elif roll < 0.75 and candidates and len(candidates[-1].entries) + 2 <= remaining:
                reissued.append(candidates[-1])
                remaining -= self._reissue(seed, candidates[-1], remaining, released, "deluxe")
            elif remaining >= 2 and roll < 0.88:
                songs = [self._new_song(seed) for _ in range(rng.randint(2, min(5, remaining)))]
                self._release("ep", seed, self._album_name(seed), [(s, 1, False) for s in songs])
                released.extend(songs)
                remaining -= len(songs)
            else:
                song = self._new_song(seed)
                self._release("single", seed, song.title, [(song, 1, False)])
                released.append(song)
                remaining -= 1
        if recent_cost:
            songs = [self._new_song(seed) for _ in range(recent_cost)]
            kind = "album" if recent_cost >= 8 else "single"
            name = self._album_name(seed) if kind == "album" else songs[0].title
            self._release(kind, seed, name, [(s, 1, False) for s in songs], recent=True)

    def build_releases(self) -> None:
        rng = self.rng
        n_artists, n_tracks = len(self.seeds), self.config.n_tracks
        # Zipf-like track budgets: a few prolific artists, a long tail of small ones.
        weights = [1.0 / (rank + 3) ** 0.6 for rank in range(n_artists)]
        order = list(range(n_artists))
        rng.shuffle(order)
        total = sum(weights)
        budgets = [1] * n_artists
        spare = n_tracks - n_artists
        shares = [spare * weights[rank] / total for rank in range(n_artists)]
        for rank, artist in enumerate(order):
            budgets[artist] += int(shares[rank])
        leftover = n_tracks - sum(budgets)
        for rank in range(leftover):
            budgets[order[rank % n_artists]] += 1
        recent = set(self.recent_artists())
        for seed in self.seeds:
            self._plan_artist(seed, budgets[seed.index], seed.index in recent)

    def assign_dates(self) -> None:
        rng = self.rng
        cutoff = self.end.date() - timedelta(days=35)
        by_artist: dict[int, list[_Release]] = {}
        for release in self.releases:
            by_artist.setdefault(release.artist, []).append(release)
        for artist, releases in sorted(by_artist.items()):
            seed = self.seeds[artist]
            start = date(min(seed.career_start, cutoff.year), 1, 1).toordinal()
            past = [r for r in releases if not r.recent]
            ordinals = sorted(rng.randint(start, cutoff.toordinal()) for _ in past)
            for release, ordinal in zip(past, ordinals, strict=True):
                release.date = date.fromordinal(ordinal)
            for release in releases:
                if release.recent:
                    release.date = self.end.date() - timedelta(days=rng.randint(1, 20))

    def assign_codes(self) -> None:
        """ISRCs by first release year (remasters get their own), UPCs, Spotify ids."""
        for release in self.releases:
            assert release.date is not None
            seed = self.seeds[release.artist]
            for song, _, remastered in release.entries:
                if song.first_date is None:
                    song.first_date = release.date
                    song.isrc = self.new_isrc(seed, release.date.year)
                if remastered:
                    song.remaster_isrcs.append(self.new_isrc(seed, release.date.year))
        # Album ids after all songs so track ids and album ids interleave realistically.
        for release in self.releases:
            release.id = self.new_id()
