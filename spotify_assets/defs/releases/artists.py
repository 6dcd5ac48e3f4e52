"""Who our users follow (weekly snapshots) and what those artists released (their listings,
fetched once per artist and week however many users follow them)."""

import concurrent.futures
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.checks import users_check
from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.partitions import weekly
from spotify_assets.defs.releases.common import (
    GROUP,
    UserFailure,
    album_url,
    classify,
    radar_week,
    run_sql,
    week_bounds,
    weeks_in,
)
from spotify_assets.defs.releases.tables import (
    ARTIST_RELEASE_FETCHES,
    ARTIST_RELEASES,
    FOLLOWED_ARTISTS,
)
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.pseudonyms import who
from spotify_assets.lib.raw import RawStore, recording
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.spotify.discography import (
    DiscographyFetch,
    KnownDiscography,
    date_span,
    fetch_discography,
)

log = logging.getLogger(__name__)
FOLLOWS_CHECK = "followed_artists_users_ok"
FOLLOWS_RECIPE = "followed_artists"
RELEASES_RECIPE = "artist_releases"
TOP_PLAYED_DAYS = 90
WORKERS = 4


# The enrolled listeners live in the user registry (SQLite with encrypted tokens, not a lake
# table); as an external asset the graph shows that the weekly snapshots start from it.
user_registry = dg.AssetSpec(
    "user_registry",
    group_name="users",
    kinds={"sqlite"},
    description="The enrolled listeners (data/state/users.sqlite3, `spotify-assets users`): "
    "who is pulled, their opt-ins. Maintained by logins and operator commands, not by runs.",
)


def _partition(week: date, user_id: str) -> str:
    return f"{week.isoformat()}/{user_id}"


# --- followed_artists ---------------------------------------------------------------------------


@dg.asset(
    partitions_def=weekly,
    group_name=GROUP,
    kinds={"spotify", "parquet"},
    deps=[user_registry],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(FOLLOWS_CHECK, asset="followed_artists")],
)
def followed_artists(
    context: dg.AssetExecutionContext,
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
    spotify: dg.ResourceParam[Any],
    raw: dg.ResourceParam[RawStore],
):
    """One row per artist a user follows, per weekly snapshot (GET /me/following), kept.

    A user who has the week's snapshot is not asked again (a re-run costs nothing). Spotify only
    tells the present: a range run asks each user once and files the answer under every week of
    the range that lacks one (`fetched_at` says when it was read).
    """
    weeks = weeks_in(context.partition_time_window)
    missing = {
        user.id: [w for w in weeks
                  if not warehouse.has_partition(FOLLOWED_ARTISTS, _partition(w, user.id))]
        for user in users.active_users()
    }
    todo = sorted(uid for uid, lacking in missing.items() if lacking)

    def fetch(user_id: str) -> tuple[str, list | UserFailure, list]:
        from spotify_assets.lib.spotify.errors import SpotifyError

        with recording() as calls:
            try:
                return user_id, spotify.followed_artists(user_id), calls
            except SpotifyError as exc:
                return user_id, classify(user_id, exc), calls

    failures: list[UserFailure] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        answers = list(pool.map(fetch, todo))
    for user_id, answer, calls in answers:
        if isinstance(answer, UserFailure):
            failures.append(answer)
            context.log.warning(f"{who(user_id)}: {answer.status}: {answer.message}")
            continue
        now = datetime.now(UTC)
        weeks_lacking = missing[user_id]
        # The receipt first: raw holds whatever the lake holds (rebuild replays it).
        raw.put_receipt(user_id, FOLLOWS_RECIPE,
                        [(FOLLOWED_ARTISTS.name, _partition(w, user_id)) for w in weeks_lacking],
                        weeks=[w.isoformat() for w in weeks_lacking],
                        fetched_at=now.isoformat(), calls=calls)
        write_follows(warehouse, user_id, answer, weeks_lacking, now)
    warehouse.publish()
    table = read_follows(warehouse, weeks)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.num_rows,
            "weeks": dg.MetadataValue.json([w.isoformat() for w in weeks]),
            "users_asked": len(todo),
            "users_kept": len(missing) - len(todo),
            "users_failed": len(failures),
            "distinct_artists": len(set(table.column("artist_id").to_pylist())),
        }
    )
    yield users_check(
        FOLLOWS_CHECK,
        failures,
        needs_login=[u.id for u in users.list(status="needs_reauth")],
        asset="followed_artists",
    )


