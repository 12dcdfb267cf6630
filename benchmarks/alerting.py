"""Alerting benchmark (issue 7).

10,000 check results, 1,000 of them breaching (spread over 10 pipeline stages and 50 tables), go through rule
evaluation, the alert lifecycle, grouping and the outbox, and are delivered to a local fake Slack (the same
contract-checking server the tests use), with the real SQLite state store. Measured in the same run:

  sentinel     process() + deliver_due(): judge, step, persist, group, queue, send          target < 2 s
  steady       the same 10,000 results again one minute later (still breaching: nothing to send)
  naive        baseline: one Slack message per breach, rendered and posted directly (no grouping)

and the number of Slack messages each sends, with the time Slack's pace (1 message per second per channel)
needs to accept them.

Run: .venv/bin/python benchmarks/alerting.py      Writes benchmarks/results/alerting.json.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_httpserver import HTTPServer  # noqa: E402

from sentinel.alerting.compose import build_message  # noqa: E402
from sentinel.alerting.lifecycle import initial_state  # noqa: E402
from sentinel.alerting.pipeline import AlertPipeline  # noqa: E402
from sentinel.alerting.types import Phase  # noqa: E402
from sentinel.clock import FakeClock  # noqa: E402
from sentinel.config.settings import Settings  # noqa: E402
from sentinel.config.spec import SentinelConfig  # noqa: E402
from sentinel.model import CheckResult, Status  # noqa: E402
from sentinel.notify.slack import SlackNotifier  # noqa: E402
from sentinel.rules import RuleBook, evaluate  # noqa: E402
from sentinel.store.sqlite import SqliteStateStore  # noqa: E402
from tests.fakes.alerting_apis import FakeSlack  # noqa: E402

N_RESULTS = 10_000
N_BREACHES = 1_000
TARGET_SECONDS = 2.0
STAGES = ["postgres", "debezium", "kafka", "s3_sink", "s3", "snowpipe", "snowflake_raw", "dbt", "analytics", "looker"]
TOKEN = "xoxb-benchmark-token"


def make_results(clock: FakeClock, age_breach: float) -> list[CheckResult]:
    out = []
    for i in range(N_RESULTS):
        breach = i % (N_RESULTS // N_BREACHES) == 0
        age = age_breach if breach else 120.0
        out.append(CheckResult(
            check_id=f"check_{i:05d}", kind="warehouse_freshness",
            status=Status.CRITICAL if breach else Status.OK, observed_at=clock.now(),
            summary=f"table_{i % 50} is {age:.0f}s old (SLA 900s)", values={"age_seconds": age},
            labels={"table": f"schema.table_{i % 50}", "stage": STAGES[(i // 7) % len(STAGES)]},
        ))
    return out


def run_sentinel(server: HTTPServer, tmp: Path) -> dict[str, Any]:
    slack = FakeSlack(server, TOKEN, prefix="/sentinel")
    clock = FakeClock()
    settings = Settings(slack_token=TOKEN, slack_base_url=slack.base_url, pager_backend="none")
    config = SentinelConfig.model_validate({"rules": [{
        "id": "freshness", "match": {"kind": "warehouse_freshness"}, "value": "age_seconds",
        "thresholds": {"warning": 600, "critical": 900}, "runbook": "freshness-sla-breach"}]})
    notifiers = {"slack": SlackNotifier("slack", settings.slack_token, channel=settings.slack_channel,  # type: ignore[arg-type]
                                        base_url=slack.base_url)}
    store = SqliteStateStore(tmp / "bench.db")
    pipeline = AlertPipeline(config, store, notifiers, clock, settings, immediate=True, kind_runbooks={})
    results = make_results(clock, 1800.0)

    started = time.perf_counter()
    events = pipeline.process(results)
    processed = time.perf_counter()
    queued = pipeline.flush(force=True)  # grouping, silences, inhibition -> outbox
    flushed = time.perf_counter()
    deliveries = pipeline.deliver_due()  # send (and house-keeping)
    done = time.perf_counter()

    clock.advance(timedelta(minutes=1))
    again = make_results(clock, 1900.0)
    steady_start = time.perf_counter()
    steady_events = pipeline.process(again)
    steady_deliveries = pipeline.deliver_due()
    steady_done = time.perf_counter()
    firing = sum(1 for s in store.alert_states(active_only=True).values() if s.phase is Phase.FIRING)
    store.close()
    return {
        "seconds": round(done - started, 3),
        "process_seconds": round(processed - started, 3),
        "flush_seconds": round(flushed - processed, 3),
        "send_seconds": round(done - flushed, 3),
        "messages_queued": queued,
        "events": len(events),
        "alerts_firing": firing,
        "messages_sent": len(slack.calls),
        "deliveries": len(deliveries),
        "rejected_by_slack": len(slack.rejected),
        "steady_seconds": round(steady_done - steady_start, 3),
        "steady_events": len(steady_events),
        "steady_messages": len(steady_deliveries),
    }


def run_naive(server: HTTPServer) -> dict[str, Any]:
    """One message per breach: judge each result, render it alone, post it at once."""
    slack = FakeSlack(server, TOKEN, prefix="/naive")
    clock = FakeClock()
    settings = Settings(slack_token=TOKEN, slack_base_url=slack.base_url)
    notifier = SlackNotifier("slack", settings.slack_token, channel=settings.slack_channel,  # type: ignore[arg-type]
                             base_url=slack.base_url)
    rulebook = RuleBook([], kind_runbooks={})
    results = make_results(clock, 1800.0)
    started = time.perf_counter()
    for r in results:
        rule = rulebook.implicit_rule(r)
        for verdict in evaluate(rule, r):
            if verdict.severity.rank == 0:
                continue
            state = initial_state(verdict).evolve(phase=Phase.FIRING, severity=verdict.severity, summary=verdict.summary,
                                                  fired_at=clock.now())
            message = build_message(key=verdict.fingerprint, route="naive", group="", event="fired", is_update=False,
                                    states=[state], now=clock.now(), base_url=settings.runbook_base_url,
                                    redact=lambda s: s, page_action="trigger")
            notifier.send(message)
    done = time.perf_counter()
    return {"seconds": round(done - started, 3), "messages_sent": len(slack.calls)}


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sentinel = run_sentinel(server, Path(tmp))
        naive = run_naive(server)
    finally:
        server.stop()
    report = {
        "benchmark": "alerting",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": N_RESULTS,
        "breaches": N_BREACHES,
        "target_seconds": TARGET_SECONDS,
        "sentinel": sentinel,
        "naive_one_message_per_breach": naive,
        "slack_pace_seconds_at_1_msg_per_s": {"sentinel": sentinel["messages_sent"],
                                              "naive": naive["messages_sent"]},
        "within_target": sentinel["seconds"] < TARGET_SECONDS,
    }
    out = ROOT / "benchmarks" / "results" / "alerting.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"sentinel: {sentinel['seconds']:.3f}s for {N_RESULTS} results / {N_BREACHES} breaches "
          f"(process {sentinel['process_seconds']:.3f}s, group+queue {sentinel['flush_seconds']:.3f}s, "
          f"send {sentinel['send_seconds']:.3f}s), "
          f"{sentinel['messages_sent']} Slack messages; steady round {sentinel['steady_seconds']:.3f}s, "
          f"{sentinel['steady_messages']} messages  [target < {TARGET_SECONDS}s]")
    print(f"naive:    {naive['seconds']:.3f}s, {naive['messages_sent']} Slack messages "
          f"(~{naive['messages_sent']}s at Slack's 1 message/s/channel pace vs ~{sentinel['messages_sent']}s)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
