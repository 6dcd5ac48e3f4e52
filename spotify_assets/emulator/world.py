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
  `[end - days, end]`, never overlapping within a user.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import random
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Spotify's documented windows for /me/top: ~4 weeks, ~6 months, ~1 year.
TIME_RANGE_DAYS = {"short_term": 28, "medium_term": 182, "long_term": 365}
TOP_LIMIT = 50
# Spotify (and Wrapped) count a play as a stream from 30 s on.
COUNTED_MS = 30_000
DAY_MS = 86_400_000

AlbumType = Literal["album", "single", "compilation"]
PlayKind = Literal["track", "episode"]


# --------------------------------------------------------------------------------------------
# Public data model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldConfig:
    """Knobs of the synthetic world. `end=None` means "now, floored to the hour, UTC"."""

    seed: int = 42
    end: datetime | None = None
    days: int = 21
    n_artists: int = 120
    n_tracks: int = 1500
    export_end_offset_hours: int = 3

    def resolved(self) -> WorldConfig:
        """A copy with `end` filled in (UTC, ms precision) and the sizes validated."""
        if self.end is None:
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        elif self.end.tzinfo is None:
            raise ValueError(f"WorldConfig.end must be timezone-aware, got naive {self.end}")
        else:
            end = self.end.astimezone(UTC)
            end = end.replace(microsecond=end.microsecond // 1000 * 1000)
        if self.days < 1:
            raise ValueError(f"WorldConfig.days must be >= 1, got {self.days}")
        if self.n_artists < 10:
            raise ValueError(f"WorldConfig.n_artists must be >= 10, got {self.n_artists}")
        if self.n_tracks < self.n_artists:
            raise ValueError(
                f"WorldConfig.n_tracks ({self.n_tracks}) must be >= n_artists ({self.n_artists})"
            )
        if self.export_end_offset_hours < 0:
            raise ValueError("WorldConfig.export_end_offset_hours must be >= 0")
        return dataclasses.replace(self, end=end)


@dataclass(frozen=True, slots=True)
class MbArtist:
    mbid: str
    name: str
    sort_name: str
    tags: tuple[tuple[str, int], ...]
    genres: tuple[tuple[str, int], ...]
    artist_type: str = "Group"  # MusicBrainz artist type: "Person" or "Group"
    country: str | None = None
    disambiguation: str = ""


@dataclass(frozen=True, slots=True)
class MbRecording:
    mbid: str
    title: str
    artist_mbids: tuple[str, ...]
    length_ms: int
    isrcs: tuple[str, ...]
    release_mbids: tuple[str, ...]
    disambiguation: str = ""


@dataclass(frozen=True, slots=True)
class MbRelease:
    mbid: str
    title: str
    release_group_mbid: str
    release_group_type: str  # "Album", "Single", "EP" or "Compilation" (legacy `type` attribute)
    barcode: str | None
    artist_mbids: tuple[str, ...]
    date: str
    # The release's tracklist in order (recordings that exist in MusicBrainz only).
    recording_mbids: tuple[str, ...] = ()
    release_group_title: str = ""
    country: str | None = None
    status: str = "Official"


@dataclass(frozen=True, slots=True)
class Artist:
    id: str
    name: str
    mb: MbArtist | None
    followers: int
    popularity: int
    genres: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Album:
    id: str
    name: str
    album_type: AlbumType
    release_date: str
    upc: str
    artist_ids: tuple[str, ...]
    track_ids: tuple[str, ...]
    popularity: int
    label: str
    mb: MbRelease | None


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    name: str
    artist_ids: tuple[str, ...]
    album_id: str
    duration_ms: int
    isrc: str
    track_number: int
    disc_number: int
    explicit: bool
    popularity: int
    mb: MbRecording | None


@dataclass(frozen=True, slots=True)
class Episode:
    id: str
    name: str
    show_id: str
    show_name: str
    duration_ms: int
    release_date: str = ""


@dataclass(frozen=True, slots=True)
class Play:
    user_id: str
    kind: PlayKind
    item_id: str
    ended_at: datetime
    ms_played: int
    platform: str
    shuffle: bool
    skipped: bool
    reason_start: str
    reason_end: str
    offline: bool
    incognito: bool
    conn_country: str
    context_uri: str | None
    ip_addr: str = "192.0.2.1"

    @property
    def started_at(self) -> datetime:
        return self.ended_at - timedelta(milliseconds=self.ms_played)


@dataclass(frozen=True, slots=True)
class DemoUser:
    id: str
    display_name: str
    timezone: str
    habit: str
    followed_artist_ids: tuple[str, ...]
    country: str = "US"
    account_id: str = ""


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


EN_ADJ = _words(
    "Velvet Silver Neon Quiet Golden Electric Paper Hollow Crimson Wild Lonely Broken "
    "Distant Summer Winter Midnight Faded Bright Lucky Empty Northern Southern Secret "
    "Gentle Restless Burning Frozen Little Savage Sweet"
)
EN_NOUN = _words(
    "Harbor Light Echo River Garden Mirror Signal Fever Parade Ocean Satellite Horizon "
    "Canyon Machine Window Heart Shadow Season Highway Letter Thunder Diamond Valley "
    "Station Wolf Feather Engine Island Comet Ghost"
)
EN_VERB = _words("Hold Call Chase Keep Leave Find Break Follow Wake Save Burn Trust Miss Dance Run")
FIRST = _words(
    "Maya Elliot Jonah Clara Nina Oscar Ruby Theo Iris Felix Hazel Leo Mara Isaac June "
    "Silas Ada Milo Vera Arlo"
)
LAST = _words(
    "Hart Quinn Rowe Sutton Vale Marsh Keller Brooks Lane Frost Carver Monroe Pryce Wilde "
    "Ashby Finch Mercer Holloway Stone Reyes"
)
ACC_FIRST = _words(
    "Renée Zoë José Björn Anaïs Chloé Søren Héloïse Raphaël Inés Mónica François Jürgen "
    "Noémie Dolorès Ångela"
)
ACC_LAST = _words(
    "Lavoie Brandt Ortíz Sundqvist Moreau Dvořák Müller Núñez Løvland Göransson Baptiste "
    "Côté Šimek Østergaard Peña"
)
ACC_SOLO = _words("Solène Amélie Noé Zoé Belén Océane Mathéo Léonie Aurélie Inès")
ACC_WORDS = _words("Café Déjà Señorita Fiancée Rosé Naïve Crème Éclat Sérénade Mañana")
JA_FAMILY = _words("星野 宮本 小林 高橋 中村 松本 山田 佐藤 鈴木 渡辺")
JA_GIVEN = _words("ゆかり リョウ ミナミ ハルカ ケンジ アオイ サキ ユウト ヒカリ レン")
JA_WORD = _words("夜明け 雨 東京 星 夏 風 海 月 花火 約束 桜 夢 銀河 青空")
JA_BAND = _words("パレード クラブ ドライブ ノート バンド オーケストラ")
RU_FIRST_F = _words("Мария Алиса Ольга Дарья Вера")
RU_LAST_F = _words("Соколова Морозова Громова Ветрова Лебедева")
RU_FIRST_M = _words("Иван Дмитрий Пётр Артём Фёдор")
RU_LAST_M = _words("Соколов Морозов Громов Ветров Лебедев")
RU_ADJ = _words("Белая Тихая Последняя Летняя Холодная Ночная Золотая Звёздная")
RU_NOUN = _words("ночь звезда весна дорога река песня зима осень")
RU_BAND = ("Северный Ветер", "Белые Ночи", "Полярный Экспресс", "Гроза", "Звёздный Путь")

CULTURES = ("en", "acc", "amp", "ja", "ru")
CULTURE_WEIGHTS = (50, 15, 10, 13, 12)
GENRES: dict[str, tuple[str, ...]] = {
    "en": (
        "indie rock",
        "dream pop",
        "synthpop",
        "alt country",
        "neo soul",
        "post-punk",
        "shoegaze",
        "hip hop",
        "house",
        "folk",
        "singer-songwriter",
        "jazz",
    ),
    "acc": ("chanson", "french pop", "nordic folk", "electropop", "flamenco pop", "jazz"),
    "amp": ("indie rock", "folk", "alt country", "soul", "britpop"),
    "ja": ("j-pop", "city pop", "j-rock", "anime", "shibuya-kei"),
    "ru": ("russian rock", "russian post-punk", "russian indie", "estrada"),
}
# MusicBrainz genre parents, so MB genres are a little broader than Spotify's.
PARENT_GENRE = {
    "indie rock": "rock",
    "dream pop": "pop",
    "synthpop": "electronic",
    "alt country": "country",
    "neo soul": "soul",
    "post-punk": "rock",
    "shoegaze": "rock",
    "hip hop": "hip hop",
    "house": "electronic",
    "folk": "folk",
    "singer-songwriter": "folk",
    "jazz": "jazz",
    "chanson": "chanson",
    "french pop": "pop",
    "nordic folk": "folk",
    "electropop": "electronic",
    "flamenco pop": "pop",
    "soul": "soul",
    "britpop": "rock",
    "j-pop": "pop",
    "city pop": "pop",
    "j-rock": "rock",
    "anime": "pop",
    "shibuya-kei": "pop",
    "russian rock": "rock",
    "russian post-punk": "rock",
    "russian indie": "rock",
    "estrada": "pop",
}
EXTRA_TAGS = ("female vocalists", "male vocalists", "90s", "2010s", "live", "instrumental")
ISRC_COUNTRIES = {
    "en": ("US", "GB", "CA", "AU", "SE"),
    "acc": ("FR", "DE", "ES", "SE", "DK", "NO"),
    "amp": ("US", "GB", "IE"),
    "ja": ("JP",),
    "ru": ("RU",),
}
MB_COUNTRY = {"en": "US", "acc": "FR", "amp": "GB", "ja": "JP", "ru": "RU"}
LABEL_WORDS = ("Records", "Recordings", "Sound", "Music", "Tone", "Audio")

SHOWS: tuple[tuple[str, str, int, int, int], ...] = (
    # name, culture, episode count, min minutes, max minutes
    ("The Long Listen", "en", 30, 35, 60),
    ("Deep Dive Daily", "en", 40, 20, 35),
    ("Tech Talk Tonight", "en", 25, 40, 60),
    ("Histoire & Café", "acc", 20, 25, 50),
    ("東京ポッドキャスト", "ja", 24, 20, 45),
    ("Morning Brief", "en", 60, 8, 15),
    ("Разговоры о музыке", "ru", 18, 30, 55),
    ("The Slow Garden", "en", 22, 25, 45),
)


# --------------------------------------------------------------------------------------------
# Small deterministic helpers
# --------------------------------------------------------------------------------------------


def spotify_id(rng: random.Random) -> str:
    """A 22-character base62 id like Spotify's."""
    value = rng.getrandbits(131)
    chars = []
    for _ in range(22):
        value, rem = divmod(value, 62)
        chars.append(BASE62[rem])
    return "".join(chars)


def mbid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def stable_digest(*parts: object) -> str:
    """Hex SHA-1 of the parts: a stable stand-in for hash() (which is salted per process)."""
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    )


