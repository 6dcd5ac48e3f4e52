"""Alerts: one message per new problem, never one per evaluation; a cleared problem alerts
again when it comes back; a post the receiver did not take is tried again; a failed run alerts
once it will not be retried, and clears when its job succeeds; a red ERROR check alerts.
Against a local HTTP receiver and a real Dagster instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from pydantic import SecretStr

from spotify_assets.defs.operations.health import evaluate_and_alert, run_alerts
from spotify_assets.lib.alerts import Alert, AlertBook, AlertPostError
from spotify_assets.lib.settings import Settings, load_settings
from spotify_assets_tests.defs.operations.test_collection_health import Receiver


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


def _book(settings: Settings, url: str) -> AlertBook:
    return AlertBook(settings.model_copy(update={"alert_webhook_url": SecretStr(url)}))


def _alert(subject: str) -> Alert:
    return Alert(f"collection_health/{subject}", "collection_health", subject, "stale", "poll")


def test_one_message_per_new_problem_and_again_after_it_cleared(settings: Settings) -> None:
    hook = Receiver()
    try:
        book = _book(settings, hook.url)
        assert book.update([_alert("l-1"), _alert("l-2")]) == [_alert("l-1"), _alert("l-2")]
        for _ in range(5):  # the same problems at every tick: nothing more
            assert book.update([_alert("l-1"), _alert("l-2")]) == []
        assert book.update([_alert("l-2")], cleared={"collection_health/l-1"}) == []
        assert book.update([_alert("l-1"), _alert("l-2")]) == [_alert("l-1")]
        assert [len(m["alerts"]) for m in hook.messages] == [2, 1]
        assert "l-1: stale. What to do: poll" in hook.messages[1]["text"]
        # Remembered across processes: a new book on the same file knows what was sent.
        assert _book(settings, hook.url).update([_alert("l-2")]) == []
    finally:
        hook.close()


def test_a_post_the_receiver_did_not_take_is_tried_again(settings: Settings) -> None:
    down = Receiver()
    url = down.url
    down.close()  # nothing listens there any more
    with pytest.raises(AlertPostError) as raised:
        _book(settings, url).update([_alert("l-1")])
    assert url not in str(raised.value)  # a webhook URL may hold a token
    hook = Receiver()
    try:
        assert _book(settings, hook.url).update([_alert("l-1")]) == [_alert("l-1")]
        assert len(hook.messages) == 1
    finally:
        hook.close()


@dg.op
def flaky(context) -> None:
    if context.run.tags.get("fail") == "yes":
        raise RuntimeError("boom")


flaky_job = dg.GraphDefinition("flaky", node_defs=[flaky]).to_job()


def _run(instance: dg.DagsterInstance, **tags: str) -> None:
    flaky_job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def test_failed_runs_alert_once_per_job_until_it_succeeds(settings: Settings) -> None:
    hook = Receiver()
    start = datetime.now(UTC) - timedelta(seconds=1)
    try:
        settings = settings.model_copy(update={"alert_webhook_url": SecretStr(hook.url)})
        with dg.instance_for_test(overrides={"run_retries": {"enabled": True}}) as instance:
            # A failure that Dagster will retry is not the end of it: no alert yet.
            _run(instance, fail="yes", **{"dagster/max_retries": "1"})
            raised, _, _ = run_alerts(instance, start)
            assert raised == []
            _run(instance, fail="yes")
            _run(instance, fail="yes")
            _, sent, cursor = evaluate_and_alert(settings, instance, [], start)
            [alert] = sent
            assert alert.subject == "flaky" and alert.key == "run_failure/flaky"
            _run(instance, fail="yes")  # still failing: no second message
            _, sent, cursor = evaluate_and_alert(settings, instance, [], cursor)
            assert sent == []
            _run(instance)  # it succeeds: cleared ...
            _, sent, cursor = evaluate_and_alert(settings, instance, [], cursor)
            _run(instance, fail="yes")  # ... so a new failure alerts again
            _, sent, _ = evaluate_and_alert(settings, instance, [], cursor)
            assert [a.key for a in sent] == ["run_failure/flaky"]
            # A red ERROR check alerts once, naming the check and the asset.
            key = dg.AssetCheckKey(dg.AssetKey("plays"), "plays_unique_play_ids")
            instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=key.asset_key, check_name=key.name, passed=False,
                severity=dg.AssetCheckSeverity.ERROR))
            _, sent, _ = evaluate_and_alert(settings, instance, [key], cursor)
            assert [a.key for a in sent] == ["check/plays/plays_unique_play_ids"]
            _, sent, _ = evaluate_and_alert(settings, instance, [key], cursor)
            assert sent == []
        assert len(hook.messages) == 3
    finally:
        hook.close()
