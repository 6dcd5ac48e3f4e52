"""Polling recently-played: one user's poll, and `polled_plays`, which polls the users a run
is given (every active user when it is given none: a manual run, the demo).

Who is polled when is the poll plan's decision (lib/polling/): `poll_plan_sensor`
(poll_plan.py) requests `poll_job` runs listing the users who are due. A poll reads the newest
50 plays without an `after` cursor, so plays an offline device reports late, with their real
past `played_at`, are caught, and merges them into the user's day files; then it updates the
user's plan.
"""

import concurrent.futures
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.defs.checks import users_check
from spotify_assets.defs.listening.history import STALE_SCOPE
from spotify_assets.defs.listening.tables import POLLED_PLAYS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.clock import floor_ms
from spotify_assets.lib.pseudonyms import handle_of
from spotify_assets.lib.pseudonyms import who as who_is
from spotify_assets.lib.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from spotify_assets.lib.polling import PollOutcome, PollPolicy
    from spotify_assets.lib.polling.store import PlanStore

SOURCE = "recently_played"
USERS_CHECK = "users_can_be_polled"
KEY = ["user_id", "played_at", "track_id"]  # one play, as the merge rule's exact repeats


def utc_now() -> datetime:
    """The poll's and the sensor's clock (tests and the benchmark pass their own "now")."""
    return datetime.now(UTC)


class PollConfig(dg.Config):
    """Whom a run polls; the sensor lists the users who are due, by handle (`users list`)."""

    handles: list[str] | None = None  # None: every active user


@dataclass
class UserPoll:
    user_id: str
    status: str  # ok | needs_reauth | deferred | error | removed | not_active
    new_plays: int = 0
    late_plays: int = 0
    possible_loss: bool = False
    message: str = ""
    days: set[str] = field(default_factory=set)
    next_poll_at: datetime | None = None


def _rows(
    user_id: str,
    items: list,
    polled_at: datetime,
    late_before: datetime | None,
    full_page_after_a_poll: bool = False,
) -> "pd.DataFrame":
    """Rows of the returned plays (newest first); `late_synced` when a play ended by
    `late_before` (the previous poll by Spotify's clock): it was not there then. On a full page
    after an earlier poll the oldest play gets `gap_before`; the merge keeps the first sighting,
    so the flag stays only if that play is new, i.e. when the page did not reach what we had.
    """
    import pandas as pd

    records = []
    for index, item in enumerate(items):
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
                "late_synced": late_before is not None and item.played_at <= late_before,
                "gap_before": full_page_after_a_poll and index == len(items) - 1,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=POLLED_PLAYS.column_names)
    frame["played_at"] = pd.to_datetime(frame["played_at"], utc=True).dt.floor("ms")
    frame["polled_at"] = pd.to_datetime(frame["polled_at"], utc=True).dt.floor("ms")
    return frame