def write_follows(warehouse: Warehouse, user_id: str, artists: list, weeks: list[date],
                  at: datetime) -> None:
    for week in weeks:
        rows = [{"week": week, "user_id": user_id, "artist_id": a.id, "artist_name": a.name,
                 "fetched_at": at} for a in artists if a.id]
        warehouse.write(FOLLOWED_ARTISTS, rows, _partition(week, user_id))


def replay_follows(settings: Settings, warehouse: Warehouse, raw_root: Path,
                   receipt: dict) -> None:
    """Write one receipt's follows again, from its bodies (`spotify-assets rebuild`)."""
    from spotify_assets.lib.spotify.replay import ReplayClient

    user_id = receipt["user_id"]
    spotify = ReplayClient.from_receipt(settings, raw_root, receipt["calls"])
    write_follows(warehouse, user_id, spotify.followed_artists(user_id),
                  [date.fromisoformat(w) for w in receipt["weeks"]],
                  datetime.fromisoformat(receipt["fetched_at"]))


def read_follows(warehouse: Warehouse, weeks: list[date]) -> pa.Table:
    prefixes = tuple(f"{w.isoformat()}/" for w in weeks)
    keys = [k for k in warehouse.partitions(FOLLOWED_ARTISTS) if k.startswith(prefixes)]
    return warehouse.scan(FOLLOWED_ARTISTS, partitions=keys)


def top_played(warehouse: Warehouse, week: date, per_user: int) -> pa.Table:
    """(user_id, artist_id, artist_name, rank): each user's `per_user` most played primary
    artists in the 90 days before the week's end (plays with known artist ids)."""
    if per_user <= 0:
        return pa.table({"user_id": pa.array([], pa.string()),
                         "artist_id": pa.array([], pa.string()),
                         "artist_name": pa.array([], pa.string())})
    _, end = week_bounds(week)
    plays = warehouse.scan(PLAYS, "started_at >= ? and started_at < ?",
                           [end - timedelta(days=TOP_PLAYED_DAYS), end])
    return run_sql("top_played_artists.sql", tables={
        "plays": plays, "params": pa.table({"per_user": [per_user]}),
    })


# --- artist_releases ----------------------------------------------------------------------------


@dataclass
class Wanted:
    followers: set[str] = field(default_factory=set)
    top_played_by: set[str] = field(default_factory=set)

    def askers(self, active: set[str]) -> list[str]:
        return sorted((self.followers | self.top_played_by) & active)


def known_discographies(warehouse: Warehouse) -> tuple[dict[str, KnownDiscography], dict]:
    """What every earlier fetch saw, per artist; and each artist's latest fetch row."""
    releases = warehouse.scan(ARTIST_RELEASES).to_pylist()
    fetches = warehouse.scan(ARTIST_RELEASE_FETCHES).to_pylist()
    latest: dict[str, dict] = {}
    for row in sorted(fetches, key=lambda r: (r["week"], r["fetched_at"])):
        latest[row["artist_id"]] = row
    ids: dict[str, set[str]] = defaultdict(set)
    newest: dict[str, dict[str, str]] = defaultdict(dict)
    for row in releases:
        artist, group, when = row["artist_id"], row["album_group"], row["release_date"]
        ids[artist].add(row["album_id"])
        have = newest[artist].get(group)
        if have is None or date_span(when)[1] > date_span(have)[1]:
            newest[artist][group] = when
    known = {}
    for artist, album_ids in ids.items():
        last = latest.get(artist) or {}
        sizes = dict(zip(last.get("group_names") or [], last.get("group_sizes") or [],
                         strict=False))
        known[artist] = KnownDiscography(frozenset(album_ids), newest[artist], sizes)
    return known, latest


def release_rows(fetch: DiscographyFetch, known: KnownDiscography | None, week: date,
                 at: datetime) -> list[dict[str, Any]]:
    """Rows for the items of a fetch that were not known before (first seen this week)."""
    old = known.album_ids if known else frozenset()
    rows = []
    for item in fetch.listed:
        album = item.album
        if not album.id or album.id in old:
            continue
        low, _ = date_span(album.release_date)
        rows.append({
            "first_seen_week": week,
            "artist_id": fetch.artist_id,
            "album_id": album.id,
            "album_group": item.group,
            "album_type": (album.album_type or "").lower() or None,
            "album_name": album.name,
            "release_date": album.release_date,
            "release_date_precision": album.release_date_precision,
            "release_day": None if low == date.min else low,
            "radar_week": radar_week(album.release_date, week),
            "total_tracks": album.total_tracks,
            "album_artist_ids": [a.id for a in album.artists if a.id],
            "album_artist_names": [a.name for a in album.artists],
            "url": album_url(album.id),
            "first_seen_at": at,
        })
    return rows