def ms_to_datetime(ms: int) -> datetime:
    # timedelta arithmetic is exact; fromtimestamp(ms / 1000) can round to .749999.
    return EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(value: datetime) -> int:
    delta = value - EPOCH
    return delta.days * DAY_MS + delta.seconds * 1000 + delta.microseconds // 1000


def upc_check_digit(body: str) -> str:
    """GTIN-12 check digit for an 11-digit body."""
    odd = sum(int(d) for d in body[0::2])
    even = sum(int(d) for d in body[1::2])
    return str((10 - (odd * 3 + even) % 10) % 10)


def _by_votes(pair: tuple[str, int]) -> tuple[int, str]:
    return (-pair[1], pair[0])


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


# --------------------------------------------------------------------------------------------
# Users and habits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Habit:
    """How one user listens. Blocks are local (start hour, end hour, mode) windows."""

    blocks: tuple[tuple[float, float, str], ...]
    block_prob: float
    jitter_h: float
    short_skip: float  # share of music plays skipped before 30 s (reason_end fwdbtn)
    mid_skip: float  # share skipped after 30 s but before the end
    repeat: float  # share of finished tracks played again at once
    shuffle: float
    platforms: tuple[tuple[str, float], ...]
    run_len: tuple[int, int]  # items played from one context before switching
    podcast_day_prob: float = 0.0  # chance of an extra short podcast session on a day
    max_plays: tuple[int, int] | None = None  # light listeners stop after a few plays
    sessions_per_day: tuple[int, ...] = ()  # light: how many sessions (uniform choice)


