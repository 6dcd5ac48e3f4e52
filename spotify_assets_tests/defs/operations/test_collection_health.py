"""Collection health catches a silent stall (issue 18's check): one listener's pulls are
blocked at the emulator (a 429 storm: every answer asks for an hour's wait) for a simulated 7
hours while the others are polled by their plans. The poll's own check stays green ("users
failing: none"); `collection_health` turns red naming only that listener (by handle), the
webhook gets exactly one message, and clearing the fault turns it green with the next poll.

One simulated "now" drives the emulator, the poll plan sensor, the poll and the health sensor;
runs are what the sensor requests, executed for real (HTTP, lake, plan store, registry).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from pydantic import SecretStr

from spotify_assets.defs.listening import poll as poll_module
from spotify_assets.defs.listening import poll_plan as plan_module
from spotify_assets.defs.listening.poll import USERS_CHECK, polled_plays
from spotify_assets.defs.listening.poll_plan import poll_plan, poll_plan_sensor
from spotify_assets.defs.operations.health import collection_health, health_alerts_sensor
from spotify_assets.defs.resources import build_resources
from spotify_assets.lib.health import CHECK_NAME
from spotify_assets.lib.polling.store import PlanStore
from spotify_assets_tests.defs.conftest import DEMO_USERS, Pipeline

TARGET = "demo_tokyo"
BLOCK = {"path": "/v1/me/player/recently-played", "kind": "rate_limit", "retry_after": 3600,
         "user": TARGET}
STEP = timedelta(minutes=10)
HEALTH = dg.AssetCheckKey(dg.AssetKey("polled_plays"), CHECK_NAME)
POLLABLE = dg.AssetCheckKey(dg.AssetKey("polled_plays"), USERS_CHECK)


class Receiver:
    """A local webhook: every POSTed JSON body, in order."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.messages.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


class Ops:
    """The pipeline, its clock, and the two sensors as a daemon would tick them."""

    def __init__(self, p: Pipeline, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.p = p
        self.settings = p.settings.model_copy(update={"alert_webhook_url": SecretStr(url)})
        self.resources = build_resources(self.settings)
        self.now = datetime.fromisoformat(p.control("GET", "config")["end"]) - timedelta(hours=8)
        self.cursor: str | None = None
        self.poll_results: list[dg.ExecuteInProcessResult] = []
        monkeypatch.setattr(poll_module, "utc_now", lambda: self.now)
        monkeypatch.setattr(plan_module, "utc_now", lambda: self.now)
        self.p.control("POST", "clock", json={"now": self.now.isoformat()})
        self.definitions = dg.Definitions(
            assets=[polled_plays, poll_plan], asset_checks=[collection_health],
            resources=self.resources,
        )

    def tick(self) -> None:
        """Advance the clock one step; poll whoever the plan says is due; then the health."""
        self.now += STEP
        self.p.control("POST", "clock", json={"now": self.now.isoformat()})
        context = dg.build_sensor_context(instance=self.p.instance,
                                          resources={"settings": self.settings})
        result = poll_plan_sensor(context)
        if isinstance(result, dg.SensorResult) and result.run_requests:
            [request] = result.run_requests
            run = dg.materialize(
                [polled_plays, poll_plan, collection_health],
                resources=self.resources, instance=self.p.instance,
                run_config=request.run_config, tags=request.tags,
            )
            assert run.success
            self.poll_results.append(run)
        health = dg.build_sensor_context(
            instance=self.p.instance, cursor=self.cursor, definitions=self.definitions,
            resources={"settings": self.settings},
        )
        health_alerts_sensor(health)
        self.cursor = health.cursor

    def latest(self, key: dg.AssetCheckKey) -> dg.AssetCheckEvaluation:
        records = self.p.instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [key]
        )
        return records[key].event.asset_check_evaluation

    def polled_ok(self, user: str) -> bool:
        """Whether the last poll run polled `user` successfully (its table names handles)."""
        [event] = self.poll_results[-1].asset_materializations_for_node("polled_plays")
        handle = self.p.registry.require(user).handle
        return f"| {handle} | ok |" in event.metadata["users"].value


@pytest.mark.slow
def test_a_blocked_listener_turns_collection_health_red_once_and_green_after_the_next_poll(
    pipeline: Pipeline, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    ops = Ops(p, receiver.url, monkeypatch)
    handles = {u.id: u.handle for u in p.registry.list()}
    ops.tick()  # everyone's first poll
    assert ops.latest(HEALTH).passed and receiver.messages == []

    p.control("POST", "faults", json=BLOCK)
    blocked_at = ops.now
    first_red = None
    while ops.now < blocked_at + timedelta(hours=7):
        ops.tick()
        if first_red is None and not ops.latest(HEALTH).passed:
            first_red = ops.now
    red = ops.latest(HEALTH)
    assert not red.passed
    assert json.loads(red.metadata["red_listeners"].value) == [handles[TARGET]]
    assert handles[TARGET] in red.description and "What to do" in red.description
    assert not any(h in red.description for u, h in handles.items() if u != TARGET)
    assert not any(user in red.description for user in DEMO_USERS)  # handles, never ids
    assert red.metadata["deferred"].value == 1 and red.metadata["stale"].value == 1
    # The poll's own check saw nothing wrong all along: the stall was silent there.
    assert ops.latest(POLLABLE).passed
    # Red once the first deferred poll is 30 min old (within a tick), not after the 6 hours.
    with PlanStore(p.settings.state_dir) as store:
        deferred_since = store.get(TARGET).failing_since
    assert deferred_since is not None and blocked_at < deferred_since
    grace = timedelta(minutes=p.settings.health_deferred_minutes)
    assert first_red is not None
    assert deferred_since + grace <= first_red <= deferred_since + grace + STEP
    # One message for 42 evaluations, naming the listener, the check and what to do.
    assert len(receiver.messages) == 1, receiver.messages
    [alert] = receiver.messages[0]["alerts"]
    assert alert["subject"] == handles[TARGET] and alert["check"] == CHECK_NAME
    assert "Retry-After" in alert["what_to_do"] or "rate-limiting" in alert["what_to_do"]
    assert TARGET not in json.dumps(receiver.messages)

    p.control("DELETE", "faults")
    for _ in range(int(timedelta(hours=1.5) / STEP)):
        ops.tick()
        if ops.poll_results and ops.polled_ok(TARGET):
            break
    assert ops.polled_ok(TARGET), "the listener was not polled within 1.5 h of the fix"
    [in_run] = [e for e in ops.poll_results[-1].get_asset_check_evaluations()
                if e.check_name == CHECK_NAME]
    assert in_run.passed  # green with the very next poll, in that poll's run
    assert ops.latest(HEALTH).passed and len(receiver.messages) == 1