def fetch_row(fetch: DiscographyFetch, week: date, at: datetime, followers: int,
              top_played_by: int, new: int) -> dict[str, Any]:
    return {
        "week": week, "artist_id": fetch.artist_id, "fetched_at": at, "mode": fetch.mode,
        "requests": fetch.requests, "listed_total": fetch.total,
        "items_read": len(fetch.listed), "new_releases": new,
        "group_names": list(fetch.group_sizes), "group_sizes": list(fetch.group_sizes.values()),
        "ordered": fetch.ordered, "predictions_missed": fetch.predictions_missed,
        "followers": followers, "top_played_by": top_played_by,
    }


@dataclass
class ArtistAnswer:
    """One artist's fetch: the listing (or why not), the asker whose token gave it and the
    requests of that attempt with where their bodies landed (for the receipt)."""

    artist_id: str
    result: DiscographyFetch | UserFailure
    asker: str | None = None
    calls: list = field(default_factory=list)


def _fetch_artist(spotify: Any, artist: str, askers: list[str],
                  known: KnownDiscography | None) -> ArtistAnswer:
    """The artist's listing through the first asker whose token works. Each attempt records
    its own requests (in the worker thread that makes them): the receipt names only the
    attempt that answered."""
    from spotify_assets.lib.spotify.errors import ReauthorizationRequired, SpotifyError

    failure: UserFailure | None = None
    for user_id in askers:
        try:
            with recording() as calls:
                return ArtistAnswer(artist, fetch_discography(spotify, user_id, artist, known),
                                    user_id, calls)
        except ReauthorizationRequired as exc:
            failure = classify(user_id, exc)  # another follower's token may work
        except SpotifyError as exc:
            return ArtistAnswer(artist, classify(user_id, exc))
    return ArtistAnswer(artist, failure or UserFailure(
        "", "error", f"no active user to ask for artist {artist}"))


def _merge(warehouse: Warehouse, spec, rows: list[dict], week: date, key: tuple[str, ...]):
    """The week's partition with `rows` added (a row with the same key replaces the old)."""
    kept = [r for r in warehouse.scan(spec, partitions=[week.isoformat()]).to_pylist()]
    fresh = {tuple(r[k] for k in key) for r in rows}
    merged = [r for r in kept if tuple(r[k] for k in key) not in fresh] + rows
    return warehouse.write(spec, merged, week.isoformat())


def _week_writes(week: date) -> list[tuple[str, str]]:
    return [(spec.name, week.isoformat()) for spec in (ARTIST_RELEASES, ARTIST_RELEASE_FETCHES)]


def _write_week(warehouse: Warehouse, week: date, new_rows: list[dict],
                log_rows: list[dict]) -> None:
    # Both tables are sorted by their spec, so the partition's bytes do not depend on the
    # order its rows were merged in (one run, or its receipts replayed one asker at a time).
    _merge(warehouse, ARTIST_RELEASES, new_rows, week, ("artist_id", "album_id"))
    _merge(warehouse, ARTIST_RELEASE_FETCHES, log_rows, week, ("artist_id",))


def replay_releases(settings: Settings, warehouse: Warehouse, raw_root: Path,
                    receipt: dict) -> None:
    """Fetch one receipt's listings again from their bodies, against what the lake knew of
    each artist before (earlier receipts are replayed first), and merge them into the week
    (`spotify-assets rebuild`)."""
    from spotify_assets.lib.spotify.replay import ReplayClient

    week, at = date.fromisoformat(receipt["week"]), datetime.fromisoformat(receipt["fetched_at"])
    known, _ = known_discographies(warehouse)
    new_rows: list[dict] = []
    log_rows: list[dict] = []
    for entry in receipt["artists"]:
        artist = entry["artist_id"]
        if entry["known"] and artist not in known:
            # The fetches this one built on were made with a removed listener's token (their
            # receipts went with their raw): paging from nothing would ask other pages.
            log.warning("rebuild: an artist listing is skipped: the earlier listings it "
                        "continued are gone from raw (a removed listener's)")
            continue
        spotify = ReplayClient.from_receipt(settings, raw_root, entry["calls"])
        fetch = fetch_discography(spotify, receipt["user_id"], artist, known.get(artist))
        spotify.finish(f"artist {artist}")
        rows = release_rows(fetch, known.get(artist), week, at)
        new_rows += rows
        log_rows.append(fetch_row(fetch, week, at, entry["followers"], entry["top_played_by"],
                                  len(rows)))
    _write_week(warehouse, week, new_rows, log_rows)


