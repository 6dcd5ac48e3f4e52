"""MusicBrainz ws/2 (XML) over the emulator world: ISRC lookup, searches, lookups, 1 req/s.

What it imitates, and from where (see shared/notes/musicbrainz.md):
- Documents in namespace mmd-2.0. Lookups are `<metadata xmlns=...>`; searches add
  `created="..."` and `xmlns:ns2` for the ext namespace with `ns2:score` on each hit, one
  compact line, as the current search server does.
- `GET /ws/2/isrc/{isrc}`: 400 "Invalid isrc." unless `^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`, 404 when
  no recording carries it.
- Searches `GET /ws/2/{entity}/?query=...` (and without the slash): the `field:(value)` terms
  musicbrainzngs sends, Lucene-style OR of terms. A hit needs a shared word (or an exact
  identifier); its raw score is string similarity; scores are then scaled so the best hit is
  100, like Lucene's relative scores, so a client cannot trust the score alone. Release search
  also filters on `date:2026-03` (prefix) or `date:[2026-02-01 TO *]` (inclusive range), as the
  search server's `date` field does; `arid:` with it lists an artist's recent releases.
- Lookups `GET /ws/2/{artist,recording,release,release-group}/{mbid}?inc=...` with tags/genres.
- Rate limit: a client (source IP + User-Agent) asking again less than `min_interval_s` after its
  previous *served* request gets 503; no User-Agent gets 403.
- Test mode (`state.mb_test_mode`): the real recorded XML files in `fixture_dir` (default: the
  repository's copy under spotify_assets_tests/lib/musicbrainz/realdata) are served at
  the paths they came from (`artist/<mbid>-aliases.xml` = `GET /ws/2/artist/<mbid>?inc=aliases`,
  `search-<entity>.xml` = any search of that entity); anything else falls through to the world.

Modules: `state` (per-app `MbServerState`, `mb_state`, `index_of`), `index` (the world's
MusicBrainz entities and search postings), `render` (mmd-2.0 XML), `search` (query parsing and
scoring), `web` (XML and error responses, `inc`, the clock), `ratelimit` (User-Agent and rate
rules), `fixtures` (test mode's recorded files) and `endpoints` (the handlers and `routes`).
Importers use `from spotify_assets.emulator.musicbrainz import ...`.
"""

from __future__ import annotations

from spotify_assets.emulator.musicbrainz.endpoints import routes
from spotify_assets.emulator.musicbrainz.fixtures import fixture_catalogue
from spotify_assets.emulator.musicbrainz.index import MbIndex
from spotify_assets.emulator.musicbrainz.render import MMD_NS as MMD_NS
from spotify_assets.emulator.musicbrainz.search import parse_query, search
from spotify_assets.emulator.musicbrainz.state import MbServerState, mb_state

__all__ = [
    "MbIndex",
    "MbServerState",
    "fixture_catalogue",
    "mb_state",
    "parse_query",
    "routes",
    "search",
]