def _existing(warehouse: Warehouse, key: str) -> "pd.DataFrame":
    """A day file's rows. Read with Arrow rather than `Warehouse.scan`, which selects every
    declared column: a file written before `late_synced` existed lacks it (read as null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(path) for path in warehouse.files(POLLED_PLAYS, [key])]
    if not tables:
        return POLLED_PLAYS.schema.empty_table().to_pandas()
    table = pa.concat_tables(tables, promote_options="default")
    for name in POLLED_PLAYS.column_names:
        if name not in table.column_names:
            table = table.append_column(
                name, pa.nulls(table.num_rows, POLLED_PLAYS.schema.field(name).type)
            )
    return table.select(POLLED_PLAYS.column_names).to_pandas()


def merge_day(
    warehouse: Warehouse, user_id: str, day: date, rows: "pd.DataFrame"
) -> "pd.DataFrame | None":
    """Merge polled rows into the user's file of `day` and write it when it gained plays (its
    history tables are stale from that commit on). The first sighting of a play is kept, so a
    re-poll, or a replay of a body already merged, adds nothing. Returns the rows it gained,
    None when it gained none."""
    import pandas as pd

    key = f"{user_id}/{day.isoformat()}"
    existing = _existing(warehouse, key)
    merged = pd.concat([existing, rows], ignore_index=True) if len(existing) else rows
    merged = merged.drop_duplicates(KEY, keep="first")
    if len(merged) == len(existing):
        return None
    warehouse.write(POLLED_PLAYS, merged, key, stale={STALE_SCOPE: [day.isoformat()]})
    return merged.iloc[len(existing) :]


def _upsert(
    warehouse: Warehouse, user_id: str, new: "pd.DataFrame"
) -> tuple[set[str], "pd.DataFrame"]:
    """Merge new polled plays into their per-user, per-day files; return the days that
    changed and the rows that were not there yet."""
    import pandas as pd

    changed: set[str] = set()
    added = []
    for day, rows in new.groupby(new["played_at"].dt.date):
        gained = merge_day(warehouse, user_id, day, rows)
        if gained is not None:
            changed.add(day.isoformat())
            added.append(gained)
    fresh = pd.concat(added, ignore_index=True) if added else new.iloc[0:0]
    return changed, fresh


def _outcome(items: list, fresh: "pd.DataFrame", polled_before: bool) -> "PollOutcome":
    """What the plan learns from a poll (`lib.polling.PollOutcome`)."""
    from spotify_assets.lib.polling import REACHABLE, PollOutcome

    fresh_keys = {
        (row.played_at.to_pydatetime(), row.track_id): bool(row.late_synced)
        for row in fresh.itertuples()
    }
    keys = [(floor_ms(item.played_at), item.track.id) for item in items]  # newest first
    is_new = [key in fresh_keys for key in keys]
    is_late = [fresh_keys.get(key, False) for key in keys]
    oldest_late = max((i for i, late in enumerate(is_late) if late), default=-1)
    return PollOutcome(
        played_at=[item.played_at for item in items],
        new=sum(is_new),
        late=sum(is_late),
        # The page is full and its oldest play is new to us: older new ones may be gone.
        possible_loss=polled_before and len(items) >= REACHABLE and is_new[-1],
        late_above=sum(1 for i in range(max(oldest_late, 0)) if not is_new[i]),
    )


def poll_user(
    spotify: Any,
    users: Any,
    warehouse: Warehouse,
    user: Any,
    plans: "PlanStore",
    policy: "PollPolicy",
    now: datetime,
) -> UserPoll:
    """Poll one user (`user`: a registry `User`) at `now`, merge, then update their plan."""
    from spotify_assets.lib.polling import REACHABLE, after_failure, after_poll, new_plan
    from spotify_assets.lib.spotify.errors import (
        QuotaExceededError,
        RateLimitDeferred,
        ReauthorizationRequired,
        SpotifyError,
    )
    from spotify_assets.lib.users.registry import UnknownUserError

    user_id = user.id

    def failed(status: str, exc: Exception, retry_after_s: float | None = None) -> UserPoll:
        plan = plans.update(
            user_id,
            lambda p: after_failure(p or new_plan(user_id, now), status, now, policy,
                                    retry_after_s),
        )
        return UserPoll(user_id, status, message=str(exc), next_poll_at=plan.next_poll_at)

    plan = plans.get(user_id)
    try:
        # The cursor (newest play seen) is the registry's; the plan has it too, when it exists.
        if plan is not None and plan.polls:
            cursor = None if plan.last_play_at is None else str(_unix_ms(plan.last_play_at))
        else:
            _, cursor = users.pull_state(user_id, SOURCE)
        page = spotify.latest_played(user_id)
    except UnknownUserError:
        return UserPoll(user_id, "removed", message="removed while the run was going")
    except ReauthorizationRequired as exc:
        return failed("needs_reauth", exc)
    except (RateLimitDeferred, QuotaExceededError) as exc:
        return failed("deferred", exc, getattr(exc, "retry_after_s", None))
    except SpotifyError as exc:
        return failed("error", exc)
    # Spotify's clock at the previous poll, else the newest play seen then.
    seen_until = plan.spotify_at if plan is not None and plan.spotify_at else _from_ms(cursor)
    days: set[str] = set()
    fresh = None
    if page.items:
        full = cursor is not None and len(page.items) >= REACHABLE
        # Spotify's moment of the answer, which also names its raw body: rebuilt rows match.
        polled_at = page.fetched_at or now
        rows = _rows(user_id, page.items, polled_at, seen_until, full_page_after_a_poll=full)
        days, fresh = _upsert(warehouse, user_id, rows)
    newest = max((_unix_ms(item.played_at) for item in page.items), default=None)
    kept = max((c for c in (_int(cursor), newest) if c is not None), default=None)
    try:
        users.record_pull(user_id, SOURCE, now, cursor=None if kept is None else str(kept))
    except UnknownUserError:
        return UserPoll(user_id, "removed", message="removed while the run was going")
    outcome = _outcome(page.items, fresh if fresh is not None else _rows(user_id, [], now, None),
                       polled_before=cursor is not None)
    plan = plans.update(
        user_id,
        lambda p: after_poll(p or new_plan(user_id, now), outcome, user.timezone, now, policy,
                             page.fetched_at),
    )
    return UserPoll(
        user_id,
        "ok",
        new_plays=outcome.new,
        late_plays=outcome.late,
        possible_loss=outcome.possible_loss,
        days=days,
        next_poll_at=plan.next_poll_at,
    )


def poll_users(
    spotify: Any,
    users: Any,
    warehouse: Warehouse,
    plans: "PlanStore",
    policy: "PollPolicy",
    who: list,
    now: datetime,
) -> list[UserPoll]:
    """Poll registry users `who`, four at a time; one user's failure never stops the others."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return list(
            pool.map(lambda u: poll_user(spotify, users, warehouse, u, plans, policy, now), who)
        )


