"""Per-check gauges: set on arrival (the previous way, benchmarks/baselines/metrics_on_arrival.py) against the
scrape-time collector (sentinel.check_metrics.CheckGauges), for 50 checks (about the production config), 1,000
and 5,000, each result with three values and, for one check in five, ten Kafka-lag findings.

Per size, in the same run (median of REPEAT):
  observe    one round of results (every check reports once): what the scheduler threads pay
  scrape     one GET /metrics body (generate_latest) after that round: what Prometheus waits for
  series     lines in the body, the same for both (proof they export the same thing)
The collector moves work from arrival to the scrape; with a 15 s scrape interval and checks every 1-5 min the
scrape is the more frequent of the two at small sizes, so both figures are printed, and neither has a target.

Run: .venv/bin/python benchmarks/metrics_scrape.py      Writes benchmarks/results/metrics_scrape.json.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.baselines.metrics_on_arrival import OnArrivalGauges  # noqa: E402
from sentinel.api import FindingSeries  # noqa: E402
from sentinel.check_metrics import CheckGauges, PlannedSeries  # noqa: E402
from sentinel.model import CheckResult, Finding, Status  # noqa: E402

REPEAT = 7
SIZES = (50, 1_000, 5_000)
LAG = FindingSeries(labels=("group", "topic"), gauges={"lag_messages": ("sentinel_kafka_consumer_lag_messages",
                                                                        "Messages behind per group and topic.")})
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def results(n: int, round_no: int) -> list[CheckResult]:
    out = []
    for i in range(n):
        kind = "kafka_consumer_lag" if i % 5 == 0 else "sql_threshold"
        findings = tuple(Finding(key=f"g{i}/t{j}", status=Status.OK, summary="ok",
                                 labels={"group": f"g{i}", "topic": f"t{j}"}, values={"lag_messages": j + round_no})
                         for j in range(10)) if kind == "kafka_consumer_lag" else ()
        out.append(CheckResult(f"check_{i}", kind, Status.OK, NOW + timedelta(seconds=round_no), "ok",
                               values={"rows": float(i), "age_seconds": 60.0 + round_no,
                                       "age_seconds_warning_threshold": 900.0}, findings=findings))
    return out


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(n: int, variant: str) -> dict[str, Any]:
    """Steady state: the gauges exist (a first round is observed untimed), then REPEAT rounds of new values."""
    registry = CollectorRegistry(auto_describe=True)
    batches = [results(n, round_no) for round_no in range(REPEAT + 1)]
    if variant == "on_arrival":
        gauges: Any = OnArrivalGauges(registry, {"kafka_consumer_lag": LAG})
    else:
        planned = [PlannedSeries(r.check_id, r.kind, LAG if r.kind == "kafka_consumer_lag" else None)
                   for r in batches[0]]
        gauges = CheckGauges(lambda: planned)
        registry.register(gauges)
    for r in batches[0]:
        gauges.observe(r)
    observe, scrape, bodies = [], [], []
    for batch in batches[1:]:
        observe.append(timed(lambda batch=batch: [gauges.observe(r) for r in batch]))
        scrape.append(timed(lambda: bodies.append(generate_latest(registry))))
    lines = sum(1 for line in bodies[-1].decode().splitlines() if line and not line.startswith("#"))
    return {"observe_ms": round(statistics.median(observe) * 1000, 2),
            "scrape_ms": round(statistics.median(scrape) * 1000, 2), "series": lines}


def main() -> None:
    runs = []
    for n in SIZES:
        before, after = measure(n, "on_arrival"), measure(n, "collector")
        assert before["series"] == after["series"], (n, before, after)
        runs.append({"checks": n, "baseline_on_arrival": before, "collector": after})
        print(f"{n:>6} checks, {after['series']:>6} series | observe: on arrival {before['observe_ms']:8.2f} ms, "
              f"collector {after['observe_ms']:8.2f} ms | scrape: on arrival {before['scrape_ms']:8.2f} ms, "
              f"collector {after['scrape_ms']:8.2f} ms")
    out = ROOT / "benchmarks" / "results" / "metrics_scrape.json"
    out.write_text(json.dumps({"benchmark": "metrics_scrape", "python": platform.python_version(),
                               "machine": platform.machine(), "repeat": REPEAT, "runs": runs}, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
