"""Alerting benchmark (issues 7 and 15).

10,000 check results, 1,000 of them breaching (spread over 10 pipeline stages and 50 tables), go through rule
evaluation, the alert lifecycle, grouping and the outbox, and are delivered to a local fake Slack (the same
contract-checking server the tests use), with the real SQLite state store. Measured in the same run:

  sentinel     process() + deliver_due(): judge, step, persist, group, queue, send          target < 2 s
  steady       the same 10,000 results again one minute later (still breaching: nothing to send)
  naive        baseline: one Slack message per breach, rendered and posted directly (no grouping)

and the number of Slack messages each sends, with the time Slack's pace (1 message per second per channel)
needs to accept them.

Breach-to-page latency (issue 15): one critical result is processed and the time until the PagerDuty double
receives the trigger is measured, SAMPLES times, with Slack healthy, rate-limited (429, Retry-After) and hanging
(answering after HANG_SECONDS), for

  per_receiver  the delivery since issue 15: each receiver its own worker thread (as `sentinel run` delivers)
  serial        baseline: the delivery before issue 15, one queue sent receiver after receiver, with the Slack
                SDK's rate-limit handler sleeping out one Retry-After inside the send

Target: the page's p99 under 2 s whatever Slack does.

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

from sentinel.alerting.compose import MessageDraft, build_message  # noqa: E402
from sentinel.alerting.lifecycle import initial_state  # noqa: E402
from sentinel.alerting.pipeline import AlertPipeline  # noqa: E402
from sentinel.alerting.types import Phase  # noqa: E402
from sentinel.clock import FakeClock  # noqa: E402
from sentinel.config.settings import Settings  # noqa: E402
from sentinel.config.spec import SentinelConfig  # noqa: E402
from sentinel.model import CheckResult, Status  # noqa: E402
from sentinel.notify.base import Notifier  # noqa: E402
from sentinel.notify.message import MessageEvent, PageAction  # noqa: E402
from sentinel.notify.slack import SlackNotifier  # noqa: E402
from sentinel.rules import RuleBook, evaluate  # noqa: E402
from sentinel.store.sqlite import SqliteStateStore  # noqa: E402
from tests.fakes.alerting_apis import FakePagerDuty, FakeSlack  # noqa: E402

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
            draft = MessageDraft(key=verdict.fingerprint, route="naive", group="", event=MessageEvent.FIRED,
                                 is_update=False, states=[state], page_action=PageAction.TRIGGER)
            message = build_message(draft, now=clock.now(), base_url=settings.runbook_base_url, redact=lambda s: s)
            notifier.send(message)
    done = time.perf_counter()
    return {"seconds": round(done - started, 3), "messages_sent": len(slack.calls)}


SAMPLES = 15
RETRY_AFTER_SECONDS = 2  # short, so the serial baseline's sleep stays measurable in a minute
HANG_SECONDS = 2.0
PAGE_TARGET_SECONDS = 2.0
PD_KEY = "pdbenchmarkroutingkey0123456789a"


def _latency_pipeline(slack: FakeSlack, pd: FakePagerDuty, path: Path, *, serial: bool) -> AlertPipeline:
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    from sentinel.notify.pager import PagerDutyNotifier

    settings = Settings(slack_token=TOKEN, slack_base_url=slack.base_url, pager_backend="pagerduty",
                        pagerduty_routing_key=PD_KEY, pagerduty_base_url=pd.base_url)
    config = SentinelConfig.model_validate({"routes": [
        {"name": "team", "receivers": ["slack"], "group_wait": "0s"},
        {"name": "oncall", "receivers": ["pager"], "min_severity": "critical", "group_wait": "0s"}]})
    slack_notifier = SlackNotifier("slack", settings.slack_token, channel=settings.slack_channel,  # type: ignore[arg-type]
                                   base_url=slack.base_url)
    if serial:  # as configured before issue 15
        slack_notifier._client.retry_handlers = [RateLimitErrorRetryHandler(max_retry_count=1)]
    pager = PagerDutyNotifier("pager", settings.pagerduty_routing_key, base_url=pd.base_url)  # type: ignore[arg-type]
    notifiers: dict[str, Notifier] = {"slack": slack_notifier, "pager": pager}
    return AlertPipeline(config, SqliteStateStore(path), notifiers, FakeClock(), settings, immediate=True,
                         kind_runbooks={})


def _serial_deliver(pipeline: AlertPipeline) -> None:
    """The outbox before issue 15: every receiver's due rows, one receiver after the other, in one thread."""
    pipeline.flush(force=True)
    for receiver in pipeline.outbox.receivers_with_work():
        pipeline.outbox.deliver_receiver(receiver)