def _unix_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _from_ms(text: str | None) -> datetime | None:
    value = _int(text)
    return datetime.fromtimestamp(value / 1000, UTC) if value is not None else None


def _report(polls: list[UserPoll]) -> str:
    lines = [
        "| listener | status | new plays | late-synced | possible loss | next poll | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in polls:
        loss = "**yes**" if p.possible_loss else ""
        when = p.next_poll_at.strftime("%Y-%m-%d %H:%M UTC") if p.next_poll_at else ""
        lines.append(
            f"| {handle_of(p.user_id)} | {p.status} | {p.new_plays} | {p.late_plays} | {loss} "
            f"| {when} | {p.message} |"
        )
    return "\n".join(lines)


@dg.asset(
    group_name="listening",
    check_specs=[dg.AssetCheckSpec(USERS_CHECK, asset="polled_plays")],
    kinds={"spotify", "parquet"},
)
def polled_plays(
    context: dg.AssetExecutionContext,
    config: PollConfig,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
    spotify: dg.ResourceParam[object],
) -> dg.MaterializeResult:
    """One row per play seen by polling recently-played (tracks >= 30 s), per user and day.

    Each run polls the users in its config (the sensor's due users; default every active user):
    the newest 50 plays, raw bodies landed, new plays merged into
    `polled_plays/<user>/<day>.parquet`, each user's poll plan updated. One user's failure
    never stops the others: it is reported, and the check turns red naming them.
    """
    from spotify_assets.lib.polling import policy_from
    from spotify_assets.lib.polling.store import PlanStore

    now = utc_now()
    active = {u.id: u for u in users.active_users()}
    by_handle = {u.handle: u.id for u in users.list()}
    wanted = (
        sorted(active)
        if config.handles is None
        else [by_handle.get(h, h) for h in dict.fromkeys(config.handles)]
    )
    who = [active[u] for u in wanted if u in active]
    with PlanStore(settings.state_dir) as plans:
        polls = poll_users(spotify, users, warehouse, plans, policy_from(settings), who, now)
    polls += [
        UserPoll(u, "not_active", message="paused, removed or needs login: not polled")
        for u in wanted
        if u not in active
    ]
    for p in polls:
        if p.status not in ("ok", "not_active"):
            context.log.warning(f"{who_is(p.user_id)}: {p.status}: {p.message}")
        elif p.possible_loss:
            context.log.warning(f"{who_is(p.user_id)}: 50 new plays; some may be lost")
    if who and all(p.status == "error" for p in polls if p.user_id in active):
        raise dg.Failure("polling failed for every user:\n" + _report(polls))
    warehouse.publish()
    check = users_check(
        USERS_CHECK, polls, needs_login=[u.id for u in users.list(status="needs_reauth")]
    )
    changed = sorted(set().union(*(p.days for p in polls)))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(p.new_plays for p in polls),
            "users_polled": sum(p.status == "ok" for p in polls),
            "late_synced_plays": sum(p.late_plays for p in polls),
            "possible_losses": sum(p.possible_loss for p in polls),
            "users": dg.MetadataValue.md(_report(polls)),
            "possible_loss": [handle_of(p.user_id) for p in polls if p.possible_loss],
            "changed_days": dg.MetadataValue.json(changed),
        },
        check_results=[check],
    )
