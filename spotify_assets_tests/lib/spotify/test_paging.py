"""Page consistency checks and cursor helpers (pure functions, no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spotify_assets.lib.spotify.models import Artist, Track
from spotify_assets.lib.spotify.paging import (
    PageProblem,
    cursor_ms,
    describe_problem,
    offset_page_problem,
    parse_followed_page,
    parse_offset_page,
    parse_recent_page,
    unix_ms,
)

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


@pytest.mark.parametrize(
    ("count", "total", "next_url", "offset", "limit"),
    [
        (10, 25, "n", 0, 10),  # full first page
        (5, 25, None, 20, 10),  # last, partial page
        (0, 0, None, 0, 50),  # nothing at all
        (10, None, "n", 0, 10),  # no total, full page with a next
        (3, None, None, 0, 10),  # no total, last page
    ],
)
def test_consistent_pages_pass(count, total, next_url, offset, limit) -> None:
    assert offset_page_problem(count, total, next_url, offset, limit) is None


@pytest.mark.parametrize(
    ("count", "total", "next_url", "offset", "limit", "words"),
    [
        (11, 25, "n", 0, 10, "limit 10"),
        (7, 25, "n", 0, 10, "truncated"),  # short page with more to come
        (3, 25, None, 20, 10, "truncated"),  # last page short of total
        (0, 25, "n", 10, 10, "truncated"),  # empty page mid-way
        (4, None, "n", 0, 10, "truncated"),
    ],
)
def test_inconsistent_pages_are_named(count, total, next_url, offset, limit, words) -> None:
    problem = offset_page_problem(count, total, next_url, offset, limit)
    assert problem is not None and words in problem


def test_recorded_top_page_passes_the_check_when_complete() -> None:
    # The recorded top-tracks page (offset 5, limit 10, total 50) is a real full page.
    body = recorded("data__personalization__simplified__GetUsersTopTracksRequest.json")
    page = parse_offset_page(body, Track, offset=body["offset"], limit=body["limit"])
    assert len(page.items) == body["limit"]


def test_recorded_page_cut_short_is_rejected() -> None:
    body = recorded("data__personalization__simplified__GetUsersTopArtistsRequest.json")
    body["items"] = body["items"][:4]
    with pytest.raises(PageProblem, match="truncated"):
        parse_offset_page(body, Artist, offset=body["offset"], limit=body["limit"])


def test_wrapped_page_and_missing_items() -> None:
    body = recorded("data__personalization__simplified__GetUsersTopArtistsRequest.json")
    page = parse_offset_page({"albums": body}, Artist, offset=5, limit=10, unwrap="albums")
    assert [a.id for a in page.items] == [a["id"] for a in body["items"]]
    with pytest.raises(PageProblem, match="items"):
        parse_offset_page({"albums": {"total": 3}}, Artist, offset=0, limit=10, unwrap="albums")
    with pytest.raises(PageProblem, match="items"):
        parse_offset_page([1, 2], Artist, offset=0, limit=10)


def test_followed_page_with_next_but_few_items_is_truncated() -> None:
    body = recorded("data__follow__GetUsersFollowedArtistsRequest.json")  # 1 item, limit 20, next
    with pytest.raises(PageProblem, match="truncated"):
        parse_followed_page(body, limit=body["artists"]["limit"])
    last = recorded("data__follow__GetUsersFollowedArtistsRequest_None.json")
    assert parse_followed_page(last, limit=10).items == []


def test_recent_page_over_limit_is_rejected() -> None:
    body = recorded("data__player__GetCurrentUsersRecentlyPlayedTracksRequest.json")
    assert len(parse_recent_page(body, limit=2).items) == 2
    with pytest.raises(PageProblem, match="limit 1"):
        parse_recent_page(body, limit=1)


def test_unix_ms_is_exact_and_matches_recorded_cursor() -> None:
    body = recorded("data__player__GetCurrentUsersRecentlyPlayedTracksRequest.json")
    page = parse_recent_page(body, limit=50)
    # Spotify's `after` cursor is the newest play's played_at in ms.
    assert str(unix_ms(page.items[0].played_at)) == body["cursors"]["after"]
    late = datetime(2286, 11, 20, 17, 46, 39, 999000, tzinfo=UTC)
    assert unix_ms(late) == 9_999_999_999_999


@pytest.mark.parametrize(("value", "expected"), [("1695397413750", 1695397413750),
                                                 (None, None), ("abc", None)])
def test_cursor_ms(value, expected) -> None:
    assert cursor_ms(value) == expected


def test_describe_problem_is_short_and_names_the_field() -> None:
    body = recorded("data__tracks__GetTrackRequest.json")
    body["duration_ms"] = "long"
    try:
        Track.model_validate(body)
    except ValueError as exc:
        text = describe_problem(exc)
    assert "duration_ms" in text and len(text) < 200
    try:
        json.loads(b'{"items": [1, 2')
    except ValueError as exc:
        assert describe_problem(exc).startswith("invalid JSON")
