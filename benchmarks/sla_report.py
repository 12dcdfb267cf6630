"""SLA ledger and weekly report benchmark (issue 8).

Production cadence: the warehouse_freshness check every minute, three SLAs on its findings, i.e. 3 x 10,080
observations a week; two weeks are seeded (the report compares with the week before) into a SQLite state store,
plus the same results in check_results. Measured in the same run:

  burn per result   SlaLedger.burn_results for one new result (3 SLAs, 6 h windows)          target < 20 ms
  naive burn        baseline: the same burn rates recomputed from check_results (JSON) per result
  report data       build_weekly_report for a full week (3 SLAs, previous week, alert history) target < 2 s
  charts            three PNG charts (matplotlib Agg)                                          target < 3 s
  html + text       rendering both parts
  store size        bytes of the ledger per SLA-week

Run: .venv/bin/python benchmarks/sla_report.py      Writes benchmarks/results/sla_report.json.
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sentinel.clock import FakeClock  # noqa: E402
from sentinel.config.spec import SentinelConfig  # noqa: E402
from sentinel.model import CheckResult, Finding, Status  # noqa: E402
from sentinel.sla import burn_result, burn_statuses, observations_for  # noqa: E402
from sentinel.sla_ledger import SlaLedger  # noqa: E402
from sentinel.store.sqlite import SqliteStateStore  # noqa: E402

W46 = datetime(2026, 11, 9, tzinfo=UTC)
W48 = datetime(2026, 11, 23, tzinfo=UTC)
TABLES = [("RAW.TRANSACTIONS", "payments.transactions", 900), ("FCT_MERCHANT_HEALTH", "users.merchants", 1800)]
CONFIG = {
    "checks": [{"id": "warehouse_freshness", "kind": "warehouse_freshness", "schedule": {"every": "1m"},
                "params": {"tables": [{"table": "A.B", "column": "c", "critical_after": "15m"}]}}],
    "slas": [
        {"id": "transactions_freshness", "check": "warehouse_freshness", "finding": "RAW.TRANSACTIONS",
         "table": "payments.transactions", "threshold": "15m", "max_gap": "5m"},
        {"id": "merchant_analytics_freshness", "check": "warehouse_freshness", "finding": "FCT_MERCHANT_HEALTH",
         "table": "users.merchants", "threshold": "30m", "max_gap": "5m", "objective": 0.99},
        {"id": "daily_aggregates_deadline", "kind": "deadline", "check": "warehouse_freshness",
         "finding": "FCT_DAILY_VOLUME", "deadline": "1h", "max_gap": "5m"},
    ],
}


def result_at(now: datetime) -> CheckResult:
    minute = int((now - W46).total_seconds() // 60)
    findings = []
    for key, table, limit in TABLES:
        age = 60.0 * (minute % 12) + (1500.0 if minute % 2000 < 40 else 0.0)
        findings.append(Finding(key, Status.CRITICAL if age >= limit else Status.OK, f"{key} {age:.0f}s",
                                values={"age_seconds": age}, labels={"table": table}))
    late = now.hour == 1 and now.minute < 10 and now.day % 3 == 0
    findings.append(Finding("FCT_DAILY_VOLUME", Status.CRITICAL if late else Status.OK, "daily",
                            values={"seconds_past_deadline": 60.0 * now.minute if late else 0.0}))
    return CheckResult("warehouse_freshness", "warehouse_freshness", Status.worst(f.status for f in findings), now,
                       "x", findings=tuple(findings))


def main() -> None:
    from sentinel.reports.charts import charts_for
    from sentinel.reports.model import build_weekly_report
    from sentinel.reports.render import render_html, render_text

    config = SentinelConfig.model_validate(CONFIG)
    tmp = Path(tempfile.mkdtemp())
    store = SqliteStateStore(tmp / "state.db")
    clock = FakeClock(W48)
    ledger = SlaLedger(config.slas, store, clock)
    t = time.perf_counter()
    now, batch, results = W46, [], []
    while now < W48:
        r = result_at(now)
        batch.extend(observations_for(config.slas, r))
        results.append(r)
        now += timedelta(minutes=1)
    store.sla_observations_add(batch)
    with store.transaction() as conn:
        conn.executemany("INSERT INTO check_results (check_id, observed_at, status, payload) VALUES (?, ?, ?, ?)",
                         [(r.check_id, r.observed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                           r.status.value, json.dumps(r.to_json())) for r in results])
    seed_s = time.perf_counter() - t

    probe = result_at(W48 - timedelta(minutes=1))
    burn_ms = []
    for _ in range(50):
        t = time.perf_counter()
        ledger.burn_results([probe])
        burn_ms.append((time.perf_counter() - t) * 1000)
    naive_ms = []
    for _ in range(5):
        t = time.perf_counter()
        for sla in config.slas:
            start = W48 - timedelta(hours=6)
            past = store.results_between("warehouse_freshness", start, W48)
            obs = [o for r in past for o in observations_for([sla], r)]
            burn_result(sla, burn_statuses(sla, obs, W48), W48)
        naive_ms.append((time.perf_counter() - t) * 1000)

    t = time.perf_counter()
    report = build_weekly_report(config, ledger, store, "2026-W47", W48 + timedelta(hours=9))
    report_s = time.perf_counter() - t
    t = time.perf_counter()
    report.charts.update(charts_for(report))
    charts_s = time.perf_counter() - t
    t = time.perf_counter()
    html, text = render_html(report), render_text(report)
    render_s = time.perf_counter() - t
    store.close()
    db_bytes = (tmp / "state.db").stat().st_size + sum(p.stat().st_size for p in tmp.glob("state.db-*"))

    figures: dict[str, Any] = {
        "observations": len(batch), "seed_seconds": round(seed_s, 2),
        "burn_per_result_ms_median": round(statistics.median(burn_ms), 2), "burn_target_ms": 20,
        "naive_burn_from_results_ms_median": round(statistics.median(naive_ms), 2),
        "report_data_seconds": round(report_s, 3), "report_target_seconds": 2,
        "charts_seconds": round(charts_s, 3), "charts_target_seconds": 3,
        "render_seconds": round(render_s, 3), "html_bytes": len(html), "text_bytes": len(text),
        "state_db_bytes_incl_results": db_bytes,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(), "machine": platform.machine(),
    }
    for k, v in figures.items():
        print(f"{k:>36}: {v}")
    print(f"burn per result {figures['burn_per_result_ms_median']} ms vs naive {figures['naive_burn_from_results_ms_median']}"
          f" ms ({'OK' if figures['burn_per_result_ms_median'] < 20 else 'OVER'} target 20 ms); report "
          f"{report_s:.2f} s, charts {charts_s:.2f} s")
    out = ROOT / "benchmarks" / "results" / "sla_report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
