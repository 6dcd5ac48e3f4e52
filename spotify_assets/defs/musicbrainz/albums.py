"""`spotify_albums`: the Spotify album bodies MusicBrainz matching needs (UPC, track count).

Tracks carry their ISRC, but an album's UPC is only in `GET /albums/{id}` (the dev-mode API has
no batch lookup), so each album plays or tops mention is fetched once, with any active user's
token, and kept: no album is asked twice. The client's `on_response` hook lands every body in
raw, as for every Spotify call; a run that fetched something lands a receipt per asker first
(each album's bodies and moment, or its 404), which `spotify-assets rebuild` replays in order.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from spotify_assets.defs.musicbrainz.entities import seen_entities
from spotify_assets.defs.musicbrainz.tables import SPOTIFY_ALBUMS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.lake import UNPARTITIONED
from spotify_assets.lib.pseudonyms import who
from spotify_assets.lib.raw import RawStore, recording

log = logging.getLogger(__name__)
DEFAULT_MAX_ALBUMS = 500
ALBUMS_RECIPE = "spotify_albums"


class SpotifyAlbumsConfig(dg.Config):
    """Run config of `spotify_albums`."""

    max_albums: int = DEFAULT_MAX_ALBUMS


def album_row(album: Any, fetched_at: datetime) -> dict[str, Any]:
    """A `spotify_albums` row from a parsed `Album`."""
    credited: dict[str, str] = {}
    tracks = album.tracks.items if album.tracks else []
    for artist in [*album.artists, *(a for t in tracks for a in t.artists)]:
        if artist.id and artist.id not in credited:
            credited[artist.id] = artist.name
    return {
        "album_id": album.id,
        "status": "ok",
        "name": album.name,
        "album_type": (album.album_type or "").lower() or None,
        "upc": album.external_ids.upc if album.external_ids else None,
        "release_date": album.release_date,
        "total_tracks": album.total_tracks,
        "artist_ids": [a.id for a in album.artists if a.id],
        "artist_names": [a.name for a in album.artists if a.id],
        "track_ids": [t.id for t in tracks if t.id],
        "credited_artist_ids": list(credited),
        "credited_artist_names": list(credited.values()),
        "fetched_at": fetched_at,
    }


def missing_row(album_id: str, fetched_at: datetime) -> dict[str, Any]:
    return {"album_id": album_id, "status": "not_found", "fetched_at": fetched_at}


@dataclass
class AlbumAnswer:
    """What one album request gave, for the row and the receipt: `ok` with the bodies (the
    client re-fetches a garbled one), or `not_found` (a 404 lands no body)."""

    album_id: str
    asker: str
    status: str
    fetched_at: datetime
    calls: list = field(default_factory=list)

    def entry(self) -> dict[str, Any]:
        return {"album_id": self.album_id, "status": self.status,
                "fetched_at": self.fetched_at.isoformat(), "calls": self.calls}


def fetch_albums(
    spotify: Any, user_ids: list[str], album_ids: list[str]
) -> tuple[list[dict[str, Any]], list[str], list[AlbumAnswer]]:
    """Rows for `album_ids` (404 -> status not_found), notes on what stopped or failed, and
    the answers the rows were made from (in order).

    Any user's token reads the catalogue; a user who must log in again is skipped for the
    next one. Rate limiting or quota stops the fetch (the rest waits for the next run).
    """
    from spotify_assets.lib.spotify.errors import (
        NotFoundError,
        QuotaExceededError,
        RateLimitDeferred,
        ReauthorizationRequired,
        SpotifyError,
    )

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    answers: list[AlbumAnswer] = []
    users = list(user_ids)
    for album_id in album_ids:
        while users:
            try:
                with recording() as calls:
                    album = spotify.album(users[0], album_id)
            except ReauthorizationRequired as exc:
                # By handle: notes reach the run's log and metadata, kept after `users remove`.
                notes.append(f"{who(users.pop(0))} skipped: {exc}")
                continue
            except NotFoundError:
                answers.append(AlbumAnswer(album_id, users[0], "not_found", datetime.now(UTC)))
                rows.append(missing_row(album_id, answers[-1].fetched_at))
            except (RateLimitDeferred, QuotaExceededError) as exc:
                notes.append(f"stopped after {len(rows)} albums: {exc}")
                return rows, notes, answers
            except SpotifyError as exc:
                notes.append(f"album {album_id} failed, retried next run: {exc}")
            else:
                answers.append(AlbumAnswer(album_id, users[0], "ok", datetime.now(UTC), calls))
                rows.append(album_row(album, answers[-1].fetched_at))
            break
        else:
            notes.append("no active user with a valid login: albums wait")
            return rows, notes, answers
    return rows, notes, answers


def _write(warehouse: Warehouse, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table with `rows` added (an album fetched again replaces its old row)."""
    fetched = {r["album_id"] for r in rows}
    table = [r for r in warehouse.scan(SPOTIFY_ALBUMS).to_pylist() if r["album_id"] not in fetched]
    table += rows
    warehouse.write(SPOTIFY_ALBUMS, table)
    return table


