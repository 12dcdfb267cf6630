"""Scheduling throughput benchmark (issue 14, point 5): 1,000 check runs per minute sustained on this machine, with
the p99 delay from a run's scheduled time to its start under 1 s.

The daemon's own parts run for real: the APScheduler-based CheckScheduler, the runner, worker processes from the fork
server, the SQLite state store (every result stored, every run reads and writes its check memory). The checks are
quick ones (tests/fakes/faulty_checks.py with no fault) so what is measured is Sentinel's cost per run, not a remote
system's. 50 checks every 3 s = 1,000 runs a minute. The same schedule on the thread runner
(SENTINEL_CHECK_ISOLATION=thread), as Sentinel ran checks before worker processes, is measured in the same run.

Run: .venv/bin/python benchmarks/throughput.py  (SENTINEL_BENCH_SECONDS, default 60)
Writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED  # noqa: E402

from sentinel.compose_root import Wiring, build_app  # noqa: E402
from sentinel.config.settings import Settings  # noqa: E402
from sentinel.model import CheckResult  # noqa: E402
from sentinel.scheduler import CheckScheduler  # noqa: E402
from tests.fakes.faulty_checks import FaultyCheck  # noqa: E402

CHECKS, EVERY_SECONDS = 50, 3
# Both are whole multiples of EVERY_SECONDS, so the measured window holds a whole number of schedule ticks: a
# window of 55 s holds 18 ticks of 3 s (900 runs) and read as 982 runs a minute when all of them ran.
WARMUP_SECONDS = 9.0
TAIL_SECONDS = 6.0
TARGET_RUNS_PER_MINUTE, TARGET_P99_SECONDS = 1000, 1.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(isolation: str, seconds: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sentinel-throughput-"))
    rules = "version: 1\nchecks:\n" + "".join(
        f"  - {{id: c{i:02d}, kind: faulty, timeout: 10s, schedule: {{every: {EVERY_SECONDS}s}}}}\n"
        for i in range(CHECKS))
    (work / "rules.yaml").write_text(rules)
    settings = Settings(config_file=work / "rules.yaml", state_path=work / "s.db", check_isolation=isolation)
    app = build_app(settings, extra_checks={"faulty": FaultyCheck}, wiring=Wiring(alerting=False, daemon=True))
    lock = threading.Lock()
    scheduled: dict[str, list[datetime]] = defaultdict(list)
    started: dict[str, list[datetime]] = defaultdict(list)
    missed: list[datetime] = []  # scheduled times of runs skipped or missed

    def on_result(result: CheckResult) -> None:
        at = datetime.fromisoformat(result.summary.split(" at ", 1)[1].split(" in pid", 1)[0])
        with lock:
            started[result.check_id].append(at)

    def on_event(event: Any) -> None:
        with lock:
            if event.code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):  # a run that did not happen on time
                missed.extend(event.scheduled_run_times if event.code == EVENT_JOB_MAX_INSTANCES
                              else [event.scheduled_run_time])
            elif not event.job_id.startswith("__"):
                scheduled[event.job_id].append(event.scheduled_run_time)

    scheduler = CheckScheduler(app, on_result=on_result)
    scheduler._scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    begin = time.monotonic()
    cpu0 = time.process_time()
    scheduler.start()
    time.sleep(seconds + WARMUP_SECONDS)
    scheduler.shutdown(drain=timedelta(seconds=10))
    elapsed = time.monotonic() - begin
    cpu = time.process_time() - cpu0
    app.close()
    # Runs scheduled inside the window [first + warm-up, first + warm-up + seconds - tail]: the tail leaves time for
    # the last of them to finish before the scheduler stops, so none is lost at the edge.
    first = min(min(v) for v in scheduled.values())
    window = seconds - TAIL_SECONDS
    delays: list[float] = []
    runs = 0
    with lock:
        for job, times in scheduled.items():
            for when, at in zip(times, started[job], strict=False):
                offset = (when - first).total_seconds() - WARMUP_SECONDS
                if 0 <= offset < window:
                    runs += 1
                    delays.append(max(0.0, (at - when).total_seconds()))
        skipped_in_window = sum(1 for when in missed
                                if 0 <= (when - first).total_seconds() - WARMUP_SECONDS < window)
    per_minute = runs / window * 60
    return {"isolation": isolation, "measured_seconds": seconds, "window_seconds": window, "runs": runs,
            "scheduled_in_window": runs + skipped_in_window, "runs_per_minute": round(per_minute),
            "p50_delay_seconds": round(statistics.median(delays), 3) if delays else None,
            "p99_delay_seconds": round(percentile(delays, 0.99), 3), "max_delay_seconds": round(max(delays), 3),
            "missed_or_skipped_runs": len(missed), "missed_or_skipped_in_window": skipped_in_window,
            "scheduler_process_cpu_seconds": round(cpu, 1), "wall_seconds": round(elapsed, 1)}


def main() -> int:
    seconds = float(os.environ.get("SENTINEL_BENCH_SECONDS", "60"))
    results: dict[str, Any] = {"cpus": os.cpu_count(), "checks": CHECKS, "every_seconds": EVERY_SECONDS,
                               "scheduled_runs_per_minute": CHECKS * 60 // EVERY_SECONDS,
                               "load_average_at_start": os.getloadavg()[0]}
    for isolation in ("process", "thread"):
        r = measure(isolation, seconds)
        results[isolation] = r
        print(f"{isolation:>7}: {r['runs_per_minute']} runs/min sustained, scheduled->started p50 "
              f"{r['p50_delay_seconds']} s, p99 {r['p99_delay_seconds']} s, max {r['max_delay_seconds']} s, "
              f"{r['missed_or_skipped_in_window']} missed or skipped in the window ({r['missed_or_skipped_runs']} with the "
              f"warm-up)", flush=True)
    proc = results["process"]
    results["targets"] = {"runs_per_minute": TARGET_RUNS_PER_MINUTE, "p99_delay_seconds": TARGET_P99_SECONDS}
    results["verdicts"] = {
        "sustains_1000_runs_per_minute": proc["runs_per_minute"] >= TARGET_RUNS_PER_MINUTE,
        "p99_scheduled_to_started_under_1s": proc["p99_delay_seconds"] < TARGET_P99_SECONDS,
    }
    results["load_average_at_end"] = os.getloadavg()[0]
    out = ROOT / "benchmarks" / "results" / "throughput.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("verdicts:", ", ".join(f"{k}={'PASS' if v else 'MISS'}" for k, v in results["verdicts"].items()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
