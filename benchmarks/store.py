"""State store cost (issue 13, point 5: the shared SQL layer). The store's hot calls on SqliteStateStore, timed with
this tree's code and, as the baseline in the same run, with the store as it was before the layer (commit e54c983,
extracted with `git archive` into a temporary directory). Each side runs in its own process, the two alternating
ROUNDS times; the best round of each counts (the one least disturbed by the machine's other processes).

- save_result:        one result per check run (the daemon's most frequent write)
- memory round trip:  memory_save + memory_load, as stateful checks do every run
- alert_states_save:  500 states in one executemany (a large incident)
- sla_observations:   read 2,000 observations of one SLA (burn rates read hours of them on every result)

Also the layer's own work per statement (render the dialect's text + bind values by name): pure CPU, steadier than
the end-to-end figures on a loaded machine.

Run: .venv/bin/python benchmarks/store.py      Writes benchmarks/results/store.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CODE_ROOT = Path(os.environ.get("SENTINEL_BENCH_CODE", ROOT))  # whose `sentinel` package is measured
sys.path.insert(0, str(CODE_ROOT))

BASELINE_COMMIT = "e54c983"
ROUNDS, REPEATS = 5, 5
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def best_of(fn: Callable[[int], Any], n: int) -> float:
    best = float("inf")
    for r in range(REPEATS):
        start = time.perf_counter()
        for i in range(n):
            fn(r * n + i)
        best = min(best, (time.perf_counter() - start) / n)
    return best


def measure(work: Path) -> dict[str, float]:
    """The hot calls through the public store API, which both sides share."""
    from sentinel.alerting.types import AlertState, Phase
    from sentinel.model import CheckResult, Severity, Status
    from sentinel.sla import ObsState, SlaObservation
    from sentinel.store.sqlite import SqliteStateStore

    store = SqliteStateStore(work / "s.db")
    states = [AlertState(f"fp{i}", "r1", f"c{i % 50}", "k", {"stage": "s3"}, phase=Phase.FIRING,
                         severity=Severity.CRITICAL, summary="late", fired_at=T0) for i in range(500)]
    store.sla_observations_add([SlaObservation("s", T0 + timedelta(seconds=i), ObsState.MET, 1.0, "c", "")
                                for i in range(2000)])

    def save(i: int) -> None:
        store.save_result(CheckResult(f"c{i % 50}", "k", Status.OK, T0 + timedelta(seconds=i), "ok",
                                      values={"lag_seconds": 1.0}))

    def memory(i: int) -> None:
        store.memory_save("c", "k", {"offsets": [i]}, T0)
        store.memory_load("c", "k")

    out = {
        "save_result_us": best_of(save, 300) * 1e6,
        "memory_round_trip_us": best_of(memory, 300) * 1e6,
        "alert_states_save_500_ms": best_of(lambda i: store.alert_states_save(states, T0), 10) * 1e3,
        "sla_observations_2000_ms": best_of(lambda i: store.sla_observations("s", T0, T0 + timedelta(days=1)), 20)
        * 1e3,
    }
    store.close()
    return out


def per_statement_us() -> dict[str, float]:
    """Render + bind of one 3-parameter statement, per dialect (best of REPEATS x 20,000)."""
    from sentinel.store.sla_tables import _OBS_BETWEEN
    from sentinel.store.sql import POSTGRES, SQLITE

    params = {"sla_id": "s", "start": "2026-11-23T09:00:00.000000Z", "end": "2026-11-24T09:00:00.000000Z"}
    out = {}
    for dialect in (SQLITE, POSTGRES):
        best = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            for _ in range(20_000):
                dialect.render(_OBS_BETWEEN)
                dialect.bind(_OBS_BETWEEN, params)
            best = min(best, (time.perf_counter() - start) / 20_000)
        out[f"{dialect.name}_render_and_bind_us"] = round(best * 1e6, 2)
    return out


def run_side(code_root: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--measure"], env={**os.environ, "SENTINEL_BENCH_CODE": str(code_root)},
                          capture_output=True, text=True, timeout=600, check=True)
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-store-bench-"))
    baseline = tmp / "baseline"
    baseline.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_COMMIT, "sentinel"], capture_output=True,
                             check=True, timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive, check=True, timeout=60)
    load = os.getloadavg()[0]
    best: dict[str, dict[str, float]] = {"shared_sql_layer": {}, f"baseline_{BASELINE_COMMIT}": {}}
    for _ in range(ROUNDS):
        for side, root in (("shared_sql_layer", ROOT), (f"baseline_{BASELINE_COMMIT}", baseline)):
            for name, value in run_side(root).items():
                best[side][name] = round(min(value, best[side].get(name, float("inf"))), 2)
    mine, base = best["shared_sql_layer"], best[f"baseline_{BASELINE_COMMIT}"]
    report = {
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        **best,
        "layer_over_baseline": {k: round(mine[k] / base[k], 2) for k in mine},
        "layer_work_per_statement": per_statement_us(),
    }
    for name in mine:
        print(f"{name:28} layer {mine[name]:10.2f}   {BASELINE_COMMIT} {base[name]:10.2f}   x{mine[name] / base[name]:.2f}")
    for name, value in report["layer_work_per_statement"].items():
        print(f"{name:28} {value:10.2f}")
    out = ROOT / "benchmarks" / "results" / "store.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    if "--measure" in sys.argv:
        print(json.dumps(measure(Path(tempfile.mkdtemp(prefix="sentinel-store-side-")))))
    else:
        main()
