"""New releases every 6 hours, kept as a listing history (`album_appearances`).

Extended-quota apps read Spotify's `/browse/new-releases`. Development-mode apps get 403 there
(removed February 2026): the run says so once (log and metadata) and lists instead what
MusicBrainz has released in the last 4 weeks by the artists our users play (as ListenBrainz's
fresh releases do), through the MusicBrainz client (1 request/s) and the enrichment cache (one
question per artist and day). Either way each listed album is one row with its source, position
and the slot it was seen in, so "since when is this album listed" is a `min(seen_at)`.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import time as epoch_now
from typing import Any

import dagster as dg

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.musicbrainz.assets import cache_path
from spotify_assets.defs.musicbrainz.cache import MbCache
from spotify_assets.defs.musicbrainz.tables import MB_ARTISTS, MB_RELEASES
from spotify_assets.defs.releases.common import GROUP, run_sql
from spotify_assets.defs.releases.tables import ALBUM_APPEARANCES
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.raw import APP_RECEIPTS, RawStore, recording
from spotify_assets.lib.settings import Settings

SLOT_HOURS = 6
SPOTIFY_SOURCE = "spotify_new_releases"
MB_SOURCE = "musicbrainz_recent"
LISTENED_DAYS = 90
FRESH_DAYS = 28
MAX_MB_ARTISTS = 100
RECIPE = "album_appearances"


class AlbumAppearancesConfig(dg.Config):
    """Run config: `slot` is the snapshot's 6-hour slot (ISO time; the schedule passes its
    tick). Empty: the slot now is in (a manual run)."""

    slot: str = ""


def slot_of(config: AlbumAppearancesConfig) -> datetime:
    moment = datetime.fromisoformat(config.slot) if config.slot else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError(f"slot needs a timezone: {config.slot!r}")
    moment = moment.astimezone(UTC)
    return moment.replace(hour=moment.hour - moment.hour % SLOT_HOURS, minute=0, second=0,
                          microsecond=0)


def slot_key(slot: datetime) -> str:
    return slot.strftime("%Y-%m-%dT%H")


def spotify_rows(albums: list, slot: datetime) -> list[dict[str, Any]]:
    return [
        {
            "seen_at": slot, "source": SPOTIFY_SOURCE, "position": position,
            "album_key": f"spotify:{album.id}", "album_id": album.id, "release_mbid": None,
            "release_group_mbid": None, "name": album.name,
            "artist_names": [a.name for a in album.artists], "release_date": album.release_date,
            "album_type": (album.album_type or "").lower() or None,
        }
        for position, album in enumerate((a for a in albums if a.id), start=1)
    ]


def listened_artist_mbids(warehouse: Warehouse, slot: datetime) -> tuple[list[str], int]:
    """MBIDs of the artists our users played most in the 90 days before the slot (by
    listeners, then plays; at most MAX_MB_ARTISTS); and how many had no MBID yet."""
    plays = warehouse.scan(PLAYS, "started_at >= ? and started_at < ?",
                           [slot - timedelta(days=LISTENED_DAYS), slot])
    ranked = run_sql("listened_artists.sql", tables={"plays": plays})
    matched = {
        r["artist_id"]: r["artist_mbid"]
        for r in warehouse.scan(MB_ARTISTS, "status = 'matched'").to_pylist()
    }
    ids = ranked.column("artist_id").to_pylist()
    mbids = list(dict.fromkeys(matched[a] for a in ids if a in matched))[:MAX_MB_ARTISTS]
    return mbids, sum(1 for a in ids if a not in matched)


def _window(slot: datetime) -> tuple[str, str]:
    until = slot.date()
    return (until - timedelta(days=FRESH_DAYS)).isoformat(), until.isoformat()


def recent_releases(mbids: list[str], slot: datetime, cache: MbCache,
                    musicbrainz: Any | None) -> tuple[dict[str, dict], int]:
    """Each artist's releases of the 4 weeks before the slot, from the cache or (when given a
    client) asked once and cached; and how many were asked."""
    since, until = _window(slot)
    asked = 0
    releases: dict[str, dict] = {}
    for mbid in mbids:
        key = f"releases_by_artist:{mbid}:{since}:{until}"
        hit, answer = cache.response(key)
        if not hit:
            if musicbrainz is None:
                raise LookupError(f"the MusicBrainz cache lacks {key}")
            answer = musicbrainz.releases_by_artist_between(mbid, since, until)
            cache.put_response(key, answer, epoch_now())
            asked += 1
        for release in answer or []:
            releases.setdefault(release["id"], release)
    return releases, asked


def release_rows(releases: dict[str, dict], to_spotify: dict[str, str],
                 slot: datetime) -> list[dict[str, Any]]:
    ordered = sorted(releases.values(),
                     key=lambda r: (r.get("date") or "", r.get("title") or "", r["id"]))
    ordered.reverse()
    rows = []
    for position, release in enumerate(ordered, start=1):
        group = release.get("release-group") or {}
        rows.append({
            "seen_at": slot, "source": MB_SOURCE, "position": position,
            "album_key": f"mb:{group.get('id') or release['id']}",
            "album_id": to_spotify.get(release["id"]), "release_mbid": release["id"],
            "release_group_mbid": group.get("id"), "name": release.get("title"),
            "artist_names": [c["artist"]["name"] for c in release.get("artist-credit", [])
                             if isinstance(c, dict) and "artist" in c],
            "release_date": release.get("date"),
            "album_type": (group.get("primary-type") or group.get("type") or "").lower() or None,
        })
    return rows


def musicbrainz_rows(
    warehouse: Warehouse, musicbrainz: Any, cache: MbCache, slot: datetime
) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, Any]]:
    """The rows, the run's counts, and what the run decided from the lake as it was (which
    artists, which releases matched a Spotify album): the receipt a rebuild replays."""
    mbids, without_mbid = listened_artist_mbids(warehouse, slot)
    releases, asked = recent_releases(mbids, slot, cache, musicbrainz)
    to_spotify = {
        r["release_mbid"]: r["album_id"]
        for r in warehouse.scan(MB_RELEASES, "status = 'matched'").to_pylist()
        if r["release_mbid"] in releases
    }
    stats = {"artists_asked_about": len(mbids), "musicbrainz_requests": asked,
             "artists_without_mbid": without_mbid}
    return release_rows(releases, to_spotify, slot), stats, {
        "mbids": mbids, "to_spotify": to_spotify}


def replay(settings: Settings, warehouse: Warehouse, raw_root: Path, receipt: dict) -> None:
    """Write one receipt's snapshot again (`spotify-assets rebuild`): Spotify's listing from
    its landed bodies, or MusicBrainz's from the cache with the run's own decisions."""
    from spotify_assets.lib.spotify.replay import ReplayClient

    slot = datetime.fromisoformat(receipt["slot"])
    rows: list[dict[str, Any]] = []
    if receipt["answer"] == "spotify":
        spotify = ReplayClient.from_receipt(settings, raw_root, receipt["calls"])
        rows = spotify_rows(spotify.new_releases(receipt["user_id"]), slot)
    elif receipt["answer"] == "development_mode":
        with MbCache(cache_path(settings)) as cache:
            releases, _ = recent_releases(receipt["mbids"], slot, cache, None)
        rows = release_rows(releases, receipt["to_spotify"], slot)
    warehouse.write(ALBUM_APPEARANCES, rows, slot_key(slot))


def ask_new_releases(spotify: Any, user_ids: list[str]) -> tuple[str, list, str | None]:
    """("spotify", albums, who answered), ("development_mode", [], None) on 403, or
    ("no_user", [], None). The endpoint is the app's, not a user's: one user whose token works
    is asked, once."""
    from spotify_assets.lib.spotify.errors import EndpointRemovedError, ReauthorizationRequired

    for user_id in user_ids:
        try:
            return "spotify", spotify.new_releases(user_id), user_id
        except EndpointRemovedError:
            return "development_mode", [], None
        except ReauthorizationRequired:
            continue
    return "no_user", [], None


@dg.asset(
    group_name=GROUP,
    kinds={"spotify", "musicbrainz", "parquet"},
    deps=["plays", "mb_artists", "mb_releases"],
)
def album_appearances(
    context: dg.AssetExecutionContext,
    config: AlbumAppearancesConfig,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
    spotify: dg.ResourceParam[Any],
    musicbrainz: dg.ResourceParam[Any],
    raw: dg.ResourceParam[RawStore],
) -> dg.MaterializeResult:
    """One row per album listed in one 6-hour new-releases snapshot (source, position,
    seen_at); rules in the module docstring. Re-running a slot replaces its snapshot."""
    slot = slot_of(config)
    metadata: dict[str, Any] = {"slot": slot.isoformat()}
    rows: list[dict[str, Any]] = []
    active = [u.id for u in users.active_users()]
    with recording() as calls:
        answer, albums, asker = ask_new_releases(spotify, active)
    decided: dict[str, Any] = {}
    if answer == "spotify":
        rows = spotify_rows(albums, slot)
        metadata["source"] = SPOTIFY_SOURCE
    elif answer == "development_mode":
        context.log.info(
            "GET /browse/new-releases answers 403: this app is in development mode, where "
            "Spotify removed it (February 2026). Listing recent MusicBrainz releases of the "
            "artists our users play instead."
        )
        metadata["source"] = MB_SOURCE
        metadata["new_releases_endpoint"] = "403: removed in development mode"
        with MbCache(cache_path(settings)) as cache:
            rows, stats, decided = musicbrainz_rows(warehouse, musicbrainz, cache, slot)
        metadata.update(stats)
    else:
        metadata["source"] = "none (no user whose token works to ask Spotify with)"
    # The receipt first (raw holds whatever the lake holds): Spotify's answer landed under the
    # listener who asked; a MusicBrainz listing is the app's.
    raw.put_receipt(asker or APP_RECEIPTS, RECIPE, [(ALBUM_APPEARANCES.name, slot_key(slot))],
                    slot=slot.isoformat(), answer=answer,
                    calls=calls if answer == "spotify" else [], **decided)
    table = warehouse.write(ALBUM_APPEARANCES, rows, slot_key(slot))
    warehouse.publish()
    history = warehouse.scan(ALBUM_APPEARANCES)
    metadata.update({
        "dagster/row_count": table.rows,
        "snapshots_kept": len(set(history.column("seen_at").to_pylist())),
        "distinct_albums_ever": len(set(history.column("album_key").to_pylist())),
    })
    return dg.MaterializeResult(metadata=metadata)
