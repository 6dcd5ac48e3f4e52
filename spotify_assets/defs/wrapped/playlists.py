"""The opt-in playlist of a month's top tracks (`spotify-assets users opt-in <id>
wrapped_playlist`): private, one per user and month, made with `lib/spotify/playlists.py`.

- Its tracks are the month's top 25 recordings by minutes (each as its most played track id;
  plays without a track id cannot be added), fixed when the playlist is created: a later
  re-materialization that moves the tops does not edit it, and a re-run asks nothing.
- Only for a month that is over in the user's timezone, and only the last month of a run's
  window: a backfill of a decade must not drop 120 playlists into someone's library.
- State per user and month in `monthly_wrapped_playlists/<month>/<handle>` (the radar keeps its
  playlists the same way), saved before the create and as soon as the id is known: a lost answer
  or a crash never makes a second playlist; a 429 is retried by the client; a 5xx on an add (which
  may have been applied) reads the playlist back and adds only what is missing; a playlist the
  user deleted is `deleted_by_user` and not recreated that month.
"""

import concurrent.futures
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from spotify_assets.defs.partitions import monthly
from spotify_assets.defs.releases.common import UserFailure, classify
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.common import (
    GROUP,
    count_by,
    local_midnight,
    month_key,
    months_in,
    next_month,
    user_partition,
)
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED_PLAYLISTS, MONTHLY_WRAPPED_TOPS
from spotify_assets.lib.pseudonyms import handle_of, who
from spotify_assets.lib.raw import RawStore, receipt_row

OPT_IN = "wrapped_playlist"
PLAYLIST_TRACKS = 25
PLAYLISTS_CHECK = "monthly_wrapped_playlists_users_ok"
POOL = "monthly_wrapped_playlists"
WORKERS = 4
RECIPE = "monthly_wrapped_playlists"


def playlist_name(month: date) -> str:
    return f"Wrapped {month:%B %Y}"


def playlist_marker(month: date) -> str:
    return f"[spotify_assets wrapped {month:%Y-%m}]"


def wanted_uris(tops: list[dict], user_id: str) -> list[str]:
    ranked = sorted(
        (r for r in tops if r["user_id"] == user_id and r["entity"] == "track"),
        key=lambda r: r["rank"],
    )
    return [f"spotify:track:{r['spotify_id']}" for r in ranked if r["spotify_id"]][
        :PLAYLIST_TRACKS
    ]


def _state_of(row: dict | None):
    from spotify_assets.lib.spotify.playlists import PlaylistState

    if row is None or row["status"] == "empty":
        return None
    return PlaylistState(
        row["status"], row["playlist_id"], tuple(row["track_uris"] or ()), row["snapshot_id"]
    )


def _save(warehouse: Warehouse, raw: RawStore, month: date, user: Any, state: Any) -> None:
    """The user's playlist row as the sync leaves it. It records what we did on Spotify, which
    no API read can tell again: its receipt (the row itself) lands first, for the rebuild."""
    row = {
        "month": month,
        "user_id": user.id,
        "status": state.status if state else "empty",
        "playlist_id": state.playlist_id if state else None,
        "name": playlist_name(month),
        "track_uris": list(state.uris) if state else [],
        "snapshot_id": state.snapshot_id if state else None,
        "updated_at": datetime.now(UTC),
    }
    partition = user_partition(month, user.handle)
    raw.put_receipt(user.id, RECIPE, [(MONTHLY_WRAPPED_PLAYLISTS.name, partition)], row=row)
    warehouse.write(MONTHLY_WRAPPED_PLAYLISTS, [row], partition)


def replay(settings: Any, warehouse: Warehouse, raw_root: Path, receipt: dict) -> None:
    """Write one receipt's playlist row again (`spotify-assets rebuild`)."""
    [(_, partition)] = receipt["writes"]
    row = receipt_row(MONTHLY_WRAPPED_PLAYLISTS.schema, receipt["row"])
    warehouse.write(MONTHLY_WRAPPED_PLAYLISTS, [row], partition)


