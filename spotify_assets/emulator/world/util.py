"""Small deterministic helpers: Spotify ids and MBIDs from a seeded generator, a stable digest
(instead of the per-process salted `hash()`), accent stripping, epoch-ms conversions, the UPC
check digit, and vote and weighted choices.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
import uuid
from datetime import datetime, timedelta

from spotify_assets.emulator.world.models import BASE62, DAY_MS, EPOCH

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
