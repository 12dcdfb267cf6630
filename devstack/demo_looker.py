"""Demo area "looker": a local Looker API 4.0 (devstack/looker.py) in the state a dbt column rename leaves it in,
so `sentinel check --once` and `sentinel status` show the last hop:

- content validator: the Executive Dashboard tile "Daily GMV" uses fct_transactions.amount_usd, which the dbt model
  renamed to amount_eur: critical, on payments.transactions, naming the Executive Dashboard (a dbt alert of the same
  table, if the dbt area runs, is the root cause and inhibits it);
- PDTs, datagroups and scheduled deliveries are healthy (ok).

    seeded_looker(now) -> FakeLooker      the API's data relative to `now`
    seed(stack)                           devstack.demo entry: serves it and exports SENTINEL_LOOKER_*
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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


def seed(stack: Any) -> None:
    service = stack.start("looker", lambda: start_looker(seeded_looker(datetime.now(UTC))))
    stack.env.update(service.env())