HABITS: dict[str, Habit] = {
    # ~20 plays an hour through most waking hours.
    "heavy": Habit(
        blocks=((7.0, 11.5, "music"), (12.5, 17.5, "music"), (18.5, 23.5, "music")),
        block_prob=0.95,
        jitter_h=0.5,
        short_skip=0.10,
        mid_skip=0.06,
        repeat=0.02,
        shuffle=0.55,
        platforms=(("android", 0.6), ("windows", 0.3), ("web_player", 0.1)),
        run_len=(8, 30),
        podcast_day_prob=0.15,
    ),
    "skipper": Habit(
        blocks=(
            (8.0, 9.5, "music"),
            (12.0, 13.5, "music"),
            (17.0, 19.5, "music"),
            (21.0, 23.0, "music"),
        ),
        block_prob=0.8,
        jitter_h=0.4,
        short_skip=0.40,
        mid_skip=0.10,
        repeat=0.01,
        shuffle=0.85,
        platforms=(("ios", 0.8), ("osx", 0.2)),
        run_len=(10, 40),
        podcast_day_prob=0.05,
    ),
    # Local daytime in Asia/Tokyo: commute, lunch, evening.
    "tokyo": Habit(
        blocks=((7.5, 9.0, "music"), (12.0, 13.0, "music"), (18.5, 23.0, "music")),
        block_prob=0.85,
        jitter_h=0.3,
        short_skip=0.12,
        mid_skip=0.05,
        repeat=0.04,
        shuffle=0.4,
        platforms=(("ios", 0.6), ("osx", 0.4)),
        run_len=(6, 20),
        podcast_day_prob=0.1,
    ),
    "podcast": Habit(
        blocks=(
            (7.0, 8.5, "podcast"),
            (12.5, 13.25, "music"),
            (17.0, 18.5, "podcast"),
            (20.5, 22.0, "mixed"),
        ),
        block_prob=0.9,
        jitter_h=0.25,
        short_skip=0.08,
        mid_skip=0.05,
        repeat=0.01,
        shuffle=0.5,
        platforms=(("android", 0.8), ("web_player", 0.2)),
        run_len=(5, 15),
    ),
    "light": Habit(
        blocks=(),
        block_prob=1.0,
        jitter_h=0.0,
        short_skip=0.05,
        mid_skip=0.04,
        repeat=0.0,
        shuffle=0.3,
        platforms=(("web_player", 0.6), ("ios", 0.4)),
        run_len=(2, 6),
        podcast_day_prob=0.05,
        max_plays=(2, 6),
        sessions_per_day=(0, 1, 1, 1, 2, 2, 3),
    ),
}


