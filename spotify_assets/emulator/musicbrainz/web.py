"""Starlette glue shared by the handlers: XML responses, MusicBrainz-shaped error responses,
the emulator clock (real UTC time when the state has none) and the `inc` parameter as a set.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from spotify_assets.emulator.musicbrainz.render import error_document

XML_TYPE = "application/xml; charset=utf-8"


# --- HTTP ----------------------------------------------------------------------------------------


def _xml(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=XML_TYPE)


def _error(status: int, *messages: str) -> Response:
    return _xml(error_document(*messages), status)


def _now(state: Any) -> datetime:
    clock = getattr(state, "clock", None)
    now = getattr(clock, "now", None)
    if callable(now):
        value = now()
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _incs(request: Request) -> set[str]:
    raw = request.query_params.get("inc", "")
    return {part for part in re.split(r"[ +]", raw) if part}
