"""Admission of each request: no User-Agent gets 403, and a client (source IP + User-Agent)
asking again less than `min_interval_s` after its previous served request gets 503; every
arrival is logged on the per-app state for tests of the client's rate limiting.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from spotify_assets.emulator.musicbrainz.state import Arrival, mb_state
from spotify_assets.emulator.musicbrainz.web import _error

RATE_LIMIT_TEXT = (
    "Your requests are exceeding the allowable rate limit. Please see "
    "https://wiki.musicbrainz.org/XMLWebService for more information."
)


def _admit(state: Any, request: Request) -> Response | None:
    """Apply the User-Agent and rate rules; a Response means refused.

    Requests are counted per endpoint template by the app's middleware, like every other route,
    and switchable faults (e.g. 503 for `/ws/2/*`) are applied there too.
    """
    mbs = mb_state(state)
    now = time.monotonic()
    agent = request.headers.get("user-agent", "").strip()
    client = (request.client.host if request.client else "?", agent)
    with mbs.lock:
        status = 200
        if not agent:
            status = 403
        else:
            last = mbs.last_served.get(client)
            if last is not None and now - last < mbs.min_interval_s:
                status = 503
            else:
                mbs.last_served[client] = now
        mbs.arrivals.append(Arrival(now, client, request.url.path, status))
    if status == 403:
        return _error(403, "User-Agent header required: use 'app/version ( contact )'.")
    if status == 503:
        return _error(503, RATE_LIMIT_TEXT)
    return None