@dataclass(frozen=True)
class _UserSpec:
    id: str
    display_name: str
    timezone: str
    habit: str
    country: str
    n_favorites: int
    n_follows: int
    culture_weights: dict[str, float]
    shows: tuple[int, ...]  # indexes into SHOWS


USER_SPECS: tuple[_UserSpec, ...] = (
    _UserSpec(
        "demo_heavy",
        "Maya Okafor",
        "America/New_York",
        "heavy",
        "US",
        30,
        30,
        {"en": 3, "acc": 2, "amp": 2, "ja": 0.5, "ru": 0.5},
        (5,),
    ),
    _UserSpec(
        "demo_skipper",
        "Sam Lindqvist",
        "Europe/London",
        "skipper",
        "GB",
        45,
        20,
        {"en": 2, "acc": 1, "amp": 1, "ja": 1, "ru": 1},
        (1,),
    ),
    _UserSpec(
        "demo_tokyo",
        "Yuki Tanaka",
        "Asia/Tokyo",
        "tokyo",
        "JP",
        20,
        15,
        {"en": 1, "acc": 0.5, "amp": 0.5, "ja": 6, "ru": 0.2},
        (4,),
    ),
    _UserSpec(
        "demo_podcast",
        "Lena Fischer",
        "Europe/Berlin",
        "podcast",
        "DE",
        12,
        8,
        {"en": 2, "acc": 2, "amp": 1, "ja": 0.5, "ru": 1},
        (0, 2, 3, 6, 7),
    ),
    _UserSpec(
        "demo_light",
        "Omar Haddad",
        "Atlantic/Reykjavik",
        "light",
        "IS",
        10,
        5,
        {"en": 2, "acc": 1, "amp": 1, "ja": 0.5, "ru": 0.5},
        (5,),
    ),
)