def _page_latencies(server: HTTPServer, tmp: Path, slack_state: str, *, serial: bool) -> list[float]:
    import threading

    from sentinel.model import CheckResult, Status
    from tests.fakes.alerting_apis import Fault

    slack = FakeSlack(server, TOKEN, prefix=f"/lat-{slack_state}-{serial}")
    pd = FakePagerDuty(server, PD_KEY, prefix=f"/pd-{slack_state}-{serial}")
    if slack_state == "rate_limited":
        slack.faults.push(Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(RETRY_AFTER_SECONDS)}),
                          times=10 * SAMPLES)
    elif slack_state == "hanging":
        slack.faults.delay = HANG_SECONDS
    out: list[float] = []
    for i in range(SAMPLES):
        pipeline = _latency_pipeline(slack, pd, tmp / f"lat-{slack_state}-{serial}-{i}.db", serial=serial)
        clock = pipeline.clock
        breach = CheckResult(check_id=f"tx_freshness_{i}", kind="warehouse_freshness", status=Status.CRITICAL,
                             observed_at=clock.now(), summary="payments.transactions is 1800s old (SLA 900s)",
                             values={"age_seconds": 1800.0}, labels={"table": "payments.transactions"})
        before = len(pd.arrived_at)
        if not serial:
            pipeline.start_delivery_workers(idle_poll_seconds=0.05)
        started = time.monotonic()
        pipeline.process([breach])
        sender = None if not serial else threading.Thread(target=_serial_deliver, args=(pipeline,), daemon=True)
        if sender is not None:
            sender.start()  # the daemon's delivery tick
        while len(pd.arrived_at) == before and time.monotonic() - started < 60:
            time.sleep(0.002)
        out.append(pd.arrived_at[before] - started)
        if sender is not None:
            sender.join(60)
        pipeline.stop_delivery_workers(timeout_seconds=0.1)  # a hanging Slack send is left to finish alone
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_page_latency(server: HTTPServer, tmp: Path) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for slack_state in ("healthy", "rate_limited", "hanging"):
        for mode, serial in (("per_receiver", False), ("serial_baseline", True)):
            lat = _page_latencies(server, tmp, slack_state, serial=serial)
            report.setdefault(slack_state, {})[mode] = {
                "p50_ms": round(_quantile(lat, 0.5) * 1000, 1), "p99_ms": round(_quantile(lat, 0.99) * 1000, 1),
                "max_ms": round(max(lat) * 1000, 1), "samples": len(lat)}
    return report


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    logging.getLogger("sentinel.alerting.delivery_workers").setLevel(logging.ERROR)  # hanging sends left on purpose
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sentinel = run_sentinel(server, Path(tmp))
            latency = run_page_latency(server, Path(tmp))
            time.sleep(HANG_SECONDS + 0.5)  # let sends left running finish before their stores go
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
        "page_latency": {
            "what": "breach (process()) to PagerDuty receiving the trigger, with Slack healthy, answering 429 "
                    f"Retry-After: {RETRY_AFTER_SECONDS}, or answering after {HANG_SECONDS:g} s",
            "target_p99_seconds": PAGE_TARGET_SECONDS,
            **latency,
            "per_receiver_within_target": all(v["per_receiver"]["p99_ms"] < PAGE_TARGET_SECONDS * 1000
                                              for v in latency.values()),
        },
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
    print(f"breach-to-page latency, {SAMPLES} samples each (target p99 < {PAGE_TARGET_SECONDS:g} s):")
    for slack_state, modes in latency.items():
        cells = "   ".join(f"{mode}: p50 {v['p50_ms']:.0f} ms, p99 {v['p99_ms']:.0f} ms" for mode, v in modes.items())
        print(f"  Slack {slack_state:<12} {cells}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
