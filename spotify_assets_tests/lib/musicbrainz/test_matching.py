"""Matching rules on real-world tricky strings and on candidates from the real recorded XML.

Covers normalisation (accents, Japanese scripts, full-width forms, "feat.", remaster/edition
suffixes, "&", apostrophes), barcode variants, and the accept/ambiguous/reject decisions of
choose_recording / choose_release / choose_artist / artist_from_credit. Network-free.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from musicbrainzngs import mbxml

from spotify_assets.lib.musicbrainz.matching import (
    Match,
    artist_from_credit,
    choose_artist,
    choose_recording,
    choose_release,
)
from spotify_assets.lib.musicbrainz.normalize import (
    artist_key,
    barcode_variants,
    clean_title_for_search,
    normalize_artist,
    normalize_title,
)
from spotify_assets.lib.musicbrainz.resolve import SpotifyTrack, match_in_tracklist

REALDATA = Path(__file__).parent / "realdata"


def _parse(relative: str) -> dict:
    return mbxml.parse_message((REALDATA / relative).read_bytes())


def _credit(*names_ids: tuple[str, str], join: str = " & ") -> list:
    credit: list = []
    for position, (name, mbid) in enumerate(names_ids):
        if position:
            credit.append(join)
        credit.append({"artist": {"id": mbid, "name": name, "sort-name": name}})
    return credit


def _recording(mbid: str, title: str, credit: list, length: int | None, **extra) -> dict:
    rec = {"id": mbid, "title": title, "artist-credit": credit, **extra}
    if length is not None:
        rec["length"] = str(length)
    return rec


# --- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spotify", "musicbrainz"),
    [
        ("Hey Jude - Remastered 2015", "Hey Jude"),
        ("Paint It, Black - 2011 Remaster", "Paint It Black"),
        ("Rumours (Deluxe Edition)", "Rumours"),
        ("Abbey Road (Super Deluxe Edition) [Remastered]", "Abbey Road"),
        ("Sgt. Pepper's Lonely Hearts Club Band - Remastered",
         "Sgt. Pepper’s Lonely Hearts Club Band"),
        ("Lose Yourself to Dance (feat. Pharrell Williams)", "Lose Yourself to Dance"),
        ("Love Me Harder (with The Weeknd)", "Love Me Harder"),
        ("Stay ft. Justin Bieber", "Stay"),
        ("Señorita", "Senorita"),
        ("Ｔｏｋｙｏ Ｄｒｉｆｔ", "Tokyo Drift"),
        ("Rock & Roll", "Rock and Roll"),
        ("Straße", "Strasse"),
        ("残酷な天使のﾃｰｾﾞ", "残酷な天使のテーゼ"),  # half-width katakana folds under NFKC
        ('"Heroes" - 2017 Remaster', '"Heroes"'),
    ],
)
def test_normalize_title_makes_spotify_and_musicbrainz_spellings_equal(spotify, musicbrainz):
    assert normalize_title(spotify) == normalize_title(musicbrainz)


@pytest.mark.parametrize(
    ("spotify", "other_recording"),
    [
        ("Bad Guy - Live", "Bad Guy"),
        ("Smells Like Teen Spirit - Live / Remastered", "Smells Like Teen Spirit"),
        ("Despacito - Remix (feat. Justin Bieber)", "Despacito"),
        ("Blue Monday - 1988 Remix", "Blue Monday"),
        ("Dancing with Myself", "Dancing"),  # "with" only strips inside brackets
        ("Yesterday", "Yesterday Once More"),
    ],
)
def test_normalize_title_keeps_what_makes_a_different_recording(spotify, other_recording):
    assert normalize_title(spotify) != normalize_title(other_recording)


def test_normalize_title_never_empties_a_title():
    assert normalize_title("Deluxe Edition") == "deluxe edition"
    assert normalize_title("!!!") == "!!!"
    assert normalize_title("!!!") != normalize_title("???")
    assert normalize_title("🔥") == "🔥"


def test_clean_title_for_search_keeps_script_and_case():
    assert clean_title_for_search("Señorita (feat. X) - Remastered 2019") == "Señorita"
    assert clean_title_for_search("夜に駆ける - Live") == "夜に駆ける - Live"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Beatles, The", "The Beatles"),
        ("Beyoncé", "BEYONCE"),
        ("Simon & Garfunkel", "Simon and Garfunkel"),
        ("Sigur Rós", "Sigur Ros"),
        ("Daft Punk feat. Pharrell Williams", "Daft Punk"),
    ],
)
def test_normalize_artist_equal_spellings(a, b):
    assert normalize_artist(a) == normalize_artist(b)


def test_barcode_variants_cover_leading_zero_forms():
    assert barcode_variants("093624966524") == ["093624966524", "93624966524", "0093624966524"]
    assert barcode_variants("0602537518357") == ["0602537518357", "602537518357"]
    assert barcode_variants("4942463511227") == ["4942463511227"]
    assert barcode_variants(" 0 93624 96652 4 ") == barcode_variants("093624966524")
    assert barcode_variants("") == barcode_variants(None) == barcode_variants("n/a") == []


# --- recordings ----------------------------------------------------------------------------------

SIGUR = "a1000000-0000-4000-8000-000000000001"
TRIBUTE = "a1000000-0000-4000-8000-000000000002"


def test_isrc_shared_by_a_decoy_picks_the_matching_artist():
    right = _recording("r1", "Svefn-g-englar", _credit(("Sigur Rós", SIGUR)), 604_000)
    decoy = _recording("r2", "Svefn-g-englar", _credit(("Sigur Ros Tribute Band", TRIBUTE)),
                       600_000)
    match = choose_recording([decoy, right], "Svefn-g-englar", "Sigur Rós", 603_500,
                             method="isrc")
    assert match is not None and (match.mbid, match.method) == ("r1", "isrc")
    assert 0.95 < match.score <= 1.0


def test_isrc_lookup_from_real_xml_matches_without_artist_credit():
    recordings = _parse("xml-other/musicbrainz-server/isrc/JPA600102460-inc-releases+isrcs.xml")[
        "isrc"]["recording-list"]
    match = choose_recording(recordings, "HELLO! また会おうね (7人祭 version)", "7人祭", 213_000,
                             method="isrc")
    assert match is not None and match.mbid == "487cac92-eed5-4efa-8563-c9a818079b9a"
    # A name search has nothing but names, so an unknown credit is not enough there.
    assert choose_recording(recordings, "HELLO! また会おうね (7人祭 version)", "7人祭", 213_000,
                            method="search") is None


def test_isrc_pointing_at_an_unrelated_song_is_rejected():
    wrong = _recording("r9", "Completely Different Song", _credit(("Someone Else", TRIBUTE)),
                       200_000)
    assert choose_recording([wrong], "Svefn-g-englar", "Sigur Rós", 604_000, method="isrc") is None


def test_search_prefers_studio_over_live_and_cover_by_length_and_artist():
    eilish = "b1000000-0000-4000-8000-000000000001"
    studio = _recording("studio", "bad guy", _credit(("Billie Eilish", eilish)), 194_087)
    live = _recording("live", "bad guy", _credit(("Billie Eilish", eilish)), 221_000,
                      disambiguation="live, 2019-08-25: Reading Festival")
    cover = _recording("cover", "Bad Guy", _credit(("Some Cover Band", TRIBUTE)), 194_000)
    match = choose_recording([cover, live, studio], "bad guy", "Billie Eilish", 194_087)
    assert match is not None and (match.mbid, match.method) == ("studio", "search")


def test_search_with_spotify_decorations_matches_musicbrainz_title_and_credit():
    daft, pharrell = "c1000000-0000-4000-8000-000000000001", "c1000000-0000-4000-8000-000000000002"
    candidate = _recording(
        "lytd", "Lose Yourself to Dance",
        _credit(("Daft Punk", daft), ("Pharrell Williams", pharrell), join=" feat. "), 353_000)
    match = choose_recording([candidate], "Lose Yourself to Dance (feat. Pharrell Williams)",
                             "Daft Punk", 353_893)
    assert match is not None and match.mbid == "lytd"


def test_search_matches_romanised_artist_through_sort_name():
    utada = "d1000000-0000-4000-8000-000000000001"
    candidate = {
        "id": "first-love", "title": "First Love", "length": "257000",
        "artist-credit": [{"artist": {"id": utada, "name": "宇多田ヒカル",
                                      "sort-name": "Utada, Hikaru"}}],
    }
    assert choose_recording([candidate], "First Love", "Hikaru Utada", 257_400).mbid == (
        "first-love")
    assert choose_recording([candidate], "First Love", "宇多田ヒカル", 257_400).mbid == "first-love"


def test_search_refuses_indistinguishable_duplicates():
    credit = _credit(("Queen", "e1000000-0000-4000-8000-000000000001"))
    one = _recording("dup-1", "Bohemian Rhapsody", credit, 354_000)
    two = _recording("dup-2", "Bohemian Rhapsody", credit, 354_500)
    assert choose_recording([one, two], "Bohemian Rhapsody", "Queen", 354_320) is None
    # The same recording listed twice is not ambiguous.
    assert choose_recording([one, dict(one)], "Bohemian Rhapsody", "Queen", 354_320).mbid == (
        "dup-1")


def test_search_rejects_near_titles_and_far_lengths():
    credit = _credit(("Carpenters", "f1000000-0000-4000-8000-000000000001"))
    once_more = _recording("yom", "Yesterday Once More", credit, 239_000)
    assert choose_recording([once_more], "Yesterday", "Carpenters", 239_000) is None
    extended = _recording("ext", "Yesterday", credit, 420_000)
    assert choose_recording([extended], "Yesterday", "Carpenters", 239_000) is None


def test_search_results_from_real_xml_choose_the_right_hit():
    hits = _parse("xml/search-recording.xml")["recording-list"]
    match = choose_recording(hits, "Thief of Hearts", "Dynamo Go", 198_586)
    assert match is not None and match.mbid == "cb4d4d70-930c-4d1a-a157-776de18be66a"
    assert choose_recording(hits, "Thief of Hearts", "Nobody Real", 198_586) is None


# --- releases ------------------------------------------------------------------------------------


def test_barcode_shared_by_official_and_pseudo_release_picks_the_official_in_spotify_script():
    recording = _parse("xml-other/musicbrainz-server/isrc/JPA600102460-inc-releases+isrcs.xml")[
        "isrc"]["recording-list"][0]
    releases = recording["release-list"]
    match = choose_release(releases, "サマーれげぇ!レインボー", "7人祭", barcode="4942463511227",
                           method="barcode")
    assert match is not None and match.mbid == "0385f276-5f4f-4c81-a7a4-6bd7b8d85a7e"
    assert match.method == "barcode"


def test_barcode_mismatch_is_not_considered():
    releases = _parse("xml/search-release.xml")["release-list"]
    assert choose_release(releases, "Affordable Pop Music", "Dynamo Go", barcode="0000000000017",
                          method="barcode") is None
    match = choose_release(releases, "Affordable Pop Music", "Dynamo Go",
                           barcode="9421021463277", method="barcode")
    assert match is not None and match.mbid == "e94757ff-2655-4690-b369-4012beba6114"
    assert match.group_mbid == "6561c223-18e6-3b88-9adc-a701700fc91e"


def _release(mbid: str, title: str, group: str, *, status="Official", date="2000-01-01",
             artist=("Fleetwood Mac", "a2000000-0000-4000-8000-000000000001")) -> dict:
    return {"id": mbid, "title": title, "status": status, "date": date,
            "artist-credit": _credit(artist), "release-group": {"id": group}}


def test_deluxe_edition_matches_the_plain_release_by_search():
    candidate = _release("rumours", "Rumours", "rg-rumours")
    match = choose_release([candidate], "Rumours (Super Deluxe)", "Fleetwood Mac")
    assert match is not None and match.group_mbid == "rg-rumours"


def test_tie_inside_one_release_group_picks_official_then_earliest():
    later = _release("cd-2004", "Rumours", "rg-rumours", date="2004-03-22")
    earlier = _release("cd-1977", "Rumours", "rg-rumours", date="1977-02-04")
    bootleg = _release("boot", "Rumours", "rg-rumours", status="Bootleg", date="1970-01-01")
    match = choose_release([later, bootleg, earlier], "Rumours", "Fleetwood Mac")
    assert match is not None and match.mbid == "cd-1977"


def test_track_count_and_date_tell_deluxe_and_remaster_from_the_original():
    original = {**_release("orig", "Rumours", "rg-rumours", date="1977-02-04"),
                "medium-track-count": 11}
    deluxe = {**_release("deluxe", "Rumours", "rg-rumours", date="2013-01-28"),
              "medium-track-count": 38}
    remaster = {**_release("remaster", "Rumours", "rg-rumours", date="2004-03-22"),
                "medium-track-count": 11}
    candidates = [original, deluxe, remaster]
    assert choose_release(candidates, "Rumours (Super Deluxe)", "Fleetwood Mac",
                          track_count=38, release_date="2013-01-28").mbid == "deluxe"
    assert choose_release(candidates, "Rumours (Remastered)", "Fleetwood Mac",
                          track_count=11, release_date="2004-03-22").mbid == "remaster"
    # A deluxe edition MusicBrainz does not have is not the standard release.
    assert choose_release([original, remaster], "Rumours (Deluxe)", "Fleetwood Mac",
                          track_count=38, release_date="2013-01-28") is None
    # Nor is a same-named single from another year.
    single = {**_release("single", "Dreams", "rg-dreams", date="1977-04-01"),
              "medium-track-count": 2}
    assert choose_release([single], "Dreams", "Fleetwood Mac", track_count=2,
                          release_date="1995-01-01") is None


def test_release_and_artist_searches_refuse_look_alike_artists():
    lookalike = {**_release("x", "Nightfall", "rg-x", artist=("Nova!", "a-nova-bang")),
                 "medium-track-count": 10}
    assert choose_release([lookalike], "Nightfall", "Nova", track_count=10) is None
    assert artist_key("Nova!") != artist_key("Nova")
    assert artist_key("The Faded Windows") != artist_key("Faded Windows")
    assert artist_key("Beatles, The") == artist_key("the beatles")
    assert artist_key("Simon & Garfunkel") == artist_key("Simon and Garfunkel")
    hits = [{"id": "a1", "name": "Faded Windows", "sort-name": "Faded Windows"}]
    assert choose_artist(hits, "The Faded Windows") is None
    assert choose_artist(hits, "Faded Windows").mbid == "a1"


def test_recording_search_needs_the_same_artist_not_a_similar_one():
    velvet = _recording("vf", "Burn Me Tonight", _credit(("The Velvet Fevers", "a-vf")), 270_070)
    assert choose_recording([velvet], "Burn Me Tonight", "Velvet Fever", 269_961) is None
    assert choose_recording([velvet], "Burn Me Tonight", "Velvet Fevers", 269_961).mbid == "vf"


def test_cjk_titles_differing_by_one_character_are_different_songs():
    credit = _credit(("高橋ハルカ", "a-hh"))
    star = _recording("star", "さよなら星", credit, 200_000)
    cherry = _recording("cherry", "さよなら桜", credit, 200_500)
    assert choose_recording([cherry, star], "さよなら星", "高橋ハルカ", 200_100).mbid == "star"
    assert normalize_title("Звёздная песня") == normalize_title("Звездная песня")


def test_tracks_are_matched_inside_the_matched_release_tracklist():
    credit = _credit(("Fleetwood Mac", "a-fm"))
    tracklist = [
        {**_recording("r-dreams", "Dreams", credit, 257_000), "isrc-list": ["USWB10400049"]},
        _recording("r-chain", "The Chain", credit, 270_000),  # no ISRC in MusicBrainz
    ]
    album = Match("rel-rumours", "barcode", 1.0, "rg-rumours")
    by_isrc = match_in_tracklist(
        tracklist, SpotifyTrack("Dreams - 2004 Remaster", ["Fleetwood Mac"], 257_800,
                                "USWB10400049"), album)
    assert (by_isrc.recording.mbid, by_isrc.recording.method) == ("r-dreams", "isrc")
    assert by_isrc.artists["Fleetwood Mac"].mbid == "a-fm"
    by_name = match_in_tracklist(
        tracklist, SpotifyTrack("The Chain", ["Fleetwood Mac"], 270_500, "USWB19900001"), album)
    assert (by_name.recording.mbid, by_name.recording.method) == ("r-chain", "barcode")
    missing = match_in_tracklist(
        tracklist, SpotifyTrack("Songbird", ["Fleetwood Mac"], 200_000, None), album)
    assert missing.recording is None


def test_tie_across_release_groups_is_ambiguous():
    a = _release("gh-1981", "Greatest Hits", "rg-gh-1", artist=("Queen", "q1"))
    b = _release("gh-2004", "Greatest Hits", "rg-gh-2", artist=("Queen", "q1"))
    assert choose_release([a, b], "Greatest Hits", "Queen") is None


# --- artists -------------------------------------------------------------------------------------


def test_artist_search_from_real_xml_accepts_unique_name_and_refuses_namesakes():
    hits = _parse("xml/search-artist.xml")["artist-list"]
    match = choose_artist(hits, "Dynamo Go")
    assert match is not None and match.mbid == "952a4205-023d-4235-897c-6fdb6f58dfaa"
    assert choose_artist(hits, "Dynamo") is None  # several artists are called exactly that
    finnish = "ee768530-0582-41ff-b461-f52a9d81ba14"
    assert choose_artist(hits, "Dynamo", related_mbids={finnish}).mbid == finnish


def test_artist_from_credit_finds_the_featured_artist_without_a_request():
    queen, bowie = "q-0000", "b-0000"
    credit = _credit(("Queen", queen), ("David Bowie", bowie))
    recording = _recording("up", "Under Pressure", credit, 248_000)
    assert artist_from_credit(recording, "David Bowie", "isrc").mbid == bowie
    assert artist_from_credit(recording, "Queen", "isrc").mbid == queen
    assert artist_from_credit(recording, "Freddie Mercury", "isrc") is None
