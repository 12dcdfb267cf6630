"""Demo area "looker": a local Looker API 4.0 (devstack/looker.py) in the state a dbt column rename leaves it in,
so `sentinel check --once` and `sentinel status` show the last hop:

- content validator: the Executive Dashboard tile "Daily GMV" uses fct_transactions.amount_usd, which the dbt model
  renamed to amount_eur: critical, on payments.transactions, naming the Executive Dashboard (a dbt alert of the same
  table, if the dbt area runs, is the root cause and inhibits it);
- PDTs, datagroups and scheduled deliveries are healthy (ok).

    seeded_looker(now) -> FakeLooker      the API's data relative to `now`
    start_seeded_looker(now)              served by a child process (kept by --keep, stopped by --down)
    seed(stack)                           devstack.demo entry: starts it and exports SENTINEL_LOOKER_*
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.base import PROJECT_ROOT, ServiceUnavailable, cache_dir, free_port, port_open, spawn, wait_until
from devstack.looker import FakeLooker, start_looker

RENAMED_FIELD = "fct_transactions.amount_usd"


def seeded_looker(now: datetime) -> FakeLooker:
    fake = FakeLooker()
    fresh = int((now - timedelta(minutes=40)).timestamp())
    fake.datagroups = [{"id": f"novapay::{name}", "model_name": "novapay", "name": name, "triggered_at": fresh,
                        "trigger_check_at": fresh, "trigger_value": str(fresh), "trigger_error": None,
                        "created_at": fresh, "stale_before": None, "can": {}} for name in ("nightly", "hourly")]
    stamp = (now - timedelta(hours=3)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    fake.pdt_events = [{"pdt_event_log.created_time": stamp, "pdt_event_log.action": "create complete",
                        "pdt_event_log.action_data": "", "pdt_event_log.model_name": "novapay",
                        "pdt_event_log.view_name": "daily_gmv"}]
    fake.schedule_jobs = [{"scheduled_job.finalized_time": stamp, "scheduled_job.status": "success",
                           "scheduled_job.status_detail": None, "scheduled_plan.id": "41",
                           "scheduled_plan.name": "Exec daily 7am", "dashboard.title": "Executive Dashboard"}]
    fake.content_with_errors = [{
        "dashboard": {"id": "12", "title": "Executive Dashboard", "url": "/dashboards/12"},
        "dashboard_element": {"id": "88", "title": "Daily GMV", "dashboard_id": "12"},
        "errors": [{"message": f'Unknown field "{RENAMED_FIELD}".', "field_name": RENAMED_FIELD,
                    "model_name": "novapay", "explore_name": "fct_transactions", "removable": True}],
        "id": "cv-1"}]
    return fake


def start_seeded_looker(now: datetime, *, timeout: float = 30.0) -> ServedLooker:
    """The stand-in in a child process (`python -m devstack.demo_looker serve`), so `scripts/demo --keep` keeps it
    like the other servers (a PID record in .cache/devstack/pids until `--down`)."""
    port = free_port()
    log = cache_dir("looker") / f"looker-demo-{port}.log"
    proc = spawn("looker-demo", [sys.executable, "-m", "devstack.demo_looker", "serve", "--port", str(port),
                                 "--now", now.isoformat()], log=log, cwd=PROJECT_ROOT)
    try:
        wait_until(lambda: port_open("127.0.0.1", port), what=f"Looker stand-in on port {port}", timeout=timeout,
                   proc=proc.popen, log=log)
    except ServiceUnavailable:
        proc.stop()
        raise
    return ServedLooker(f"http://127.0.0.1:{port}", FakeLooker(), proc.stop)


@dataclass
class ServedLooker:
    base_url: str
    fake: FakeLooker  # only for its credentials: the served one lives in the child process
    stop: Callable[[], None]

    def env(self) -> dict[str, str]:
        return {"SENTINEL_LOOKER_BASE_URL": self.base_url, "SENTINEL_LOOKER_CLIENT_ID": self.fake.client_id,
                "SENTINEL_LOOKER_CLIENT_SECRET": self.fake.client_secret}


def seed(stack: Any) -> None:
    service = stack.start("looker", lambda: start_seeded_looker(datetime.now(UTC)))
    stack.env.update(service.env())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="serve the demo's Looker API stand-in")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--now", required=True, help="ISO time the seed is relative to")
    args = parser.parse_args()
    served = start_looker(seeded_looker(datetime.fromisoformat(args.now)), port=args.port)
    threading.Event().wait()  # serve until the parent stops our process group
