"""The synthetic world in Python: deterministic, a realistic catalogue, MusicBrainz ground truth
with decoys, five users whose habits really differ, and Spotify-like top lists.

HTTP faces of the world (Web API, exports over the control API) are tested elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import median
from zoneinfo import ZoneInfo

import pytest

from spotify_assets.emulator.world import (
    MbArtist,
    MbRecording,
    MbRelease,
    World,
    WorldConfig,
)
from spotify_assets_tests.emulator.conftest import FIXED_END

OBSERVED_REASON_START = {"trackdone", "clickrow", "fwdbtn", "backbtn", "playbtn", "appload",
                         "remote", "trackerror", "unknown"}
OBSERVED_REASON_END = {"trackdone", "endplay", "fwdbtn", "backbtn", "logout", "unexpected-exit",
                       "unexpected-exit-while-paused", "remote", "trackerror", "unknown"}
ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldConfig(end=FIXED_END))


def _digest(world: World) -> str:
    parts = [repr(sorted(world.tracks.items())), repr(sorted(world.albums.items())),
             repr(world.mb_decoys)]
    parts += [repr(world.plays(u)) for u in world.users]
    return hashlib.sha256("".join(parts).encode()).hexdigest()


# --- determinism and config -----------------------------------------------------------------


def test_same_config_builds_the_same_world() -> None:
    config = WorldConfig(seed=5, end=FIXED_END, days=7, n_artists=30, n_tracks=300)
    first, second = World(config), World(config)
    assert first.tracks == second.tracks
    assert first.albums == second.albums
    assert first.artists == second.artists
    assert first.mb_decoys == second.mb_decoys
    for user in first.users:
        assert first.plays(user) == second.plays(user)
        assert first.export_files(user) == second.export_files(user)


def test_another_seed_builds_another_world() -> None:
    config = WorldConfig(seed=5, end=FIXED_END, days=7, n_artists=30, n_tracks=300)
    other = WorldConfig(seed=6, end=FIXED_END, days=7, n_artists=30, n_tracks=300)
    assert set(World(config).tracks).isdisjoint(World(other).tracks)


def test_world_does_not_depend_on_the_hash_seed() -> None:
    """String hashing is salted per process; a world built from set order would differ."""
    code = (
        "from spotify_assets.emulator.world import World, WorldConfig\n"
        "from spotify_assets_tests.emulator.test_world import _digest\n"
        "from spotify_assets_tests.emulator.conftest import FIXED_END\n"
        "print(_digest(World(WorldConfig(seed=3, end=FIXED_END, days=3, n_artists=20,"
        " n_tracks=150))))\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_end_defaults_to_the_current_hour_in_utc() -> None:
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end = WorldConfig().resolved().end
    after = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert end in (before, after)
    assert end is not None and end.tzinfo is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"days": 0}, "days"),
        ({"n_artists": 3}, "n_artists"),
        ({"n_artists": 50, "n_tracks": 20}, "n_tracks"),
    ],
)
def test_bad_config_is_refused_with_the_field_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorldConfig(**kwargs).resolved()


def test_a_large_world_builds() -> None:
    # How long it takes is a benchmark's business, never a test's.
    large = World(WorldConfig(end=FIXED_END, n_tracks=3000, days=60))
    assert len(large.tracks) == 3000


# --- catalogue ------------------------------------------------------------------------------------


def test_sizes_follow_the_config(world: World) -> None:
    assert len(world.tracks) == world.config.n_tracks
    assert len(world.artists) == world.config.n_artists
    assert all(t.id in world.albums[t.album_id].track_ids for t in world.tracks.values())


def test_isrcs_and_upcs_look_real(world: World) -> None:
    assert all(ISRC.match(t.isrc) for t in world.tracks.values())
    for album in world.albums.values():
        digits = [int(d) for d in album.upc]
        assert len(album.upc) == 12 and album.upc.isdigit()
        assert (sum(digits[0:11:2]) * 3 + sum(digits[1:11:2]) + digits[11]) % 10 == 0
    assert any(a.upc.startswith("0") for a in world.albums.values())
    assert len({a.upc for a in world.albums.values()}) == len(world.albums)


def test_release_kinds(world: World) -> None:
    albums = list(world.albums.values())
    assert any(a.album_type == "single" and len(a.track_ids) == 1 for a in albums)
    assert all(len(a.track_ids) <= 6 for a in albums if a.album_type == "single")
    plain = [a for a in albums if a.album_type == "album" and "(Deluxe Edition)" not in a.name]
    assert plain and all(8 <= len(a.track_ids) <= 14 for a in plain)
    deluxe = [a for a in albums if a.name.endswith("(Deluxe Edition)")]
    assert deluxe and all(
        any(world.tracks[t].disc_number == 2 for t in a.track_ids) for a in deluxe
    )
    compilations = [a for a in albums if a.album_type == "compilation"]
    assert compilations
    isrc_first_album: dict[str, str] = {}
    for album in sorted(albums, key=lambda a: a.release_date):
        for track_id in album.track_ids:
            isrc_first_album.setdefault(world.tracks[track_id].isrc, album.id)
    reused = [t for a in compilations for t in a.track_ids
              if isrc_first_album[world.tracks[t].isrc] != a.id]
    assert reused, "compilations reuse the ISRCs of earlier releases"
    years = {int(a.release_date[:4]) for a in albums}
    assert max(years) - min(years) >= 20


def test_featured_artists_are_credited_and_named(world: World) -> None:
    featured = [t for t in world.tracks.values() if "(feat. " in t.name]
    assert len(featured) > 20
    for track in featured:
        assert len(track.artist_ids) >= 2
        for artist_id in track.artist_ids[1:]:
            assert world.artists[artist_id].name in track.name


def test_remasters_get_new_isrcs_that_musicbrainz_lists_with_the_old(world: World) -> None:
    remasters = [t for t in world.tracks.values() if re.search(r" - Remastered \d{4}$", t.name)]
    assert remasters
    for track in remasters:
        assert re.search(r"\(Remastered \d{4}\)$", world.albums[track.album_id].name)
        base = track.name.rsplit(" - Remastered", 1)[0]
        originals = [t for t in world.tracks.values()
                     if t.name == base and t.artist_ids == track.artist_ids]
        assert originals and all(o.isrc != track.isrc for o in originals)
        if track.mb is not None and track.mb.isrcs:
            assert {track.isrc, originals[0].isrc} <= set(track.mb.isrcs)


def test_names_are_not_all_ascii(world: World) -> None:
    names = [a.name for a in world.artists.values()] + [t.name for t in world.tracks.values()]
    scripts = Counter()
    for name in names:
        for ch in name:
            if ord(ch) > 127:
                scripts[unicodedata.name(ch, "?").split()[0]] += 1
    assert scripts["LATIN"] and scripts["CYRILLIC"]
    assert scripts["CJK"] or scripts["HIRAGANA"] or scripts["KATAKANA"]


def test_followed_artists_released_something_in_the_last_three_weeks(world: World) -> None:
    since = (world.end - timedelta(days=21)).date().isoformat()
    for user in world.users.values():
        recent = [a for a in world.albums.values()
                  if a.release_date >= since and a.artist_ids[0] in user.followed_artist_ids]
        assert len(recent) >= 1, user.id
        assert all(a.release_date <= world.end.date().isoformat() for a in recent)


# --- MusicBrainz truth ----------------------------------------------------------------------------


def _loose(text: str) -> str:
    """A forgiving comparison key (what a careful matcher would do)."""
    text = re.sub(r" \(feat\. .*?\)| - Remastered \d{4}", "", text)
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'").replace(" & ", " and "))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def test_track_truth_shares(world: World) -> None:
    kinds = Counter(world.mb_match_kind[t] for t in world.tracks)
    total = len(world.tracks)
    assert 0.70 <= kinds["isrc"] / total <= 0.88
    assert 0.05 <= kinds["name"] / total <= 0.16
    assert 0.05 <= kinds["absent"] / total <= 0.18


def test_isrc_tracks_list_their_isrc_and_name_tracks_differ_slightly(world: World) -> None:
    differs = 0
    name_tracks = [t for t in world.tracks.values() if world.mb_match_kind[t.id] == "name"]
    for track in world.tracks.values():
        kind = world.mb_match_kind[track.id]
        if kind == "isrc":
            assert track.mb is not None and track.isrc in track.mb.isrcs
        elif kind == "name":
            assert track.mb is not None and track.isrc not in track.mb.isrcs
            assert _loose(track.mb.title) == _loose(track.name)
            differs += track.mb.title != re.sub(r" \(feat\. .*?\)", "", track.name)
        else:
            assert track.mb is None
    assert differs >= 0.8 * len(name_tracks)


def test_album_barcodes_as_is_stripped_or_missing(world: World) -> None:
    kinds = Counter()
    for album in world.albums.values():
        kind = world.mb_match_kind[album.id]
        kinds[kind] += 1
        if kind == "absent":
            assert album.mb is None
            continue
        assert album.mb is not None
        expected = {"barcode": album.upc, "barcode_no_leading_zeros": album.upc.lstrip("0"),
                    "name": None}[kind]
        assert album.mb.barcode == expected
        if kind == "barcode_no_leading_zeros":
            assert album.upc.startswith("0") and album.mb.barcode != album.upc
    assert all(kinds[k] > 0 for k in ("barcode", "barcode_no_leading_zeros", "name", "absent"))


def test_musicbrainz_entities_reference_each_other(world: World) -> None:
    for recording in {t.mb.mbid: t.mb for t in world.tracks.values() if t.mb}.values():
        assert all(r in world.mb_releases for r in recording.release_mbids)
        assert all(a in world.mb_artists for a in recording.artist_mbids)
    for album in world.albums.values():
        if album.mb is not None:
            assert all(r in world.mb_recordings for r in album.mb.recording_mbids)
            assert album.mb.release_group_type in ("Album", "Single", "EP", "Compilation")
    tagged = [a.mb for a in world.artists.values() if a.mb and a.mb.genres]
    assert len(tagged) > 0.7 * len(world.artists)
    for mb in tagged:
        votes = [count for _, count in mb.tags]
        assert votes == sorted(votes, reverse=True)


def test_decoys_look_alike_but_are_never_the_truth(world: World) -> None:
    truth = {t.mb.mbid for t in world.tracks.values() if t.mb}
    truth |= {a.mb.mbid for a in world.albums.values() if a.mb}
    truth |= {a.mb.mbid for a in world.artists.values() if a.mb}
    assert all(d.mbid not in truth for d in world.mb_decoys)
    kinds = Counter(type(d) for d in world.mb_decoys)
    assert kinds[MbArtist] and kinds[MbRecording] and kinds[MbRelease]
    titles = {_loose(t.name) for t in world.tracks.values()
              if world.mb_match_kind[t.id] in ("name", "absent")}
    same_title = [d for d in world.mb_decoys
                  if isinstance(d, MbRecording) and _loose(d.title) in titles]
    assert len(same_title) >= 20, "absent and name-only tracks have same-titled decoys"


# --- plays and habits -----------------------------------------------------------------------------


def test_plays_are_ordered_disjoint_and_inside_the_window(world: World) -> None:
    for user in world.users:
        plays = world.plays(user)
        assert plays, user
        for before, after in pairwise(plays):
            assert before.ended_at <= after.started_at
        assert plays[0].started_at >= world.start and plays[-1].ended_at <= world.end
        assert all(p.ended_at.microsecond % 1000 == 0 for p in plays)


def test_play_fields_use_observed_values(world: World) -> None:
    plays = [p for u in world.users for p in world.plays(u)]
    assert {p.reason_start for p in plays} <= OBSERVED_REASON_START
    assert {p.reason_end for p in plays} <= OBSERVED_REASON_END
    assert {p.platform for p in plays} <= {"android", "ios", "windows", "osx", "web_player"}
    assert all(p.ip_addr.startswith("192.0.2.") for p in plays)
    assert any(p.offline for p in plays) and any(p.incognito for p in plays)
    assert 0 < sum(p.incognito for p in plays) < 0.05 * len(plays)
    assert any(p.shuffle for p in plays) and not all(p.shuffle for p in plays)
    assert any(p.context_uri is None for p in plays)
    assert {p.context_uri.split(":")[1] for p in plays if p.context_uri} >= {"album", "playlist"}


def test_repeats_and_very_short_plays_happen(world: World) -> None:
    plays = world.plays("demo_heavy")
    assert any(a.item_id == b.item_id for a, b in pairwise(plays))
    assert any(p.ms_played < 2000 for p in plays)


def test_tracks_are_played_only_after_release(world: World) -> None:
    for user in world.users:
        for play in world.plays(user):
            if play.kind == "track":
                released = world.albums[world.tracks[play.item_id].album_id].release_date
                assert play.started_at.date().isoformat() >= released


def _short_share(plays: list) -> float:
    music = [p for p in plays if p.kind == "track"]
    return sum(p.ms_played < 30_000 for p in music) / len(music)


def test_the_skipper_skips_and_the_others_less(world: World) -> None:
    skipper = world.plays("demo_skipper")
    assert 0.3 <= _short_share(skipper) <= 0.5
    short = [p for p in skipper if p.kind == "track" and p.ms_played < 30_000]
    assert sum(p.skipped and p.reason_end == "fwdbtn" for p in short) >= 0.9 * len(short)
    for user in ("demo_heavy", "demo_tokyo", "demo_podcast", "demo_light"):
        assert _short_share(world.plays(user)) < 0.2, user


def test_the_heavy_listener_plays_about_twenty_an_hour_while_awake(world: World) -> None:
    tz = ZoneInfo(world.users["demo_heavy"].timezone)
    hours = Counter(p.ended_at.astimezone(tz).replace(minute=0, second=0, microsecond=0)
                    for p in world.plays("demo_heavy"))
    busy = [count for count in hours.values() if count >= 5]
    assert 14 <= median(busy) <= 26
    per_day = len(world.plays("demo_heavy")) / world.config.days
    assert per_day > 4 * len(world.plays("demo_light")) / world.config.days


def test_tokyo_listens_in_tokyo_daytime(world: World) -> None:
    assert world.users["demo_tokyo"].timezone == "Asia/Tokyo"
    tokyo = ZoneInfo("Asia/Tokyo")
    local = [p.ended_at.astimezone(tokyo).hour for p in world.plays("demo_tokyo")]
    assert sum(7 <= h <= 23 for h in local) >= 0.95 * len(local)
    # 15-21 UTC is the Tokyo night: quiet for tokyo, office hours for the New York listener.
    tokyo_night = [p for p in world.plays("demo_tokyo") if 15 <= p.ended_at.hour <= 21]
    assert len(tokyo_night) < 0.02 * len(local)
    heavy = world.plays("demo_heavy")
    assert sum(15 <= p.ended_at.hour <= 21 for p in heavy) > 0.3 * len(heavy)


def test_the_podcast_listener_mostly_listens_to_long_episodes(world: World) -> None:
    plays = world.plays("demo_podcast")
    episodes = [p for p in plays if p.kind == "episode"]
    assert len(episodes) >= 2 * world.config.days
    assert sum(p.ms_played for p in episodes) > 0.5 * sum(p.ms_played for p in plays)
    lengths = [world.episodes[p.item_id].duration_ms for p in episodes]
    assert sum(20 * 60_000 <= d <= 60 * 60_000 for d in lengths) >= 0.8 * len(lengths)
    for user in ("demo_heavy", "demo_skipper", "demo_tokyo", "demo_light"):
        others = world.plays(user)
        assert sum(p.kind == "episode" for p in others) < 0.05 * len(others), user


def test_the_light_listener_plays_a_few_a_day(world: World) -> None:
    per_day = len(world.plays("demo_light")) / world.config.days
    assert 1 <= per_day <= 12


# --- top lists ------------------------------------------------------------------------------------


def _recount(world: World, user: str, kind: str, days: int) -> tuple[Counter, Counter]:
    since = world.end - timedelta(days=days)
    counts, played = Counter(), Counter()
    for play in world.plays(user):
        if play.kind == "track" and play.ms_played >= 30_000 and play.ended_at > since:
            credited = [play.item_id] if kind == "tracks" else world.tracks[play.item_id].artist_ids
            for item in credited:
                counts[item] += 1
                played[item] += play.ms_played
    return counts, played


@pytest.mark.parametrize("kind", ["tracks", "artists"])
def test_top_ranks_by_counted_plays_then_time(world: World, kind: str) -> None:
    for user in world.users:
        top = world.top(user, kind, "short_term")
        counts, played = _recount(world, user, kind, 28)
        assert len(top) == min(50, len(counts))
        keys = [(-counts[i], -played[i], i) for i in top]
        assert keys == sorted(keys)
        leftover = [(-counts[i], -played[i], i) for i in counts if i not in top]
        assert not leftover or keys[-1] < min(leftover)


def test_top_windows_count_only_their_own_days() -> None:
    world = World(WorldConfig(end=FIXED_END, days=60, n_artists=40, n_tracks=400))
    short = world.top("demo_heavy", "tracks", "short_term")
    long = world.top("demo_heavy", "tracks", "long_term")
    assert short != long
    short_counts, _ = _recount(world, "demo_heavy", "tracks", 28)
    assert set(short) <= set(short_counts)


def test_artist_top_credits_featured_artists(world: World) -> None:
    counts, _ = _recount(world, "demo_heavy", "artists", 28)
    featured_only = {a for t in world.tracks.values() for a in t.artist_ids[1:]}
    assert any(a in counts for a in featured_only)
    with pytest.raises(ValueError, match="kind"):
        world.top("demo_heavy", "albums", "short_term")