@dg.multi_asset(
    name="artist_releases",
    specs=[
        dg.AssetSpec("artist_releases", group_name=GROUP, kinds={"spotify", "parquet"},
                     deps=["followed_artists"],
                     description="One row per release in a fetched artist's listing, filed "
                     "under the week it was first seen."),
        dg.AssetSpec("artist_release_fetches", group_name=GROUP, kinds={"parquet"},
                     deps=["followed_artists"],
                     description="One row per artist listing fetched for a week: paging and "
                     "requests."),
    ],
    partitions_def=weekly,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Read-modify-write of the week's files: two runs of the same week must take turns.
    pool="artist_releases",
)
def artist_releases(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
    spotify: dg.ResourceParam[Any],
    raw: dg.ResourceParam[RawStore],
):
    """Listings (`/artists/{id}/albums`, all four groups) of every artist followed by any user
    in the run's weeks, plus each user's most played ones when RELEASE_RADAR_TOP_PLAYED_ARTISTS
    is set; paging rules in lib/spotify/discography.py. An artist is fetched at most once per
    week: one already fetched for the run's last week (or a later one) is skipped, whoever
    follows it. A range run fetches once, for its last week."""
    weeks = weeks_in(context.partition_time_window)
    week = weeks[-1]
    wanted: dict[str, Wanted] = defaultdict(Wanted)
    for row in read_follows(warehouse, weeks).to_pylist():
        wanted[row["artist_id"]].followers.add(row["user_id"])
    for row in top_played(warehouse, week, settings.radar_top_played_artists).to_pylist():
        wanted[row["artist_id"]].top_played_by.add(row["user_id"])
    known, latest = known_discographies(warehouse)
    done = {a for a, row in latest.items() if row["week"] >= week}
    todo = sorted(a for a in wanted if a not in done)
    active = {u.id for u in users.active_users()}

    def one(artist: str) -> ArtistAnswer:
        return _fetch_artist(spotify, artist, wanted[artist].askers(active), known.get(artist))

    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        answers = list(pool.map(one, todo))
    now = datetime.now(UTC)
    new_rows: list[dict] = []
    log_rows: list[dict] = []
    by_asker: dict[str, list[dict]] = defaultdict(list)
    failed = 0
    for answer in answers:
        artist, fetch = answer.artist_id, answer.result
        if isinstance(fetch, UserFailure):
            failed += 1
            context.log.warning(f"artist {artist}: {fetch.status}: {fetch.message}")
            continue
        counts = len(wanted[artist].followers), len(wanted[artist].top_played_by)
        rows = release_rows(fetch, known.get(artist), week, now)
        new_rows += rows
        log_rows.append(fetch_row(fetch, week, now, *counts, len(rows)))
        assert answer.asker is not None
        by_asker[answer.asker].append({"artist_id": artist, "followers": counts[0],
                                       "top_played_by": counts[1], "calls": answer.calls,
                                       "known": artist in known})
    if log_rows:
        # The receipts first (raw holds whatever the lake holds), one per asker: each holds
        # the artists whose listing came with that asker's token, where those bodies landed.
        for asker, entries in sorted(by_asker.items()):
            raw.put_receipt(asker, RELEASES_RECIPE, _week_writes(week), week=week.isoformat(),
                            fetched_at=now.isoformat(), artists=entries)
        _write_week(warehouse, week, new_rows, log_rows)
        warehouse.publish()
    # The week's rows as the manifest counts them (written now or kept): no file is read.
    written, logged = (sum(e.rows for e in warehouse.lake.entries(spec.name, [week.isoformat()]))
                       for spec in (ARTIST_RELEASES, ARTIST_RELEASE_FETCHES))
    modes: dict[str, int] = defaultdict(int)
    for row in log_rows:
        modes[row["mode"]] += 1
    yield dg.MaterializeResult(
        asset_key="artist_releases",
        metadata={
            "dagster/row_count": written,
            "week": week.isoformat(),
            "artists_wanted": len(wanted),
            "artists_fetched": len(log_rows),
            "artists_already_fetched": len(wanted) - len(todo),
            "artists_failed": failed,
            "new_releases": len(new_rows),
            "artist_album_requests": sum(r["requests"] for r in log_rows),
        },
    )
    yield dg.MaterializeResult(
        asset_key="artist_release_fetches",
        metadata={
            "dagster/row_count": logged,
            "modes": dg.MetadataValue.json(dict(modes)),
            "unordered_listings": modes.get("full_unordered", 0),
            "predictions_missed": sum(r["predictions_missed"] for r in log_rows),
        },
    )
