"""`spotify_albums`: the Spotify album bodies MusicBrainz matching needs (UPC, track count).

Tracks carry their ISRC, but an album's UPC is only in `GET /albums/{id}` (the dev-mode API has
no batch lookup), so each album plays or tops mention is fetched once, with any active user's
token, and kept: no album is asked twice. The client's `on_response` hook lands every body in
raw, as for every Spotify call.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from spotify_assets.defs.musicbrainz.entities import seen_entities
from spotify_assets.defs.musicbrainz.tables import SPOTIFY_ALBUMS
from spotify_assets.defs.resources import Warehouse

DEFAULT_MAX_ALBUMS = 500


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


def fetch_albums(
    spotify: Any, user_ids: list[str], album_ids: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for `album_ids` (404 -> status not_found), and notes on what stopped or failed.

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
    users = list(user_ids)
    for album_id in album_ids:
        while users:
            try:
                album = spotify.album(users[0], album_id)
            except ReauthorizationRequired as exc:
                notes.append(f"user {users.pop(0)} skipped: {exc}")
                continue
            except NotFoundError:
                rows.append(missing_row(album_id, datetime.now(UTC)))
            except (RateLimitDeferred, QuotaExceededError) as exc:
                notes.append(f"stopped after {len(rows)} albums: {exc}")
                return rows, notes
            except SpotifyError as exc:
                notes.append(f"album {album_id} failed, retried next run: {exc}")
            else:
                rows.append(album_row(album, datetime.now(UTC)))
            break
        else:
            notes.append("no active user with a valid login: albums wait")
            return rows, notes
    return rows, notes


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
    rows, notes = fetch_albums(spotify, active, [a.album_id for a in todo]) if todo else ([], [])
    for note in notes:
        context.log.warning(note)
    existing = warehouse.scan(SPOTIFY_ALBUMS).to_pylist()
    if rows:
        fetched = {r["album_id"] for r in rows}
        existing = [r for r in existing if r["album_id"] not in fetched] + rows
        warehouse.write(SPOTIFY_ALBUMS, existing)
        warehouse.publish()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(existing),
            "fetched": len(rows),
            "not_found": sum(r["status"] == "not_found" for r in rows),
            "waiting": len(unfetched) - len(rows),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "none"),
        }
    )
