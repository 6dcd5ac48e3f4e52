"""The asset check every per-listener asset reports: who must log in again, who failed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import dagster as dg

from spotify_assets.lib.pseudonyms import handle_of


class Outcome(Protocol):
    """One listener's result in a run (a poll, a top-list snapshot, a releases pull)."""

    user_id: str
    status: str  # needs_reauth | deferred | error | anything else (fine)


def users_check(
    check: str,
    outcomes: Iterable[Outcome],
    *,
    needs_login: Iterable[str] = (),
    asset: str | None = None,
) -> dg.AssetCheckResult:
    """Red when a listener must log in again (their outcome says so, or they are in
    `needs_login`, user ids of listeners the run did not try) or failed (`error`); deferred
    listeners (a rate limit, a quota) are named but do not turn it red. Named by handle, counted
    in the metadata: check results stay in the instance after `users remove`."""
    by_status: dict[str, set[str]] = {
        "needs_reauth": set(needs_login),
        "error": set(),
        "deferred": set(),
    }
    for outcome in outcomes:
        if outcome.status in by_status:
            by_status[outcome.status].add(outcome.user_id)
    # Counted by user id (two listeners nobody has listed share one placeholder name).
    login, failed, later = (
        sorted(handle_of(u) for u in by_status[s]) for s in ("needs_reauth", "error", "deferred")
    )
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=check,
        passed=not login and not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"listeners who must log in again: {', '.join(login) or 'none'}; "
            f"failing: {', '.join(failed) or 'none'}; deferred: {', '.join(later) or 'none'}"
        ),
        metadata={"needs_reauth": len(login), "failing": len(failed), "deferred": len(later)},
    )
