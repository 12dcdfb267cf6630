"""Memory of the check worker processes (issue 14, point 5), measured as PSS: pages shared between the fork server
and its forked workers are counted once, split among them.

Every check kind of alert_rules.yaml is preloaded in the fork server, as the daemon does for a full configuration;
8 workers (SENTINEL_MAX_WORKERS' default) run bursts of quick checks. Measured in the same run, each in a fresh
interpreter:

  process         the caller + fork server + 8 workers right after the bursts (the daemon's peak) and again after
                  IDLE_SECONDS without checks (spare workers stopped, the 2 most recent kept)
  thread          the baseline: one process that imported the same modules and ran the checks on threads

(gc.freeze() in the fork server was tried: no difference within 5 MiB after 60 runs per worker, so it is not used.)

Run: .venv/bin/python benchmarks/worker_memory.py     Writes benchmarks/results/worker_memory.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORKERS = 8
BURSTS = 60
IDLE_SECONDS = 25  # > spare_idle_seconds (15) + the reaper's 5 s period


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(variant: str) -> dict[str, Any]:
    """Runs in a fresh interpreter (see main): build, run bursts, measure the process tree."""
    import importlib
    import time

    from sentinel.api import DictMemory
    from sentinel.clock import SystemClock
    from sentinel.compose_root import plan_checks
    from sentinel.config.checks_spec import CheckSpec
    from sentinel.config.loader import load_config
    from sentinel.config.settings import Settings
    from sentinel.isolation import WorkerPool
    from sentinel.plugins import check_registry
    from sentinel.redact import Redactor
    from sentinel.runner import CheckRunner, PlannedCheck
    from tests.fakes.faulty_checks import FaultyCheck

    registry = check_registry()
    configured = plan_checks(load_config(ROOT / "alert_rules.yaml", registry), registry)
    preload = sorted({m for p in configured for m in (type(p.check).__module__, *p.check.warm_imports)})
    preload.append("tests.fakes.faulty_checks")
    settings = Settings()
    pool = None
    if variant == "thread":
        for module in preload:
            importlib.import_module(module)
    else:
        pool = WorkerPool(settings, SystemClock(), size=WORKERS, memory_limit_bytes=2**30, preload=preload)
    runner = CheckRunner(None, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(settings),
                         max_workers=WORKERS, pool=pool)

    def burst(fault: str, seconds: float = 0.0) -> None:
        runner.run_many([PlannedCheck(CheckSpec(id=f"c{i}", kind="faulty", timeout=timedelta(seconds=60)),
                                      FaultyCheck(FaultyCheck.Params(fault=fault, seconds=seconds)), "sql-threshold")
                         for i in range(WORKERS)])

    burst("sleep", 2.0)  # all 8 workers exist at once
    for _ in range(BURSTS):  # enough runs for full collections in the workers, as a long-lived daemon has
        burst("none")
    peak = _tree_pss()
    time.sleep(IDLE_SECONDS)
    idle = _tree_pss()
    runner.close()
    return {"variant": variant, "after_bursts": peak, f"after_{IDLE_SECONDS}s_idle": idle}


def _tree_pss() -> dict[str, Any]:
    tree = _children(os.getpid())
    tree += [g for k in tree for g in _children(k)]
    caller = _pss_mib(os.getpid())
    others = sum(_pss_mib(p) for p in tree)
    return {"processes": 1 + len(tree), "caller_pss_mib": round(caller, 1),
            "workers_and_fork_server_pss_mib": round(others, 1), "total_pss_mib": round(caller + others, 1)}


def main() -> int:
    if len(sys.argv) > 1:
        print(json.dumps(measure(sys.argv[1])))
        return 0
    results: dict[str, Any] = {"workers": WORKERS, "preloaded": "every check kind of alert_rules.yaml"}
    for variant in ("process", "thread"):
        out = subprocess.run([sys.executable, __file__, variant], capture_output=True, text=True, timeout=600,
                             check=True)
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        for when in ("after_bursts", f"after_{IDLE_SECONDS}s_idle"):
            r = results[variant][when]
            print(f"{variant:>7} {when:>17}: {r['total_pss_mib']:6.1f} MiB PSS in {r['processes']} processes "
                  f"(caller {r['caller_pss_mib']} MiB)", flush=True)
    for when in ("after_bursts", f"after_{IDLE_SECONDS}s_idle"):
        results[f"isolation_costs_mib_{when}"] = round(results["process"][when]["total_pss_mib"]
                                                       - results["thread"][when]["total_pss_mib"], 1)
    out_path = ROOT / "benchmarks" / "results" / "worker_memory.json"
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"isolation costs {results['isolation_costs_mib_after_bursts']} MiB over the thread runner at the peak, "
          f"{results[f'isolation_costs_mib_after_{IDLE_SECONDS}s_idle']} MiB between bursts")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
