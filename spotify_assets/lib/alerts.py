"""Alerts: a red check or a failed run posts ONE message to the operator's webhook, not one per
sensor tick.

What was sent is remembered in `<state_dir>/alerts.sqlite3`, one row per open problem (e.g.
`collection_health/l-3fa9c2d1`, `run_failure/poll_job`): a problem already open is not sent
again; once it clears (the user is green, the job succeeded) its row goes, so a recurrence is
sent again. New problems found in one evaluation go out together, in one message. A post that
fails (receiver down) records nothing, so the next evaluation tries again.

The message is JSON: `text` (one readable block: Slack and most chat webhooks show it as is)
and `alerts`, a list of {key, check, subject, problem, what_to_do}. It names listeners by
handle only, never by Spotify id, and carries no token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from spotify_assets.lib import sqlite_db
from spotify_assets.lib.settings import Settings

FILE_NAME = "alerts.sqlite3"
_SCHEMA = [
    "create table if not exists open_alerts ("
    " key text primary key, opened_at text not null, alert text not null)"
]


@dataclass(frozen=True)
class Alert:
    key: str  # what stays the same while the problem lasts
    check: str  # collection_health, run_failure, ...
    subject: str  # a listener's handle, or a job name
    problem: str
    what_to_do: str

    def line(self) -> str:
        return f"[{self.check}] {self.subject}: {self.problem}. What to do: {self.what_to_do}"


class AlertBook:
    """Open problems, and the webhook they are posted to (`None`: remembered, not posted)."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.state_dir / FILE_NAME
        sqlite_db.create(self.path, _SCHEMA)
        secret = settings.alert_webhook_url
        self.webhook = secret.get_secret_value() if secret is not None else None
        self.timeout_s = settings.http_timeout_s

    def open_keys(self, prefix: str = "") -> set[str]:
        with sqlite_db.transaction(self.path, write=False) as con:
            rows = con.execute(
                "select key from open_alerts where substr(key, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
        return {key for (key,) in rows}

    def update(
        self, raised: Iterable[Alert], cleared: Iterable[str] = ()
    ) -> list[Alert]:
        """Record the problems seen now and those gone; post the new ones (one message).
        Returns the alerts sent (or recorded, without a webhook); raises `AlertPostError` when
        the post failed (nothing recorded: they are new again next time)."""
        raised = list({a.key: a for a in raised}.values())
        gone = set(cleared) - {a.key for a in raised}
        with sqlite_db.transaction(self.path, write=True) as con:
            if gone:
                con.executemany("delete from open_alerts where key = ?", [(k,) for k in gone])
            known = {key for (key,) in con.execute("select key from open_alerts")}
        new = [a for a in raised if a.key not in known]
        if not new:
            return []
        if self.webhook:
            post(self.webhook, new, self.timeout_s)
        stamp = datetime.now(UTC).isoformat()
        with sqlite_db.transaction(self.path, write=True) as con:
            con.executemany(
                "insert into open_alerts (key, opened_at, alert) values (?, ?, ?) "
                "on conflict (key) do nothing",
                [(a.key, stamp, json.dumps(asdict(a))) for a in new],
            )
        return new


class AlertPostError(RuntimeError):
    """The webhook did not take the message (it is tried again at the next evaluation)."""


def message(alerts: list[Alert]) -> dict:
    head = f"spotify_assets: {len(alerts)} new problem(s)"
    return {
        "text": "\n".join([head, *(a.line() for a in alerts)]),
        "alerts": [asdict(a) for a in alerts],
    }


def post(url: str, alerts: list[Alert], timeout_s: float = 10.0) -> None:
    try:
        response = httpx.post(url, json=message(alerts), timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        # The URL may hold a token (chat webhooks do): name the kind of failure only.
        raise AlertPostError(
            f"the alert webhook did not take the message: {type(exc).__name__}"
        ) from None


def collection_alerts(red: Mapping[str, tuple[str, str]]) -> list[Alert]:
    """handle -> (problem, what to do) as collection-health alerts."""
    return [
        Alert(f"collection_health/{handle}", "collection_health", handle, problem, todo)
        for handle, (problem, todo) in sorted(red.items())
    ]


def alerts_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME
