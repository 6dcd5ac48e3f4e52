"""The asset check every per-listener asset reports: who must log in again, who failed."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from spotify_assets.lib.pseudonyms import handle_of


def users_check(
    check: str,
    *,
    needs_login: Iterable[str],
    failing: Iterable[str],
    deferred: Iterable[str] = (),
    asset: str | None = None,
) -> dg.AssetCheckResult:
    """Red when a listener (by user id) must log in again or failed; deferred listeners (a
    rate limit, a quota) are named but do not turn it red. Named by handle, counted in the
    metadata: check results stay in the instance after `users remove`."""
    # Counted by user id (two listeners nobody has listed share one placeholder name).
    login, failed, later = (
        sorted(handle_of(u) for u in set(ids)) for ids in (needs_login, failing, deferred)
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
