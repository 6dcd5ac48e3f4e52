"""Format detection: by content (keys of the first element), the name only as a tie-breaker.

Covers every real sample, renamed files whose names lie, the two name-only distinctions
(legacy account data, video) and inputs that are not Spotify history at all.
"""

from __future__ import annotations

import pytest

from spotify_assets.lib.exports import (
    ExportFormat,
    UnrecognizedExportError,
    detect_format,
    is_history_file_name,
)
from spotify_assets_tests.lib.exports.samples import (
    ACCOUNT_MUSIC,
    ACCOUNT_PODCAST,
    ENDSONG,
    EXTENDED_2023,
    REAL_FILES,
    load_rows,
)


def test_every_real_sample_is_detected_from_its_first_row(real_file):
    first = load_rows(real_file)[0]
    assert detect_format(real_file.name, first) == REAL_FILES[real_file]


@pytest.mark.parametrize(
    ("real", "lying_name", "expected"),
    [
        (EXTENDED_2023, "StreamingHistory_music_0.json", ExportFormat.EXTENDED),
        (ENDSONG, "Streaming_History_Audio_2023.json", ExportFormat.ENDSONG),
        (ACCOUNT_PODCAST, "StreamingHistory_music_3.json", ExportFormat.ACCOUNT_PODCAST),
        (ACCOUNT_MUSIC, "endsong_0.json", ExportFormat.ACCOUNT_MUSIC),
        (ACCOUNT_MUSIC, "notes.json", ExportFormat.ACCOUNT_MUSIC),
    ],
)
def test_content_wins_over_a_lying_name(real, lying_name, expected):
    assert detect_format(lying_name, load_rows(real)[0]) == expected


def test_old_streaminghistory_name_marks_music_rows_as_legacy():
    first = load_rows(ACCOUNT_MUSIC)[0]
    assert detect_format("StreamingHistory0.json", first) == ExportFormat.ACCOUNT_LEGACY
    assert detect_format("StreamingHistory_music_0.json", first) == ExportFormat.ACCOUNT_MUSIC


def test_video_needs_the_name_or_a_video_key():
    first = load_rows(EXTENDED_2023)[0]
    assert detect_format("Streaming_History_Video_2023.json", first) == ExportFormat.VIDEO
    assert detect_format("x.json", {**first, "video_title": "x"}) == ExportFormat.VIDEO
    # A video name on account-data content does not make it video.
    music = load_rows(ACCOUNT_MUSIC)[0]
    assert detect_format("Streaming_History_Video_1.json", music) == ExportFormat.ACCOUNT_MUSIC


@pytest.mark.parametrize(
    ("first", "keys"),
    [({"foo": 1}, ["foo"]), ({"ts": "2023-01-01T00:00:00Z"}, ["ts"]), ({}, [])],
)
def test_unknown_key_sets_are_refused_naming_file_and_keys(first, keys):
    with pytest.raises(UnrecognizedExportError) as caught:
        detect_format("Userdata.json", first)
    assert caught.value.keys_seen == keys
    assert "Userdata.json" in str(caught.value)


def test_a_first_element_that_is_not_an_object_is_refused():
    with pytest.raises(UnrecognizedExportError, match="first array element is a int"):
        detect_format("numbers.json", 1)


@pytest.mark.parametrize(
    ("name", "history"),
    [
        ("Spotify Extended Streaming History/Streaming_History_Audio_2019-2020_2.json", True),
        ("Spotify Extended Streaming History/Streaming_History_Video_2016-2024.json", True),
        ("Spotify Account Data/StreamingHistory_music_0.json", True),
        ("Spotify Account Data/StreamingHistory_podcast_1.json", True),
        ("Spotify Account Data/StreamingHistory_audiobook_0.json", True),
        ("MyData/StreamingHistory0.json", True),
        ("MyData/endsong_0.json", True),
        ("Spotify Account Data/Userdata.json", False),
        ("Spotify Account Data/Playlist1.json", False),
        ("Spotify Account Data/YourLibrary.json", False),
        ("Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf", False),
    ],
)
def test_history_file_names(name, history):
    assert is_history_file_name(name) is history
