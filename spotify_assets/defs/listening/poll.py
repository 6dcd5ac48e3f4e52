"""Polling recently-played for every active user, every 30 minutes."""

import concurrent.futures
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from spotify_assets.defs.listening.history import STALE_SCOPE
from spotify_assets.defs.listening.tables import POLLED_PLAYS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

SOURCE = "recently_played"
# Spotify keeps only ~50 plays reachable: a poll that returns that many may have missed some.
REACHABLE_PLAYS = 50
USERS_CHECK = "users_can_be_polled"


@dataclass
class UserPoll:
    user_id: str
    status: str  # ok | needs_reauth | deferred | error | removed
    new_plays: int = 0
    possible_loss: bool = False
    message: str = ""
    days: set[str] = field(default_factory=set)


def _rows(user_id: str, items: list, polled_at: datetime) -> "pd.DataFrame":
    import pandas as pd

    records = []
    for item in items:
        track = item.track
        album = track.album
        records.append(
            {
                "user_id": user_id,
                "played_at": item.played_at,
                "track_id": track.id,
                "track_uri": track.uri,
                "track_name": track.name,
                "artist_names": [a.name for a in track.artists],
                "artist_ids": [a.id for a in track.artists if a.id],
                "album_id": album.id if album else None,
                "album_name": album.name if album else None,
                "album_type": album.album_type if album else None,
                "duration_ms": track.duration_ms,
                "isrc": track.external_ids.isrc if track.external_ids else None,
                "explicit": track.explicit,
                "context_type": item.context.type if item.context else None,
                "context_uri": item.context.uri if item.context else None,
                "polled_at": polled_at,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=POLLED_PLAYS.column_names)
    frame["played_at"] = pd.to_datetime(frame["played_at"], utc=True)
    frame["polled_at"] = pd.to_datetime(frame["polled_at"], utc=True).dt.floor("ms")
    return frame


def _upsert(warehouse: Warehouse, user_id: str, new: "pd.DataFrame") -> set[str]:
    """Merge new polled plays into their per-user, per-day files; return days that changed."""
    import pandas as pd

    changed = set()
    for day, rows in new.groupby(new["played_at"].dt.date):
        key = f"{user_id}/{day.isoformat()}"
        existing = warehouse.scan(POLLED_PLAYS, partitions=[key]).to_pandas()
        merged = pd.concat([existing, rows], ignore_index=True) if len(existing) else rows
        # A re-poll of the same window sees the same plays: the first sighting is kept.
        merged = merged.drop_duplicates(["user_id", "played_at", "track_id"], keep="first")
        if len(merged) != len(existing):
            # The day's history tables are stale from this very commit on.
            warehouse.write(POLLED_PLAYS, merged, key, stale={STALE_SCOPE: [day.isoformat()]})
            changed.add(day.isoformat())
    return changed


def poll_user(spotify, users, warehouse: Warehouse, user_id: str) -> UserPoll:
    from spotify_assets.lib.spotify.errors import (
        QuotaExceededError,
        RateLimitDeferred,
        ReauthorizationRequired,
        SpotifyError,
    )
    from spotify_assets.lib.users.registry import UnknownUserError

    now = datetime.now(UTC)
    try:
        _, cursor = users.pull_state(user_id, SOURCE)
        after_ms = int(cursor) if cursor else None
        page = spotify.recently_played(user_id, after_ms=after_ms)
    except UnknownUserError:
        return UserPoll(user_id, "removed", message="removed while the run was going")
    except ReauthorizationRequired as exc:
        return UserPoll(user_id, "needs_reauth", message=str(exc))
    except (RateLimitDeferred, QuotaExceededError) as exc:
        return UserPoll(user_id, "deferred", message=str(exc))
    except SpotifyError as exc:
        return UserPoll(user_id, "error", message=str(exc))
    days = _upsert(warehouse, user_id, _rows(user_id, page.items, now)) if page.items else set()
    try:
        users.record_pull(user_id, SOURCE, now, cursor=page.cursors.after)
    except UnknownUserError:
        return UserPoll(user_id, "removed", message="removed while the run was going")
    return UserPoll(
        user_id,
        "ok",
        new_plays=len(page.items),
        days=days,
        # A first poll cannot know; later ones may have been outrun by a heavy listener.
        possible_loss=after_ms is not None and len(page.items) >= REACHABLE_PLAYS,
    )


def _report(polls: list[UserPoll]) -> str:
    lines = ["| user | status | new plays | possible loss | note |", "|---|---|---|---|---|"]
    for p in polls:
        loss = "**yes**" if p.possible_loss else ""
        lines.append(f"| {p.user_id} | {p.status} | {p.new_plays} | {loss} | {p.message} |")
    return "\n".join(lines)


@dg.asset(
    group_name="listening",
    check_specs=[dg.AssetCheckSpec(USERS_CHECK, asset="polled_plays")],
    kinds={"spotify", "parquet"},
)
def polled_plays(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
    spotify: dg.ResourceParam[object],
) -> dg.MaterializeResult:
    """One row per play seen by polling recently-played (tracks >= 30 s), per user and day.

    Each run asks every active user's plays after their cursor, lands the bodies in raw, and
    merges new plays into `polled_plays/<user>/<day>.parquet`. One user's failure never stops
    the others: it is reported, and the check turns red naming them.
    """
    active = [u.id for u in users.active_users()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        polls = list(pool.map(lambda uid: poll_user(spotify, users, warehouse, uid), active))
    for p in polls:
        if p.status != "ok":
            context.log.warning(f"user {p.user_id}: {p.status}: {p.message}")
        elif p.possible_loss:
            context.log.warning(f"user {p.user_id}: {p.new_plays} new plays; some may be lost")
    if active and all(p.status == "error" for p in polls):
        raise dg.Failure("polling failed for every user:\n" + _report(polls))
    warehouse.publish()
    needs_login = sorted(
        {p.user_id for p in polls if p.status == "needs_reauth"}
        | {u.id for u in users.list(status="needs_reauth")}
    )
    failing = sorted(p.user_id for p in polls if p.status == "error")
    changed = sorted(set().union(*(p.days for p in polls)))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(p.new_plays for p in polls),
            "users": dg.MetadataValue.md(_report(polls)),
            "possible_loss": [p.user_id for p in polls if p.possible_loss],
            "changed_days": dg.MetadataValue.json(changed),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=USERS_CHECK,
                passed=not needs_login and not failing,
                severity=dg.AssetCheckSeverity.ERROR,
                description=(
                    "users who must log in again: "
                    + (", ".join(needs_login) or "none")
                    + "; users failing: "
                    + (", ".join(failing) or "none")
                ),
                metadata={"needs_reauth": json.dumps(needs_login), "failing": json.dumps(failing)},
            )
        ],
    )


poll_job = dg.define_asset_job("poll_job", selection=[polled_plays])


@dg.schedule(
    job=poll_job, cron_schedule="*/30 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING
)
def poll_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every 30 minutes: a heavy listener plays ~20 tracks an hour, well under the 50 reachable."""
    return dg.RunRequest(run_key=context.scheduled_execution_time.isoformat())
