"""Text normalisation for matching Spotify names against MusicBrainz: fold case, accents and
apostrophes; strip "feat." credits and edition decorations ("Remastered 2011", "- Live") but keep
what makes a different recording ("Live at", "Remix", "Acoustic"); transliterate CJK; compare
with rapidfuzz. Also the barcode variants (UPC-A, EAN-13) a UPC may be filed under.
`matching.py` decides with these.
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz
from unidecode import unidecode

_FEAT_WORD = r"(?:feat\.?|ft\.?|featuring)"
# "(feat. X)", "[with X]": Spotify puts guests in the title, MusicBrainz in the artist credit.
_FEAT_BRACKET = re.compile(
    rf"\s*[\(\[\{{]\s*(?:{_FEAT_WORD}|with)\s[^\)\]\}}]*[\)\]\}}]", re.IGNORECASE
)
_FEAT_TAIL = re.compile(rf"\s+{_FEAT_WORD}\s.*$", re.IGNORECASE)
_EDITION_WORD = (
    r"(?:re-?master(?:ed)?|deluxe|edition|anniversary|expanded|bonus\s+tracks?|re-?issue)"
)
# Words that make a version a different recording in MusicBrainz: such suffixes are kept.
_DISTINCT_VERSION = re.compile(
    r"\b(?:live|remix|mix|edit|acoustic|demo|instrumental|karaoke|unplugged|session)\b",
    re.IGNORECASE,
)
_BRACKETED = r"[^\(\)\[\]\{\}]*"
_EDITION_BRACKET = re.compile(
    rf"\s*[\(\[\{{]({_BRACKETED}\b{_EDITION_WORD}{_BRACKETED})[\)\]\}}]\s*$", re.IGNORECASE
)
_EDITION_DASH = re.compile(rf"\s+[-\u2013\u2014]\s+(.*\b{_EDITION_WORD}.*)$", re.IGNORECASE)
_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_NON_WORD = re.compile(r"[\W_]+")
_LEADING_THE = re.compile(r"^the\s+")
_TRAILING_THE = re.compile(r"^(.+),\s*the$")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _strip_once(text: str, pattern: re.Pattern[str], *, guard: bool) -> str:
    match = pattern.search(text)
    if match is None:
        return text
    if guard and match.groups() and _DISTINCT_VERSION.search(match.group(1)):
        return text
    stripped = text[: match.start()].rstrip()
    # Never strip a title down to nothing ("Deluxe Edition" may be the whole name).
    return stripped if stripped else text


def _strip_decorations(text: str) -> str:
    """Remove featured-artist parts and edition suffixes until nothing changes."""
    previous = None
    while previous != text:
        previous = text
        text = _FEAT_BRACKET.sub("", text).strip() or text
        text = _strip_once(text, _FEAT_TAIL, guard=False)
        text = _strip_once(text, _EDITION_BRACKET, guard=True)
        text = _strip_once(text, _EDITION_DASH, guard=True)
    return text


def _strip_accents(text: str) -> str:
    """Drop combining marks on alphabetic scripts ("ё" -> "е", "é" -> "e") before transliterating.

    unidecode spells "ё" as "io" but "е" as "e", so without this "Звёздная" and MusicBrainz's
    "Звездная" would differ. Kana keep their voicing marks ("が" is not "か").
    """
    decomposed = unicodedata.normalize("NFD", text)
    kept: list[str] = []
    for char in decomposed:
        if unicodedata.combining(char) and kept and kept[-1] < "\u3000":
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


# Hiragana, katakana, CJK ideographs (and extension A), hangul syllables.
_CJK_RUN = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+)")


def _transliterate(text: str) -> str:
    """ASCII for alphabetic scripts; CJK characters stay as they are.

    unidecode turns one kanji into a pinyin syllable, so "さよなら星" and "さよなら桜" would
    differ by one letter out of twelve; compared as characters they differ by one in five.
    """
    parts = _CJK_RUN.split(text)
    # split() with a capturing group alternates: non-CJK, CJK, non-CJK, ...
    return "".join(part if i % 2 else unidecode(part) for i, part in enumerate(parts))


def _ascii_words(text: str) -> str:
    text = text.replace("&", " and ")
    ascii_text = _transliterate(_strip_accents(text)).lower()
    ascii_text = _APOSTROPHES.sub("", ascii_text)
    words = _NON_WORD.sub(" ", ascii_text).strip()
    if words:
        return words
    # Titles made only of symbols or emoji ("!!!", "🔥") transliterate to nothing; compare them
    # as folded text instead so they still equal themselves and nothing else.
    return " ".join(text.split())


def normalize_title(title: str) -> str:
    """Fold a track/album title for comparison.

    NFKC + casefold, drop "feat."/"ft."/"featuring" tails and bracketed guests, drop edition
    suffixes (" - Remastered 2011", " - 2011 Remaster", "(Deluxe Edition)", "[Remastered]") but
    keep the ones that name a different recording ("- Live", "(Radio Edit)", "(Remix)"),
    "&" -> "and", transliterate to ASCII, remove apostrophes, collapse punctuation and spaces.
    """
    return _ascii_words(_strip_decorations(_fold(title or "")))


def clean_title_for_search(title: str) -> str:
    """The title to send to a search: decorations removed, original script and case kept."""
    return _strip_decorations(unicodedata.normalize("NFKC", title or "").strip())


def normalize_artist(name: str) -> str:
    """Fold an artist name like `normalize_title`; "Beatles, The" == "The Beatles" == "Beatles"."""
    text = _fold(name or "")
    text = _TRAILING_THE.sub(r"the \1", text)
    text = _strip_once(text, _FEAT_TAIL, guard=False)
    words = _ascii_words(text)
    return _LEADING_THE.sub("", words) or words


def artist_key(name: str) -> str:
    """An artist name for equality: folded like `normalize_artist`, but stricter.

    Punctuation and a leading "The" are kept: "P!nk" is not "Pink", "Nova!" is not "Nova" and
    "The Faded Windows" is not "Faded Windows" (look-alikes an artist search turns up). Case,
    accents, apostrophes, "&"/"and" and "Beatles, The"/"The Beatles" still do not matter.
    """
    text = _fold(name or "")
    text = _TRAILING_THE.sub(r"the \1", text).replace("&", " and ")
    text = _APOSTROPHES.sub("", _transliterate(_strip_accents(text)).lower())
    return " ".join(text.split()) or " ".join((name or "").split())


def similarity(a: str, b: str) -> float:
    """Normalised Levenshtein similarity in [0, 1] of two already-normalised strings."""
    if not a or not b:
        return 0.0
    return fuzz.ratio(a, b) / 100.0


def barcode_variants(upc: str | None) -> list[str]:
    """Forms a barcode may be stored under in MusicBrainz, most literal first.

    As given, without leading zeros, zero-padded to 12 (UPC-A) and to 13 (EAN-13) digits; GS1 says
    leading zeros do not change a GTIN, but MusicBrainz matches the printed string exactly.
    Anything that is not a run of digits has no variants.
    """
    code = (upc or "").strip().replace(" ", "").replace("-", "")
    if not code.isdigit() or not code.isascii():
        return []
    bare = code.lstrip("0") or "0"
    variants = [code, bare, bare.zfill(12), bare.zfill(13)]
    return list(dict.fromkeys(v for v in variants if len(v) <= 14))