def sync_user_playlist(spotify: Any, warehouse: Warehouse, raw: RawStore, user: Any,
                       month: date, tops: list[dict]) -> str:
    """Ensure the user's playlist of the month; returns what happened (a status word)."""
    from spotify_assets.lib.spotify.playlists import ensure_playlist

    existing = warehouse.scan(
        MONTHLY_WRAPPED_PLAYLISTS, partitions=[user_partition(month, user.handle)]
    ).to_pylist()
    previous = _state_of(existing[0] if existing else None)
    if previous is not None and previous.status in ("synced", "deleted_by_user"):
        return "unchanged" if previous.status == "synced" else "deleted_by_user"
    # An interrupted create or add finishes the list it started with.
    uris = list(previous.uris) if previous is not None else wanted_uris(tops, user.id)
    if previous is None and not uris:
        if not existing:
            _save(warehouse, raw, month, user, None)
        return "empty"
    result = ensure_playlist(
        spotify,
        user.id,
        name=playlist_name(month),
        description=f"Your most played tracks of {month:%B %Y} {playlist_marker(month)}",
        marker=playlist_marker(month),
        uris=uris,
        previous=previous,
        save=lambda state: _save(warehouse, raw, month, user, state),
    )
    # A create whose answer was lost and that was found again made the playlist all the same.
    return "created" if result.created or result.adopted else result.state.status


@dg.asset(
    partitions_def=monthly,
    group_name=GROUP,
    kinds={"spotify", "parquet"},
    deps=["monthly_wrapped_tops"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(PLAYLISTS_CHECK, asset="monthly_wrapped_playlists")],
    # Two runs at once would both see no playlist yet and both create one.
    pool=POOL,
)
def monthly_wrapped_playlists(
    context: dg.AssetExecutionContext,
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
    spotify: dg.ResourceParam[Any],
    raw: dg.ResourceParam[RawStore],
):
    """One row per opted-in user and month: their private playlist of the month's top 25
    tracks, one per user and month (rules in the module docstring). Source:
    `monthly_wrapped_tops`; POST /me/playlists and /playlists/{id}/items."""
    month = months_in(context.partition_time_window)[-1]
    now = datetime.now(UTC)
    opted = [u for u in users.active_users() if OPT_IN in u.opt_ins]
    tops = warehouse.scan(
        MONTHLY_WRAPPED_TOPS, "entity = 'track'", partitions=[month_key(month)]
    ).to_pylist()

    def one(user: Any) -> str | UserFailure:
        from spotify_assets.lib.spotify.errors import SpotifyError

        if now < local_midnight(next_month(month), user.timezone):
            return "month_not_over"
        try:
            return sync_user_playlist(spotify, warehouse, raw, user, month, tops)
        except SpotifyError as exc:
            return classify(user.handle, exc)

    failures: list[UserFailure] = []
    outcomes: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for outcome in pool.map(one, opted):
            if isinstance(outcome, UserFailure):
                failures.append(outcome)
                context.log.warning(
                    f"{who(outcome.user_id)} ({month_key(month)}): {outcome.status}"
                )
                outcome = outcome.status
            outcomes.append(outcome)
    warehouse.publish()
    prefix = f"{month_key(month)}/"
    keys = [k for k in warehouse.partitions(MONTHLY_WRAPPED_PLAYLISTS) if k.startswith(prefix)]
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": warehouse.scan(MONTHLY_WRAPPED_PLAYLISTS, partitions=keys)
            .num_rows,
            "month": month_key(month),
            "opted_in_users": len(opted),
            "outcomes": dg.MetadataValue.json(count_by(outcomes)),
        }
    )
    yield dg.AssetCheckResult(
        check_name=PLAYLISTS_CHECK,
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        description="users whose playlist failed (by handle): "
        + (", ".join(f"{handle_of(f.user_id)} ({f.status})" for f in failures) or "none"),
        metadata={"failed": len(failures)},
    )
