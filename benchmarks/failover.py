"""HA failover benchmark (issues: cluster and on-call; 16, two replicas that never double-page).

Two `sentinel run` replicas on one PostgreSQL state store. Measures, per trial:
  * takeover after `kill -9` of the leader          target < 30 s   (the follower retries every 2 s)
  * takeover after SIGTERM of the leader (graceful: it drains, then releases its lock and ends its lease)
  * baseline: the follower's retry interval (sentinel.leader.RENEW_SECONDS). Both takeovers are bounded by it plus
    the time the follower needs to notice (/readyz is polled every 50 ms here): the lock of a killed leader is freed
    by PostgreSQL the moment its socket closes, so kill -9 is no slower than a clean exit
  * takeover after SIGSTOP of the leader, and after its line to the database is cut (a proxy that stops bytes
    without closing sockets, tests/e2e/net_cut.py)   target < 15 s; baseline: lease + retry interval
    (LEASE_SECONDS + RENEW_SECONDS), the bound of the design: the session of such a leader stays open, so the
    follower waits for its lease to expire, then ends that session
  * pages sent in total (must stay 1: the alert state is shared, so a new leader does not re-page)

Run: .venv/bin/python benchmarks/failover.py   (starts its own PostgreSQL under .cache/devstack)
Writes benchmarks/results/failover.json.
"""

from __future__ import annotations

import json
import signal
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from devstack.postgres import start_postgres  # noqa: E402
from sentinel.leader import LEASE_SECONDS, RENEW_SECONDS  # noqa: E402
from tests.e2e.daemon_util import Daemon, base_env, start_daemon, wait_for  # noqa: E402
from tests.e2e.net_cut import CuttableProxy  # noqa: E402

RETRY_SECONDS = RENEW_SECONDS

TRIALS = 3
CONFIG = """
checks:
  - id: backlog
    kind: sql_threshold
    schedule: {every: 1s}
    labels: {table: payments.transactions, stage: postgres}
    params: {query: "SELECT 1000", value_name: backlog_rows, critical: 500}
routes:
  - {name: page, receivers: [pager], min_severity: critical, group_wait: 0s}
"""


class Pager:
    """A minimal PagerDuty Events v2 endpoint that counts triggers."""

    def __init__(self) -> None:
        self.triggers = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if body.get("event_action") == "trigger":
                    outer.triggers += 1
                reply = json.dumps({"status": "success", "dedup_key": body.get("dedup_key", "x")}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def role(d: Daemon) -> str:
    body = d.get("/readyz")[1]
    return "leader" if "role leader" in body else "follower"


def trial(env: dict[str, str], work: Path, how: str, n: int) -> float:
    proxy = None
    env_a = env
    if how == "cut":  # only the leader's line to the store goes through the proxy
        host_port = env["SENTINEL_STATE_DSN"].split("@", 1)[1].split("/", 1)[0]
        proxy = CuttableProxy(host_port.rsplit(":", 1)[0], int(host_port.rsplit(":", 1)[1]))
        env_a = {**env, "SENTINEL_STATE_DSN": env["SENTINEL_STATE_DSN"].replace(
            f"@{host_port}/", f"@127.0.0.1:{proxy.port}/")}
    a = start_daemon(f"{how}-{n}-a", env_a, work)
    wait_for(lambda: role(a) == "leader", 20, "a not leader", a)
    b = start_daemon(f"{how}-{n}-b", env, work)
    wait_for(lambda: role(b) == "follower", 20, "b not follower", b)
    time.sleep(1.0)
    try:
        started = time.monotonic()
        if how == "kill9":
            a.kill9()
        elif how == "sigstop":
            a.signal(signal.SIGSTOP)
        elif how == "cut" and proxy is not None:
            proxy.cut()
        else:
            a.signal(signal.SIGTERM)
        wait_for(lambda: role(b) == "leader", 60, "no takeover", b, every=0.05)
        return time.monotonic() - started
    finally:
        if a.alive():
            a.signal(signal.SIGCONT)
        if proxy is not None:
            proxy.close()
        a.stop()
        b.stop()


def main() -> int:
    pg = start_postgres("bench-failover")
    try:
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "failover_state" WITH (FORCE)')
        state = pg.create_database("failover_state")
        pager = Pager()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "alert_rules.yaml").write_text(CONFIG)
            env = base_env(work, SENTINEL_STATE_DSN=state, SENTINEL_POSTGRES_DSN=pg.monitor_dsn("postgres"),
                           SENTINEL_PAGER_BACKEND="pagerduty", SENTINEL_PAGERDUTY_ROUTING_KEY="r" * 32,
                           SENTINEL_PAGERDUTY_BASE_URL=pager.url)
            kill9 = [trial(env, work, "kill9", i) for i in range(TRIALS)]
            graceful = [trial(env, work, "sigterm", i) for i in range(TRIALS)]
            frozen = [trial(env, work, "sigstop", i) for i in range(TRIALS)]
            cut = [trial(env, work, "cut", i) for i in range(TRIALS)]
            time.sleep(6)  # a last delivery round would show a re-page
        result = {
            "trials": TRIALS,
            "baseline_retry_seconds": RETRY_SECONDS,
            "takeover_after_kill9_seconds": {"median": statistics.median(kill9), "max": max(kill9), "all": kill9},
            "takeover_after_sigterm_seconds": {"median": statistics.median(graceful), "max": max(graceful),
                                               "all": graceful},
            "target_seconds": 30,
            "baseline_lease_plus_retry_seconds": LEASE_SECONDS + RENEW_SECONDS,
            "takeover_after_sigstop_seconds": {"median": statistics.median(frozen), "max": max(frozen), "all": frozen},
            "takeover_after_network_cut_seconds": {"median": statistics.median(cut), "max": max(cut), "all": cut},
            "target_frozen_or_cut_seconds": 15,
            "pages_total": pager.triggers,
        }
    finally:
        pg.stop()
    print(json.dumps(result, indent=2))
    print(f"kill -9 takeover median {result['takeover_after_kill9_seconds']['median']:.2f}s (max "
          f"{max(kill9):.2f}s) vs retry interval {RETRY_SECONDS:.0f}s; SIGTERM median {statistics.median(graceful):.2f}s;"
          f" pages {pager.triggers} (want 1); target < 30 s")
    print(f"SIGSTOP takeover median {statistics.median(frozen):.2f}s (max {max(frozen):.2f}s), network cut median"
          f" {statistics.median(cut):.2f}s (max {max(cut):.2f}s) vs lease + retry {LEASE_SECONDS + RENEW_SECONDS:.0f}s;"
          " target < 15 s")
    out = ROOT / "benchmarks" / "results" / "failover.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
