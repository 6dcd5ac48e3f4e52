"""Parsing and sanity checks of one page of a paged Web API answer (pure functions).

A page that contradicts itself (fewer items than `total`/`next` promise, more than `limit`) is
usually a body cut short in transit; the client re-fetches it once and then gives up with
MalformedResponseError instead of silently losing items.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from spotify_assets.lib.spotify.models import FollowedArtistsPage, Paging, RecentlyPlayedPage

M = TypeVar("M", bound=BaseModel)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# No endpoint we page has anywhere near this many pages; a server looping forever stops here.
MAX_PAGES = 500


class PageProblem(ValueError):
    """A body that parsed as JSON but is not a consistent page."""


def parse_offset_page(
    body: Any, model: type[M], *, offset: int, limit: int, unwrap: str | None = None
) -> Paging[M]:
    """Validate an offset page (`unwrap` names a wrapper key such as "albums")."""
    if unwrap is not None:
        body = body.get(unwrap) if isinstance(body, dict) else None
    _require_items_list(body)
    page = Paging[model].model_validate(body)  # type: ignore[valid-type]
    problem = offset_page_problem(len(page.items), page.total, page.next, offset, limit)
    if problem:
        raise PageProblem(problem)
    return page


def offset_page_problem(
    count: int, total: int | None, next_url: str | None, offset: int, limit: int
) -> str | None:
    """Why an offset page of `count` items is inconsistent, or None when it is fine."""
    if count > limit:
        return f"{count} items in a page of limit {limit}"
    if total is not None:
        expected = max(0, min(limit, total - offset))
        if count != expected:
            return (
                f"{count} items at offset {offset} of total {total} (expected {expected}): "
                "page looks truncated"
            )
        return None
    if next_url is not None and count < limit:
        return f"{count} items but a next page is announced (limit {limit}): page looks truncated"
    return None


def parse_followed_page(body: Any, *, limit: int) -> FollowedArtistsPage:
    """Validate one `GET /me/following?type=artist` answer (cursor paging on artist ids)."""
    inner = body.get("artists") if isinstance(body, dict) else None
    _require_items_list(inner)
    page = FollowedArtistsPage.from_response(body)
    count = len(page.items)
    if count > limit:
        raise PageProblem(f"{count} artists in a page of limit {limit}")
    if page.next is not None and count < limit:
        raise PageProblem(f"{count} artists but a next page is announced: page looks truncated")
    return page


def parse_recent_page(body: Any, *, limit: int) -> RecentlyPlayedPage:
    """Validate one recently-played answer."""
    _require_items_list(body)
    page = RecentlyPlayedPage.model_validate(body)
    if len(page.items) > limit:
        raise PageProblem(f"{len(page.items)} plays in a page of limit {limit}")
    return page


def unix_ms(moment: datetime) -> int:
    """Exact Unix milliseconds of an aware datetime (no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def cursor_ms(value: str | None) -> int | None:
    """A recently-played cursor (a string of Unix ms) as int; None when absent or not a number."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def describe_problem(exc: Exception) -> str:
    """A short, secret-free description of why a body was rejected."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{exc.error_count()} invalid field(s), first at {where or 'body'}: {first['msg']}"
    if isinstance(exc, PageProblem):
        return str(exc)
    return f"invalid JSON ({type(exc).__name__}: {str(exc)[:120]})"


def _require_items_list(body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise PageProblem("body has no 'items' list")