def _land_receipts(raw: RawStore, answers: list[AlbumAnswer]) -> None:
    """One receipt per asker (a user who must log in again hands the rest to the next, so
    each asker's albums are one stretch of the run), filed with that asker's bodies."""
    stretches: list[list[AlbumAnswer]] = []
    for answer in answers:
        if stretches and stretches[-1][0].asker == answer.asker:
            stretches[-1].append(answer)
        else:
            stretches.append([answer])
    for stretch in stretches:
        raw.put_receipt(stretch[0].asker, ALBUMS_RECIPE,
                        [(SPOTIFY_ALBUMS.name, UNPARTITIONED)],
                        albums=[a.entry() for a in stretch])


def replay_albums(settings: Any, warehouse: Warehouse, raw_root: Path, receipt: dict) -> None:
    """Write one receipt's albums again, from their bodies, into the table as the earlier
    receipts left it (`spotify-assets rebuild`)."""
    from spotify_assets.lib.spotify.replay import ReplayClient

    rows = []
    for entry in receipt["albums"]:
        at = datetime.fromisoformat(entry["fetched_at"])
        if entry["status"] == "not_found":
            rows.append(missing_row(entry["album_id"], at))
            continue
        try:
            spotify = ReplayClient.from_receipt(settings, raw_root, entry["calls"])
        except FileNotFoundError:
            # Its bodies went with a removed listener: the next run fetches it again.
            log.warning("rebuild: an album is skipped: its bodies are gone from raw")
            continue
        rows.append(album_row(spotify.album(receipt["user_id"], entry["album_id"]), at))
        spotify.finish(f"album {entry['album_id']}")
    _write(warehouse, rows)


@dg.asset(
    group_name="musicbrainz",
    kinds={"spotify", "parquet"},
    deps=["plays", "polled_plays", "top_tracks"],
)
def spotify_albums(
    context: dg.AssetExecutionContext,
    config: SpotifyAlbumsConfig,
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
    spotify: dg.ResourceParam[Any],
    raw: dg.ResourceParam[RawStore],
) -> dg.MaterializeResult:
    """One row per Spotify album that plays or tops mention: its UPC, track count, date and
    artists from GET /albums/{id}. Each run fetches at most `max_albums` albums not fetched
    yet (most heard first); a 404 is kept as status not_found so it is not asked again."""
    seen = seen_entities(warehouse)
    unfetched = sorted(
        (a for a in seen.albums.values() if a.body is None), key=lambda a: (-a.weight, a.album_id)
    )
    todo = unfetched[: max(0, config.max_albums)]
    active = [u.id for u in users.active_users()]
    rows, notes, answers = (
        fetch_albums(spotify, active, [a.album_id for a in todo]) if todo else ([], [], [])
    )
    for note in notes:
        context.log.warning(note)
    if rows:
        # The receipts first: raw holds whatever the lake holds (rebuild replays them).
        _land_receipts(raw, answers)
        existing = _write(warehouse, rows)
        warehouse.publish()
    else:
        existing = warehouse.scan(SPOTIFY_ALBUMS).to_pylist()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(existing),
            "fetched": len(rows),
            "not_found": sum(r["status"] == "not_found" for r in rows),
            "waiting": len(unfetched) - len(rows),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "none"),
        }
    )
