"""The emulator's deterministic synthetic world: catalogue, MusicBrainz truth, users, plays.

The same `WorldConfig` always gives the same world: every choice comes from a `random.Random`
seeded with a string derived from the config (`random` hashes string seeds with SHA-512, so
`PYTHONHASHSEED` does not matter), nothing iterates over a set, and the only clock read is
resolving `end=None` to the current hour. Each user's plays come from their own generator, so
one user's history does not shift when another user's habits change.

What is in it (numbers for the default config):
- ~120 artists (Latin, accented, "&", Japanese and Cyrillic names) with albums of 8-14 tracks,
  lead singles that share their ISRC with the album track, EPs, deluxe editions (bonus disc),
  remasters ("Song - Remastered 2011", new ISRC), compilations that reuse ISRCs, featured
  artists ("Song (feat. X)", two artist ids), and releases in the last three weeks by followed
  artists (for a release radar).
- MusicBrainz ground truth: ~80% of tracks have an `MbRecording` listing their ISRC, ~10% a
  recording without it whose title is spelled a little differently, ~10% nothing; albums have a
  release with the barcode as-is, without leading zeros, without barcode, or none; artists have
  tags/genres with vote counts. `mb_decoys` holds look-alikes (same title, other artist; similar
  artist names; live versions) that a careless fuzzy matcher would take.
- 5 demo users with distinct habits (heavy, skipper, tokyo, podcast, light) and their plays over
  `[end - days, end]`, never overlapping within a user; or, with `listeners=N`, N generated
  bursty listeners (population.py) whose offline sessions reach Spotify hours late
  (`Play.synced_at`).

Modules: `models` (WorldConfig and the public dataclasses), `names` (vocabulary), `util` (ids,
digests, time conversions), `listeners` (users, habits, tastes), `catalog_base`,
`catalog_releases` and `catalog` (catalogue and MusicBrainz construction), `simulate` (plays);
`World` is here. Importers use `from spotify_assets.emulator.world import ...`.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from spotify_assets.emulator.world.catalog import _Catalog
from spotify_assets.emulator.world.catalog_base import _Release, _Song
from spotify_assets.emulator.world.listeners import _Taste
from spotify_assets.emulator.world.models import (
    BASE62,
    COUNTED_MS,
    DAY_MS,
    EPOCH,
    TIME_RANGE_DAYS,
    TOP_LIMIT,
    Album,
    AlbumType,
    Artist,
    DemoUser,
    Episode,
    MbArtist,
    MbRecording,
    MbRelease,
    Play,
    PlayKind,
    Track,
    WorldConfig,
)
from spotify_assets.emulator.world.names import EN_ADJ, EN_NOUN, JA_WORD, RU_ADJ, RU_NOUN, SHOWS
from spotify_assets.emulator.world.population import user_specs
from spotify_assets.emulator.world.simulate import _Simulator
from spotify_assets.emulator.world.util import (
    datetime_to_ms,
    mbid,
    ms_to_datetime,
    spotify_id,
    stable_digest,
    strip_accents,
    upc_check_digit,
)

__all__ = [
    "BASE62",
    "COUNTED_MS",
    "DAY_MS",
    "EPOCH",
    "TIME_RANGE_DAYS",
    "TOP_LIMIT",
    "Album",
    "AlbumType",
    "Artist",
    "DemoUser",
    "Episode",
    "MbArtist",
    "MbRecording",
    "MbRelease",
    "Play",
    "PlayKind",
    "Track",
    "World",
    "WorldConfig",
    "datetime_to_ms",
    "mbid",
    "ms_to_datetime",
    "spotify_id",
    "stable_digest",
    "strip_accents",
    "upc_check_digit",
]

# --------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------


class World:
    """The whole synthetic world for one `WorldConfig` (see the module docstring)."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = (config or WorldConfig()).resolved()
        assert self.config.end is not None
        self.end: datetime = self.config.end
        self.start: datetime = self.end - timedelta(days=self.config.days)
        catalog = _Catalog(self.config)
        catalog.build_artists()
        catalog.build_tastes()
        catalog.build_releases()
        catalog.assign_dates()
        catalog.assign_codes()
        catalog.build_musicbrainz()
        self.mb_decoys: tuple[MbArtist | MbRecording | MbRelease, ...] = tuple(
            catalog.build_decoys()
        )
        self._freeze_catalog(catalog)
        self._assign_date_precisions(catalog)
        self._build_musicbrainz_index(catalog)
        self._build_podcasts(catalog)
        self._build_users(catalog)
        self._plays: dict[str, list[Play]] = {}
        self._top_cache: dict[tuple[str, str, str], list[str]] = {}
        self._export_cache: dict[str, dict[str, bytes]] = {}
        for index, user in enumerate(self.users.values()):
            taste = self._taste(user)
            self._plays[user.id] = _Simulator(self, user, taste, index).run()

    # construction -------------------------------------------------------------------------------
    def _freeze_catalog(self, catalog: _Catalog) -> None:
        seeds = catalog.seeds
        self.artists: dict[str, Artist] = {
            s.id: Artist(
                id=s.id,
                name=s.name,
                mb=s.mb,
                followers=s.followers,
                popularity=s.popularity,
                genres=s.genres,
            )
            for s in seeds
        }
        self.albums: dict[str, Album] = {}
        self.tracks: dict[str, Track] = {}
        self.album_release_ms: dict[str, int] = {}
        self.track_release_ms: dict[str, int] = {}
        self.artist_album_ids: dict[str, list[str]] = {s.id: [] for s in seeds}
        self.artist_track_ids: dict[str, list[str]] = {s.id: [] for s in seeds}
        rng = random.Random(f"{self.config.seed}:tracks")
        for release in catalog.releases:
            assert release.date is not None
            track_ids = []
            numbers: Counter[int] = Counter()
            for song, disc, remastered in release.entries:
                numbers[disc] += 1
                track = self._track(catalog, release, song, disc, numbers[disc], remastered, rng)
                self.tracks[track.id] = track
                track_ids.append(track.id)
            seed = seeds[release.artist]
            name = release.name
            if release.kind == "remaster":
                name = f"{name} (Remastered {release.date.year})"
            album_type: AlbumType = (
                "single"
                if release.kind in ("single", "ep")
                else "compilation"
                if release.kind == "compilation"
                else "album"
            )
            popularity = max(t for t in (self.tracks[i].popularity for i in track_ids))
            self.albums[release.id] = Album(
                id=release.id,
                name=name,
                album_type=album_type,
                release_date=release.date.isoformat(),
                upc=release.upc,
                artist_ids=(seed.id,),
                track_ids=tuple(track_ids),
                popularity=popularity,
                label=seed.label,
                mb=release.mb,
            )
            release_ms = datetime_to_ms(
                datetime(release.date.year, release.date.month, release.date.day, tzinfo=UTC)
            )
            self.album_release_ms[release.id] = release_ms
            self.artist_album_ids[seed.id].append(release.id)
            for track_id in track_ids:
                self.track_release_ms[track_id] = release_ms
                for artist_id in self.tracks[track_id].artist_ids:
                    self.artist_track_ids[artist_id].append(track_id)
        for track_ids in self.artist_track_ids.values():
            track_ids.sort(key=lambda t: (-self.tracks[t].popularity, t))
        self._appears_on: dict[str, list[str]] = {}
        for album in self.albums.values():
            credited = {a for t in album.track_ids for a in self.tracks[t].artist_ids}
            for artist_id in sorted(credited - set(album.artist_ids)):
                self._appears_on.setdefault(artist_id, []).append(album.id)

    def _assign_date_precisions(self, catalog: _Catalog) -> None:
        """Some releases show only a month or a year, as Spotify's catalogue does: old ones
        often a year; a few recent ones a month (a release radar must place those too).
        Its own generator, so nothing else in the world moves."""
        rng = random.Random(f"{self.config.seed}:precision")
        recent_since = (self.end - timedelta(days=21)).date().isoformat()
        for release in catalog.releases:
            album = self.albums[release.id]
            roll = rng.random()
            if release.recent and album.release_date >= recent_since and roll < 0.2:
                precision = "month"
            elif album.release_date < "1990" and roll < 0.3:
                precision = "year"
            else:
                continue
            self.albums[release.id] = dataclasses.replace(album, release_date_precision=precision)

    def _track(
        self,
        catalog: _Catalog,
        release: _Release,
        song: _Song,
        disc: int,
        number: int,
        remastered: bool,
        rng: random.Random,
    ) -> Track:
        seeds = catalog.seeds
        assert release.date is not None
        name = song.title
        if song.feats:
            name += f" (feat. {' & '.join(seeds[f].name for f in song.feats)})"
        isrc = song.isrc
        if remastered:
            name += f" - Remastered {release.date.year}"
            isrc = song.remaster_isrcs[0] if song.remaster_isrcs else song.isrc
        age = max(0, self.end.year - release.date.year)
        popularity = song.popularity - min(25, age // 2) + rng.randint(-4, 4)
        if release.kind == "compilation":
            popularity -= 10
        return Track(
            id=catalog.new_id(),
            name=name,
            artist_ids=(seeds[song.artist].id, *(seeds[f].id for f in song.feats)),
            album_id=release.id,
            duration_ms=song.length_ms,
            isrc=isrc,
            track_number=number,
            disc_number=disc,
            explicit=song.explicit,
            popularity=max(0, min(100, popularity)),
            mb=song.mb,
        )

    def _build_musicbrainz_index(self, catalog: _Catalog) -> None:
        """All MusicBrainz entities by MBID (truth + decoys) and how each Spotify id matches."""
        self.mb_artists: dict[str, MbArtist] = {}
        self.mb_recordings: dict[str, MbRecording] = {}
        self.mb_releases: dict[str, MbRelease] = {}
        for artist in self.artists.values():
            if artist.mb is not None:
                self.mb_artists[artist.mb.mbid] = artist.mb
        for track in self.tracks.values():
            if track.mb is not None:
                self.mb_recordings[track.mb.mbid] = track.mb
        for album in self.albums.values():
            if album.mb is not None:
                self.mb_releases[album.mb.mbid] = album.mb
        for entity in self.mb_decoys:
            if isinstance(entity, MbArtist):
                self.mb_artists[entity.mbid] = entity
            elif isinstance(entity, MbRecording):
                self.mb_recordings[entity.mbid] = entity
            else:
                self.mb_releases[entity.mbid] = entity
        # How a correct matcher can find each entity ("absent" = must stay unmatched).
        self.mb_match_kind: dict[str, str] = {}
        for seed in catalog.seeds:
            self.mb_match_kind[seed.id] = seed.mb_status
        for release in catalog.releases:
            self.mb_match_kind[release.id] = release.mb_status
        for track in self.tracks.values():
            if track.mb is None:
                kind = "absent"
            elif track.isrc in track.mb.isrcs:
                kind = "isrc"
            else:
                kind = "name"
            self.mb_match_kind[track.id] = kind

    def _build_podcasts(self, catalog: _Catalog) -> None:
        rng = random.Random(f"{self.config.seed}:podcasts")
        self.shows: dict[str, str] = {}
        self.show_episodes: dict[str, list[str]] = {}
        self.episodes: dict[str, Episode] = {}
        self.episode_release_ms: dict[str, int] = {}
        self._show_ids: list[str] = []
        for name, culture, count, low, high in SHOWS:
            show_id = catalog.new_id()
            self.shows[show_id] = name
            self._show_ids.append(show_id)
            daily = high <= 15
            ids = []
            for number in range(1, count + 1):
                released = self.end.date() - timedelta(
                    days=(count - number) * (1 if daily else 7) + 1
                )
                title = f"{rng.choice(EN_ADJ)} {rng.choice(EN_NOUN)}s"
                if culture == "ja":
                    title = f"{rng.choice(JA_WORD)}の話"
                elif culture == "ru":
                    title = f"{rng.choice(RU_ADJ)} {rng.choice(RU_NOUN)}"
                episode = Episode(
                    id=catalog.new_id(),
                    name=f"#{number}: {title}",
                    show_id=show_id,
                    show_name=name,
                    duration_ms=rng.randint(low * 60_000, high * 60_000),
                    release_date=released.isoformat(),
                )
                self.episodes[episode.id] = episode
                self.episode_release_ms[episode.id] = datetime_to_ms(
                    datetime(released.year, released.month, released.day, tzinfo=UTC)
                )
                ids.append(episode.id)
            self.show_episodes[show_id] = ids

    def _build_users(self, catalog: _Catalog) -> None:
        rng = random.Random(f"{self.config.seed}:users")
        specs = user_specs(self.config)
        self.users: dict[str, DemoUser] = {}
        for spec in specs:
            self.users[spec.id] = DemoUser(
                id=spec.id,
                display_name=spec.display_name,
                timezone=spec.timezone,
                habit=spec.habit,
                followed_artist_ids=tuple(catalog.seeds[i].id for i in catalog.follows[spec.id]),
                country=spec.country,
                account_id="".join(rng.choice(BASE62) for _ in range(10)),
            )
        self._favorites = {
            uid: [catalog.seeds[i].id for i in fav] for uid, fav in catalog.tastes.items()
        }
        self._show_choice = {
            spec.id: [self._show_ids[i] for i in spec.shows] for spec in specs
        }

    def _taste(self, user: DemoUser) -> _Taste:
        rng = random.Random(f"{self.config.seed}:taste:{user.id}")
        favorites = self._favorites[user.id]
        weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(favorites))]
        pool: list[str] = []
        for artist_id in favorites:
            tracks = self.artist_track_ids[artist_id]
            pool.extend(tracks[: max(3, len(tracks) // 2)])
        # A little outside the favourites, so top lists have a tail.
        everything = sorted(self.tracks)
        pool.extend(rng.sample(everything, k=min(len(everything), 25)))
        liked = sorted(set(rng.sample(pool, k=min(len(pool), 150))))
        playlists = []
        for _ in range(3):
            ident = spotify_id(rng)
            playlists.append((ident, rng.sample(pool, k=min(len(pool), rng.randint(30, 80)))))
        return _Taste(
            favorites=favorites,
            favorite_weights=weights,
            liked=liked,
            playlists=playlists,
            shows=self._show_choice[user.id],
        )

    # queries ----------------------------------------------------------------------------------
    def plays(self, user_id: str) -> list[Play]:
        """Every play of the user in [start, end], sorted by ended_at (a fresh list)."""
        if user_id not in self._plays:
            raise KeyError(f"unknown demo user {user_id!r}; known: {', '.join(self.users)}")
        return list(self._plays[user_id])

    def top(self, user_id: str, kind: str, time_range: str) -> list[str]:
        """Spotify-like top items: plays >= 30 s within the range before `end`.

        Ranked by play count, then total ms played, then id; at most 50. For artists every
        artist credited on the track counts the play.
        """
        if kind not in ("tracks", "artists"):
            raise ValueError(f"kind must be 'tracks' or 'artists', got {kind!r}")
        if time_range not in TIME_RANGE_DAYS:
            raise ValueError(
                f"time_range must be one of {sorted(TIME_RANGE_DAYS)}, got {time_range!r}"
            )
        key = (user_id, kind, time_range)
        if key not in self._top_cache:
            since = self.end - timedelta(days=TIME_RANGE_DAYS[time_range])
            counts: Counter[str] = Counter()
            played: Counter[str] = Counter()
            for play in self.plays(user_id):
                if play.kind != "track" or play.ms_played < COUNTED_MS or play.ended_at <= since:
                    continue
                ids = (play.item_id,) if kind == "tracks" else self.tracks[play.item_id].artist_ids
                for item in ids:
                    counts[item] += 1
                    played[item] += play.ms_played
            ranked = sorted(counts, key=lambda i: (-counts[i], -played[i], i))
            self._top_cache[key] = ranked[:TOP_LIMIT]
        return list(self._top_cache[key])

    def export_files(self, user_id: str) -> dict[str, bytes]:
        """The user's privacy-export files (file name -> JSON bytes), see exports.py."""
        from spotify_assets.emulator.exports import build_export_files

        if user_id not in self.users:
            raise KeyError(f"unknown demo user {user_id!r}; known: {', '.join(self.users)}")
        if user_id not in self._export_cache:
            self._export_cache[user_id] = build_export_files(self, user_id)
        return dict(self._export_cache[user_id])

    def appears_on(self, artist_id: str) -> list[str]:
        """Albums by other artists with a track crediting this artist (album_group appears_on)."""
        return list(self._appears_on.get(artist_id, ()))