SESSION_OPENERS = (
    ("clickrow", 0.45),
    ("playbtn", 0.25),
    ("appload", 0.2),
    ("remote", 0.05),
    ("unknown", 0.05),
)
SESSION_ENDERS = (
    ("endplay", 0.45),
    ("logout", 0.2),
    ("unexpected-exit-while-paused", 0.15),
    ("unexpected-exit", 0.08),
    ("remote", 0.07),
    ("unknown", 0.05),
)
# reason_start of the next play follows from how the previous one ended.
NEXT_START = {
    "trackdone": "trackdone",
    "fwdbtn": "fwdbtn",
    "backbtn": "backbtn",
    "trackerror": "trackerror",
}


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


class _Catalog:
    """Builds artists, releases, MusicBrainz truth, decoys, shows and the users' tastes."""

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
        for spec in USER_SPECS:
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
        for spec in USER_SPECS:
            followed = self.follows[spec.id]
            k = max(2, int(len(followed) * 0.3))
            for index in rng.sample(followed, k=min(k, len(followed))):
                if index not in recent:
                    recent.append(index)
        return sorted(recent)

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


# --------------------------------------------------------------------------------------------
# Playing
# --------------------------------------------------------------------------------------------


@dataclass
class _Taste:
    favorites: list[str]  # artist ids, most loved first
    favorite_weights: list[float]
    liked: list[str]  # track ids ("Liked Songs", context null)
    playlists: list[tuple[str, list[str]]]  # (playlist id, track ids)
    shows: list[str]  # show ids


