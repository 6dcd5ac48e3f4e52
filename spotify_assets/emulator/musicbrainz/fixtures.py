"""Test mode: the real recorded MusicBrainz XML files (by default the repository's copy under
spotify_assets_tests/lib/musicbrainz/realdata), catalogued by the request each file name
describes and served at the path it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from spotify_assets.emulator.musicbrainz.state import MbServerState
from spotify_assets.emulator.musicbrainz.web import _error, _incs, _xml

# --- test mode: the recorded real responses ------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """A recorded response and the request it answers."""

    path: Path
    entity: str
    entity_id: str | None  # None: any search of `entity`
    incs: frozenset[str]


def fixture_catalogue(directory: Path) -> list[Fixture]:
    """Every recorded XML under `directory`, keyed by the request its name describes."""
    found = []
    for path in sorted(directory.rglob("*.xml")):
        entity = path.parent.name
        stem = path.stem
        if stem.startswith("search-"):
            found.append(Fixture(path, stem.removeprefix("search-"), None, frozenset()))
        elif entity == "isrc":
            code, _, inc = stem.partition("-inc-")
            found.append(Fixture(path, "isrc", code, frozenset(inc.split("+")) - {""}))
        elif entity == "discid":
            found.append(Fixture(path, "discid", stem, frozenset()))
        else:
            mbid, inc = stem[:36], stem[37:]
            found.append(Fixture(path, entity, mbid, frozenset(inc.split("+")) - {""}))
    return found


# The repository's copy of shared/realdata/musicbrainz (test mode exists for the tests).
DEFAULT_FIXTURE_DIR = (
    Path(__file__).resolve().parents[3]
    / "spotify_assets_tests"
    / "lib"
    / "musicbrainz"
    / "realdata"
)


def _fixture_response(mbs: MbServerState, request: Request) -> Response | None:
    directory = mbs.fixture_dir or DEFAULT_FIXTURE_DIR
    if not directory.is_dir():
        return _error(
            500,
            f"Emulator test mode: no recorded MusicBrainz files in {directory}; "
            "set state.musicbrainz.fixture_dir.",
        )
    parts = request.url.path.removeprefix("/ws/2/").split("/")
    entity = parts[0]
    entity_id = parts[1] if len(parts) > 1 and parts[1] else None
    incs = frozenset(_incs(request))
    for fixture in fixture_catalogue(directory):
        if fixture.entity != entity or fixture.entity_id != entity_id:
            continue
        if entity_id is None or fixture.incs == incs:
            return _xml(fixture.path.read_bytes())
    return None
