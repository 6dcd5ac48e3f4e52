"""Pure functions that decide whether a MusicBrainz candidate is the Spotify entity we hold.

A wrong MBID is worse than none, so a candidate is accepted only when it clears the thresholds of
its method AND is clearly better than the best candidate for a different entity. Candidates are
the dicts musicbrainzngs returns (search hits or ISRC lookup results).

Scores are in [0, 1]. For recordings: 0.6 * title + 0.3 * artist + 0.1 * duration similarity;
for releases: 0.55 * title + 0.25 * artist + 0.1 * track count + 0.1 * status (Official 1,
unknown 0.5, other 0).
Thresholds (``RECORDING_RULES``, ``RELEASE_RULES``, ``ARTIST_RULE``) are per method: an ISRC or
barcode hit is already strong evidence, so its names are only sanity-checked; a name search has
nothing else, so its names must agree closely and the artist must be equal after folding
(strictly equal, punctuation and "The" included, for release and artist searches, which have no
track length to expose a look-alike). On the emulator worlds (look-alike artists, same-title
songs by others, live versions, spelling variants) this gives precision >= 0.998 and recall
>= 0.99 (spotify_assets_tests/lib/musicbrainz/test_resolve.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from spotify_assets.lib.musicbrainz.normalize import (
    artist_key,
    barcode_variants,
    normalize_artist,
    normalize_title,
    similarity,
)

Method = Literal["isrc", "barcode", "search"]

# The best candidate must beat the best candidate for a *different* entity by this much.
AMBIGUITY_MARGIN = 0.05


@dataclass(frozen=True)
class Match:
    """An accepted match: the MBID, how it was found and its combined score in [0, 1]."""

    mbid: str
    method: Method
    score: float
    # For releases: the release-group of the matched release (albums are compared at that level).
    group_mbid: str | None = None


@dataclass(frozen=True)
class Rule:
    """What a method's best candidate must satisfy to be accepted.

    `max_duration_delta_ms` / `max_track_delta` / `max_year_delta`: None means length / track
    count / release year is not checked (nor is it when either side is unknown).
    `artist_equality`: None, or "normalized" (the primary artist's `normalize_artist` must
    equal a credited name's) or "strict" (its `artist_key` must).
    """

    min_title: float
    min_artist: float
    max_duration_delta_ms: int | None = None
    max_track_delta: int | None = None
    max_year_delta: int | None = None
    artist_equality: Literal["normalized", "strict"] | None = None


RECORDING_RULES: dict[str, Rule] = {
    "isrc": Rule(min_title=0.6, min_artist=0.5, max_duration_delta_ms=30_000),
    # "Velvet Fever" is not "The Velvet Fevers": similar is not enough without an ISRC.
    "search": Rule(min_title=0.9, min_artist=0.85, max_duration_delta_ms=10_000,
                   artist_equality="normalized"),
}
# A release search has no length to tell a look-alike artist ("Winter Siganl", "Nova!") from
# the real one, so the artist key must be equal, and the track count must agree so that a
# deluxe edition (bonus tracks) is not taken for the standard release or the other way round,
# and the year must agree so that an artist's two singles of the same name stay apart.
RELEASE_RULES: dict[str, Rule] = {
    "barcode": Rule(min_title=0.5, min_artist=0.5),
    "search": Rule(min_title=0.9, min_artist=0.95, max_track_delta=1, max_year_delta=1,
                   artist_equality="strict"),
}
# An artist search has only a name to go on: namesakes and look-alikes are common, so the
# artist key must be equal and no other artist may come close.
ARTIST_RULE = Rule(min_title=0.95, min_artist=0.0, artist_equality="strict")
# A credit on an already verified recording is strong evidence; the name need only agree.
CREDIT_MIN_SIMILARITY = 0.95


# --- reading musicbrainzngs dicts ----------------------------------------------------------------


def credit_names(candidate: Mapping[str, Any]) -> list[list[str]]:
    """For each artist in an artist-credit: its name, credited name and "First Last" sort-name."""
    names: list[list[str]] = []
    for credit in candidate.get("artist-credit") or []:
        if not isinstance(credit, Mapping):
            continue  # join phrases (" & ", " feat. ") are plain strings in the list
        artist = credit.get("artist") or {}
        variants = [credit.get("name"), artist.get("name")]
        sort_name = artist.get("sort-name") or ""
        if ", " in sort_name:
            last, first = sort_name.split(", ", 1)
            variants.append(f"{first} {last}")
        names.append([v for v in variants if v])
    return names


def artist_similarity(candidate: Mapping[str, Any], artist: str) -> float | None:
    """How well the Spotify primary artist matches the credit (the first credit counts most).

    None when the candidate carries no artist-credit (e.g. an ISRC lookup without inc=artists).
    """
    if not candidate.get("artist-credit"):
        return None
    wanted = normalize_artist(artist)
    best = 0.0
    for position, variants in enumerate(credit_names(candidate)):
        # A guest further down the credit is weaker evidence than the primary artist.
        weight = 1.0 if position == 0 else 0.9
        for variant in variants:
            best = max(best, weight * similarity(wanted, normalize_artist(variant)))
    return best


def credits_artist_equal(
    candidate: Mapping[str, Any], artist: str, equality: Literal["normalized", "strict"]
) -> bool:
    """Whether some credited name equals `artist` under `normalize_artist` or `artist_key`."""
    key = normalize_artist if equality == "normalized" else artist_key
    wanted = key(artist)
    return any(key(v) == wanted for names in credit_names(candidate) for v in names)


def title_similarity(candidate_title: str, disambiguation: str | None, title: str) -> float:
    wanted = normalize_title(title)
    scores = [similarity(wanted, normalize_title(candidate_title))]
    if disambiguation:
        # Spotify's "Song - Live" is MusicBrainz's "Song" with disambiguation "live".
        scores.append(similarity(wanted, normalize_title(f"{candidate_title} {disambiguation}")))
    return max(scores)


def duration_similarity(length_ms: int | None, duration_ms: int | None) -> float:
    """1 within 2 s, falling linearly to 0 at 20 s; 0.5 when either length is unknown."""
    if length_ms is None or duration_ms is None:
        return 0.5
    delta = abs(length_ms - duration_ms)
    return max(0.0, min(1.0, 1.0 - (delta - 2_000) / 18_000))


def _neutral_if_unknown(value: float | None) -> float:
    # An unknown credit is neither evidence for nor against: 0.5 clears the ISRC/barcode
    # sanity check (the identifier already matched) but never a name search's threshold.
    return 0.5 if value is None else value


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


# --- choosing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scored:
    mbid: str
    score: float
    acceptable: bool
    group_mbid: str | None = None
    tie_key: tuple[Any, ...] = ()


def _best_per_entity(scored: Iterable[_Scored]) -> list[_Scored]:
    best: dict[str, _Scored] = {}
    for item in scored:
        if item.mbid not in best or item.score > best[item.mbid].score:
            best[item.mbid] = item
    return sorted(best.values(), key=lambda s: (-s.score, s.tie_key, s.mbid))


def _decide(scored: Iterable[_Scored], method: Method) -> Match | None:
    ranked = _best_per_entity(scored)
    if not ranked or not ranked[0].acceptable:
        return None
    top = ranked[0]
    for other in ranked[1:]:
        if other.score <= top.score - AMBIGUITY_MARGIN:
            break
        # Near-ties inside one release-group are the same album (e.g. CD and digital sharing a
        # barcode): the tie key (Official first, earliest date) picks one. Across entities a
        # near-tie means we cannot tell, and a wrong MBID is worse than none.
        if top.group_mbid is None or other.group_mbid != top.group_mbid:
            return None
    return Match(top.mbid, method, round(top.score, 4), top.group_mbid)


def _passes(rule: Rule, title_sim: float, artist_sim: float, delta_ms: int | None) -> bool:
    if title_sim < rule.min_title or artist_sim < rule.min_artist:
        return False
    limit = rule.max_duration_delta_ms
    return limit is None or delta_ms is None or delta_ms <= limit


def _track_count(release: Mapping[str, Any]) -> int | None:
    """Total tracks of a release dict: search hits carry `medium-track-count`, lookups media."""
    if "medium-track-count" in release:
        return _int_or_none(release["medium-track-count"])
    media = release.get("medium-list") or []
    counts = [_int_or_none(m.get("track-count")) for m in media]
    return sum(c for c in counts if c is not None) if media and None not in counts else None


def _days_apart(mb_date: object, spotify_date: str | None) -> int:
    """Days between two "YYYY[-MM[-DD]]" dates (missing parts read as mid-period); big if unknown.

    A remaster and its original share a release-group, title and track count; the date tells
    which release Spotify's album is.
    """
    a, b = _as_date(mb_date), _as_date(spotify_date)
    return abs((a - b).days) if a and b else 10**6


def _as_date(value: object) -> date | None:
    parts = str(value or "").split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else 7
        day = int(parts[2]) if len(parts) > 2 else 1
        return date(year, month, day)
    except (ValueError, IndexError):
        return None


def _year(value: object) -> int | None:
    return _int_or_none(str(value)[:4]) if value else None


def count_similarity(mb_count: int | None, spotify_count: int | None) -> float:
    """1 when equal, less the further apart; 0.5 when either is unknown."""
    if mb_count is None or spotify_count is None:
        return 0.5
    return 1.0 - abs(mb_count - spotify_count) / max(mb_count, spotify_count, 1)


def choose_recording(
    candidates: Sequence[Mapping[str, Any]],
    title: str,
    artist: str,
    duration_ms: int | None,
    *,
    method: Method = "search",
) -> Match | None:
    """The recording among `candidates` that is this Spotify track, or None if unsure.

    `artist` is the Spotify primary artist. `method` is "isrc" for the recordings of an ISRC
    lookup (names only sanity-checked) or "search" for search hits (names must agree closely).
    """
    rule = RECORDING_RULES[method]
    scored = []
    for cand in candidates:
        length = _int_or_none(cand.get("length"))
        t_sim = title_similarity(cand.get("title", ""), cand.get("disambiguation"), title)
        a_sim = _neutral_if_unknown(artist_similarity(cand, artist))
        d_sim = duration_similarity(length, duration_ms)
        known = length is not None and duration_ms is not None
        delta = abs(length - duration_ms) if known else None  # type: ignore[operator]
        acceptable = _passes(rule, t_sim, a_sim, delta)
        if rule.artist_equality and cand.get("artist-credit"):
            acceptable = acceptable and credits_artist_equal(cand, artist, rule.artist_equality)
        scored.append(
            _Scored(
                mbid=cand["id"],
                score=0.6 * t_sim + 0.3 * a_sim + 0.1 * d_sim,
                acceptable=acceptable,
            )
        )
    return _decide(scored, method)


_STATUS_SCORE = {"official": 1.0}


def _status_score(status: str | None) -> float:
    if not status:
        return 0.5
    return _STATUS_SCORE.get(status.casefold(), 0.0)


def choose_release(
    candidates: Sequence[Mapping[str, Any]],
    title: str,
    artist: str,
    *,
    barcode: str | None = None,
    track_count: int | None = None,
    release_date: str | None = None,
    method: Method = "search",
) -> Match | None:
    """The release among `candidates` that is this Spotify album, or None if unsure.

    With `method="barcode"` only candidates whose barcode is a variant of `barcode` count.
    `track_count` is the Spotify album's total tracks and `release_date` its "YYYY[-MM[-DD]]"
    date (None: unknown). The Match carries the
    release-group MBID; candidates of one release-group that tie are the same album, so a tie
    among them is broken (closest track count, Official, earliest date, then id).
    """
    rule = RELEASE_RULES[method]
    wanted_codes = set(barcode_variants(barcode)) if barcode else None
    scored = []
    for cand in candidates:
        if wanted_codes is not None and (cand.get("barcode") or "") not in wanted_codes:
            continue
        t_sim = title_similarity(cand.get("title", ""), cand.get("disambiguation"), title)
        a_sim = _neutral_if_unknown(artist_similarity(cand, artist))
        count = _track_count(cand)
        c_sim = count_similarity(count, track_count)
        status = _status_score(cand.get("status"))
        acceptable = _passes(rule, t_sim, a_sim, None)
        if rule.artist_equality and not credits_artist_equal(cand, artist, rule.artist_equality):
            acceptable = False
        if rule.max_track_delta is not None and count is not None and track_count is not None:
            acceptable = acceptable and abs(count - track_count) <= rule.max_track_delta
        mb_year, spotify_year = _year(cand.get("date")), _year(release_date)
        if rule.max_year_delta is not None and mb_year is not None and spotify_year is not None:
            acceptable = acceptable and abs(mb_year - spotify_year) <= rule.max_year_delta
        scored.append(
            _Scored(
                mbid=cand["id"],
                score=0.55 * t_sim + 0.25 * a_sim + 0.1 * c_sim + 0.1 * status,
                acceptable=acceptable,
                group_mbid=(cand.get("release-group") or {}).get("id"),
                tie_key=(-c_sim, _days_apart(cand.get("date"), release_date), -status,
                         cand.get("date") or "9999"),
            )
        )
    return _decide(scored, method)


def choose_artist(
    candidates: Sequence[Mapping[str, Any]],
    name: str,
    *,
    related_mbids: Collection[str] = (),
) -> Match | None:
    """The artist among search `candidates` named `name`, or None if unsure.

    The artist key of the name, an alias or a "Last, First" sort-name must equal `name`'s, and
    namesakes ("Dynamo" x 3) make it ambiguous. `related_mbids` (artists credited on
    recordings already matched for this artist's tracks) breaks such ties: a related namesake
    wins over unrelated ones.
    """
    wanted = normalize_artist(name)
    wanted_key = artist_key(name)
    scored = []
    for cand in candidates:
        variants = [cand.get("name", "")]
        variants += [alias.get("alias") or "" for alias in cand.get("alias-list") or []]
        sort_name = cand.get("sort-name") or ""
        if ", " in sort_name:
            # Only a "Last, First" sort-name is another spelling of the name; a sort-name that
            # is just the name again adds nothing but risk.
            last, first = sort_name.split(", ", 1)
            variants.append(f"{first} {last}")
        n_sim = max(similarity(wanted, normalize_artist(v)) for v in variants)
        exact = any(artist_key(v) == wanted_key for v in variants)
        related = cand["id"] in related_mbids
        scored.append(
            _Scored(
                mbid=cand["id"],
                # Being credited next to this artist's matched recordings is decisive evidence.
                score=n_sim + (AMBIGUITY_MARGIN * 2 if related else 0.0),
                acceptable=n_sim >= ARTIST_RULE.min_title and exact,
            )
        )
    match = _decide(scored, "search")
    if match is None:
        return None
    return Match(match.mbid, "search", round(min(match.score, 1.0), 4))


def artist_from_credit(
    recording: Mapping[str, Any], name: str, method: Method
) -> Match | None:
    """The artist MBID credited on an already matched recording under the Spotify name `name`.

    This costs no request: ISRC lookups and searches carry the artist-credit with ids.
    """
    wanted = normalize_artist(name)
    hits: dict[str, float] = {}
    for credit in recording.get("artist-credit") or []:
        if not isinstance(credit, Mapping):
            continue
        artist = credit.get("artist") or {}
        sims = [similarity(wanted, normalize_artist(v)) for v in credit_names({"artist-credit":
                                                                                [credit]})[0]]
        best = max(sims, default=0.0)
        if artist.get("id") and best >= CREDIT_MIN_SIMILARITY:
            hits[artist["id"]] = max(best, hits.get(artist["id"], 0.0))
    if len(hits) != 1:
        return None
    ((mbid, score),) = hits.items()
    return Match(mbid, method, round(score, 4))