class _Simulator:
    """Generates one user's plays, session by session, in local time."""

    def __init__(self, world: World, user: DemoUser, taste: _Taste, user_index: int) -> None:
        self.world = world
        self.user = user
        self.taste = taste
        self.habit = HABITS[user.habit]
        self.rng = random.Random(f"{world.config.seed}:plays:{user.id}")
        self.tz = ZoneInfo(user.timezone)
        self.plays: list[Play] = []
        self.cursor = 0
        self.ips = [f"192.0.2.{10 + user_index * 10 + k}" for k in range(3)]
        self.next_episode: dict[str, int] = {}

    def run(self) -> list[Play]:
        start_ms = datetime_to_ms(self.world.start)
        end_ms = datetime_to_ms(self.world.end)
        self.cursor = start_ms
        day = self.world.start.astimezone(self.tz).date() - timedelta(days=1)
        last_day = self.world.end.astimezone(self.tz).date()
        while day <= last_day:
            for begin, stop, mode, max_plays in self._sessions(day):
                if stop <= start_ms or begin >= end_ms:
                    continue
                self._session(max(begin, self.cursor + 1000), min(stop, end_ms), mode, max_plays)
            day += timedelta(days=1)
        # Sessions cut by the window edges: keep only whole plays inside [start, end].
        return [
            p
            for p in self.plays
            if start_ms <= datetime_to_ms(p.ended_at) - p.ms_played
            and datetime_to_ms(p.ended_at) <= end_ms
        ]

    def _local_ms(self, day: date, hour: float) -> int:
        whole = int(hour)
        minute = int((hour - whole) * 60)
        local = datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(
            hours=whole, minutes=minute
        )
        return int(local.timestamp()) * 1000

    def _sessions(self, day: date) -> list[tuple[int, int, str, int | None]]:
        rng, habit = self.rng, self.habit
        sessions: list[tuple[int, int, str, int | None]] = []
        if habit.sessions_per_day:
            for _ in range(rng.choice(habit.sessions_per_day)):
                hour = rng.uniform(8.0, 22.0)
                max_plays = rng.randint(*habit.max_plays) if habit.max_plays else None
                begin = self._local_ms(day, hour)
                sessions.append((begin, begin + 3 * 3_600_000, "music", max_plays))
        for start_h, end_h, mode in habit.blocks:
            if rng.random() >= habit.block_prob:
                continue
            begin = self._local_ms(day, start_h + rng.uniform(-habit.jitter_h, habit.jitter_h))
            stop = self._local_ms(day, end_h + rng.uniform(-habit.jitter_h, habit.jitter_h))
            sessions.append((begin, stop, mode, None))
        if self.taste.shows and rng.random() < habit.podcast_day_prob:
            begin = self._local_ms(day, rng.uniform(6.0, 8.0))
            sessions.append((begin, begin + 25 * 60_000, "podcast", 1))
        sessions.sort()
        return sessions

    def _session(self, t: int, stop: int, mode: str, max_plays: int | None) -> None:
        rng = self.rng
        mobile = self.user.habit != "light" and rng.random() < 0.7
        platform = _weighted(rng, self.habit.platforms)
        flags = {
            "platform": platform,
            "offline": platform in ("android", "ios") and rng.random() < 0.06,
            "incognito": rng.random() < 0.01,
            "ip": self.ips[1 if mobile else 0],
        }
        reason = _weighted(rng, SESSION_OPENERS)
        if mode == "podcast" or (mode == "mixed" and self.taste.shows):
            # A mixed evening: one episode, then music.
            limit = 1 if mode == "mixed" else max_plays
            t, reason, _count = self._episodes(t, stop, reason, flags, limit)
            if mode == "podcast":
                return
            reason = "clickrow"
        self._music(t, stop, reason, flags, None if max_plays is None else max_plays)

    def _emit(
        self,
        kind: PlayKind,
        item: str,
        t: int,
        ms: int,
        reason_start: str,
        reason_end: str,
        shuffle: bool,
        context: str | None,
        flags: dict,
    ) -> int:
        ended = t + ms
        self.plays.append(
            Play(
                user_id=self.user.id,
                kind=kind,
                item_id=item,
                ended_at=ms_to_datetime(ended),
                ms_played=ms,
                platform=flags["platform"],
                shuffle=shuffle,
                skipped=reason_end in ("fwdbtn", "backbtn"),
                reason_start=reason_start,
                reason_end=reason_end,
                offline=flags["offline"],
                incognito=flags["incognito"],
                conn_country=self.user.country,
                context_uri=context,
                ip_addr=flags["ip"],
            )
        )
        self.cursor = ended
        return ended + self.rng.randint(0, 1500)

    def _episodes(
        self, t: int, stop: int, reason: str, flags: dict, max_plays: int | None
    ) -> tuple[int, str, int]:
        rng, world = self.rng, self.world
        count = 0
        while t < stop and (max_plays is None or count < max_plays):
            show = rng.choice(self.taste.shows)
            episodes = world.show_episodes[show]
            index = self.next_episode.get(show, rng.randrange(max(1, len(episodes) // 2)))
            episode = world.episodes[episodes[index % len(episodes)]]
            if world.episode_release_ms[episode.id] > t:
                index = rng.randrange(len(episodes) // 2 + 1)
                episode = world.episodes[episodes[index]]
            full = rng.random() < 0.7 and t + episode.duration_ms <= stop
            if full:
                ms, end_reason = episode.duration_ms, "trackdone"
                self.next_episode[show] = index + 1
            else:
                ms = min(episode.duration_ms, max(60_000, stop - t)) * rng.randint(30, 95) // 100
                end_reason = _weighted(rng, SESSION_ENDERS)
                self.next_episode[show] = index
            t = self._emit(
                "episode",
                episode.id,
                t,
                ms,
                reason,
                end_reason,
                False,
                f"spotify:show:{show}",
                flags,
            )
            count += 1
            if not full:
                return t, "clickrow", count
            reason = "trackdone"
        return t, reason, count

    def _context(self, t: int) -> tuple[str | None, list[str], bool]:
        rng, world, taste = self.rng, self.world, self.taste
        shuffle = rng.random() < self.habit.shuffle
        roll = rng.random()
        artist = rng.choices(taste.favorites, weights=taste.favorite_weights)[0]
        if roll < 0.3:
            albums = [a for a in world.artist_album_ids[artist] if world.album_release_ms[a] <= t]
            if albums:
                album = rng.choice(albums)
                items = list(world.albums[album].track_ids)
                if shuffle:
                    rng.shuffle(items)
                return f"spotify:album:{album}", items, shuffle
        if roll < 0.6 and taste.playlists:
            playlist, tracks = rng.choice(taste.playlists)
            return f"spotify:playlist:{playlist}", self._order(tracks, shuffle), shuffle
        if roll < 0.7:
            tracks = world.artist_track_ids[artist]
            return f"spotify:artist:{artist}", self._order(tracks, shuffle), shuffle
        return None, self._order(taste.liked, shuffle), shuffle

    def _order(self, tracks: list[str], shuffle: bool) -> list[str]:
        if shuffle:
            return self.rng.sample(tracks, k=len(tracks))
        offset = self.rng.randrange(len(tracks))
        return tracks[offset:] + tracks[:offset]

    def _music(self, t: int, stop: int, reason: str, flags: dict, max_plays: int | None) -> None:
        rng, world, habit = self.rng, self.world, self.habit
        count = 0
        queue: list[str] = []
        context: str | None = None
        shuffle = False
        run_left = 0
        previous: str | None = None
        replay: str | None = None
        unreleased = 0
        while t < stop and (max_plays is None or count < max_plays) and unreleased < 500:
            if replay is None and (run_left <= 0 or not queue):
                context, queue, shuffle = self._context(t)
                run_left = rng.randint(*habit.run_len)
                if count:
                    reason = "clickrow"
            if replay is not None:
                item, replay = replay, None
            else:
                item = queue.pop(0)
                run_left -= 1
                if world.track_release_ms[item] > t:
                    unreleased += 1
                    continue
            duration = world.tracks[item].duration_ms
            last = (max_plays is not None and count + 1 >= max_plays) or t + duration >= stop
            ms, end_reason = self._outcome(duration, last)
            if end_reason == "trackdone" and rng.random() < habit.repeat:
                replay = item
            elif end_reason == "backbtn":
                replay = previous or item
            t = self._emit("track", item, t, ms, reason, end_reason, shuffle, context, flags)
            count += 1
            previous = item
            if end_reason not in NEXT_START:
                return
            reason = NEXT_START[end_reason]

    def _outcome(self, duration: int, last: bool) -> tuple[int, str]:
        rng, habit = self.rng, self.habit
        if last and rng.random() < 0.7:
            return duration * rng.randint(5, 95) // 100, _weighted(rng, SESSION_ENDERS)
        roll = rng.random()
        if roll < habit.short_skip:
            if rng.random() < 0.15:  # the very short ones: skipped before the song really began
                return rng.randint(0, 1999), "fwdbtn"
            return rng.randint(2000, COUNTED_MS - 1), "fwdbtn"
        roll -= habit.short_skip
        if roll < habit.mid_skip:
            return rng.randint(COUNTED_MS, max(COUNTED_MS, duration - 5000)), "fwdbtn"
        roll -= habit.mid_skip
        if roll < 0.015:
            return rng.randint(COUNTED_MS, max(COUNTED_MS, duration // 2)), "backbtn"
        if roll < 0.018:
            return rng.randint(0, 800), "trackerror"
        return duration, "trackdone"


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
        self.users: dict[str, DemoUser] = {}
        for spec in USER_SPECS:
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
            spec.id: [self._show_ids[i] for i in spec.shows] for spec in USER_SPECS
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
