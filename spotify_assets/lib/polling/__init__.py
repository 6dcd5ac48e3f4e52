"""When to poll each user's recently-played: the rate model, the next poll time and the fair
share of the app's request budget. `rates` (the model, the next poll) and `plans` (a user's
plan, the budget) are pure decisions, no I/O and no clock: the sensor, the poll and the polling
benchmark call these same functions, each with its own "now". `store` keeps the plans.

Spotify keeps only the newest 50 plays reachable, so a user loses plays when more than 50
reach Spotify between two polls. A poll reads those newest 50 without an `after` cursor, so
plays an offline device reports hours late, with their real (past) `played_at`, are caught
too; the next poll is planned for when `TARGET` (40) new plays could have accrued:

- **Pace**: the most plays the user had in any sliding hour (`peak`) and two hours (`peak2`),
  decayed with a 30-day half-life. Planned intervals are up to ~2 h, so at
  `max(peak2 / 2, peak * 40/50)` plays an hour a poll every 40 plays sees at most 50 even at
  the user's fastest. Until `COLD_PLAYS` plays are seen (and at least `cold_for`), at least
  `cold_rate`.
- **Time of day**: per local hour (the user's timezone), a decayed count of days with a play
  in it. The longest run of hours without listening is quiet (`quiet_hours`): accrual there
  counts `QUIET_RATE`, so after a poll late in the evening the next comes when the user's day
  starts, not three times in the night. For two weeks (`learn_for`), and for a user who has
  listened at odd hours (binges), only the small hours can be quiet: a gap between daytime
  sessions is where an unplanned binge starts. A user idle for days keeps being watched in the
  hours they listen in (a return at their usual pace would overflow the 50 within hours); the
  profile fades with a 21-day half-life, so an hour heard once falls quiet after ~5 weeks of
  silence and a daily one after months, ending at a poll every `max_interval`.
- **Right now**: a user who played in the last `ACTIVE_WITHIN` is in a session, which may run
  past their usual hours (a binge into the night): the whole interval counts at full pace.
- **Late syncs**: an offline device's plays reach Spotify later with their real past
  `played_at`, so a batch counts with the interval's new plays in the 50, and with the known
  plays newer than it. Its plays can only sit where Spotify heard nothing: the plan keeps room
  (`backlog`) for what the user could have played unheard in the silent stretches (gaps of
  >= 15 min) under at most one known play (the owner back online; deeper once a batch landed
  deeper), at their pace and hours, at most twice the largest batch seen (two offline
  sessions can sync as one). Before any batch, a prior of 15 plays fading with a 1.5-day
  half-life (none while cold). While the user plays on with no gap, no room is kept.
- **Possible loss** (a full page of 50 whose oldest play is new to us: there may be a gap):
  poll again after ~20 more plays at the pace that page shows.

The app-wide budget: Spotify limits requests per app over a rolling 30-second window shared
by all users. `due_now` grants at most `requests_per_window` polls per window, most overdue
first, so a user polled often cannot starve the others.
"""

from spotify_assets.lib.polling.plans import (
    Decision,
    Plan,
    after_failure,
    after_poll,
    due_now,
    new_plan,
    requested,
)
from spotify_assets.lib.polling.rates import (
    LATE_PRIOR,
    LATE_PRIOR_HALF_LIFE_DAYS,
    NIGHT,
    RATE_WINDOW,
    REACHABLE,
    TARGET,
    PollOutcome,
    PollPolicy,
    RateModel,
    backlog,
    busiest,
    next_poll,
    observe,
    policy_from,
)

__all__ = [
    "LATE_PRIOR",
    "LATE_PRIOR_HALF_LIFE_DAYS",
    "NIGHT",
    "RATE_WINDOW",
    "REACHABLE",
    "TARGET",
    "Decision",
    "Plan",
    "PollOutcome",
    "PollPolicy",
    "RateModel",
    "after_failure",
    "after_poll",
    "backlog",
    "busiest",
    "due_now",
    "new_plan",
    "next_poll",
    "observe",
    "policy_from",
    "requested",
]
