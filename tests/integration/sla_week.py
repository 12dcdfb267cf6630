"""A simulated fortnight of the CDC pipeline for the SLA tests, run by the real check runner under a FakeClock.

The measured system is a simulated warehouse: dbt loads ANALYTICS.FCT_TRANSACTIONS every 10 minutes and
FCT_MERCHANT_HEALTH every 15; yesterday's FCT_DAILY_VOLUME row lands at 00:40. A check plugin written for the test
reads the newest `_loaded_at` / day and judges them with the production `warehouse_freshness` judgement
(`evaluate_age` / `evaluate_deadline`, one finding per table). Three SLAs follow the findings: transactions < 15 min
(99%), daily aggregates by 01:00 UTC (99%), merchant analytics < 30 min (99.5%). (A real
PostgreSQL connection costs ~30 ms per run; 2,700 runs would make this test minutes long.) Upstream stages are a
scripted check. Alerts go through the real pipeline to contract-checking fake Slack and PagerDuty servers.

The scenario is written against a `tests.calendars.Calendar`: weeks A and B are simulated, "now" falls in week C.
The `week` fixture runs it at every calendar (this week, the 2026-W53 turn of the year, the 2028 leap day, a Sunday
23:59 before a Monday report), so no figure depends on the day the suite runs.

Week A, checks every 15 minutes:
  - Wed 14:10-14:50 no loads -> one breach 14:15-15:00 (45 min), no upstream alert.
Week B (the report week), checks every 5 minutes:
  - Tue 09:50-10:20 no loads (S3 sink stalled 09:35-10:30) -> breach 09:55-10:30 (35 min, worst 45 min)
  - Thu 01:50-02:30 no loads (dbt failing 01:40-02:40)     -> breach 01:55-02:40 (45 min, worst 55 min)
  - Fri 12:00-12:25 the daemon is down (no check runs): the 11:55 observation holds 15 min (max_gap),
    12:10-12:30 is unknown (20 min)
  - Sat 03:00 the warehouse is unreachable during the check run: ERROR -> 03:00-03:05 unknown (5 min)
  - Thu Wednesday's daily row lands at 01:25: daily aggregates breach 01:00-01:25 (25 min)
  (the daemon gap and the ERROR are unknown time for all three SLAs: 25 min each)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import Field
from sentinel_checks.warehouse_freshness import FreshnessTarget, evaluate_age, evaluate_deadline

from sentinel.api import Check, CheckContext, CheckResult, Params, SourceError, Status
from sentinel.app import App
from sentinel.clock import FakeClock
from sentinel.compose_root import Wiring, build_app
from sentinel.config.settings import Settings
from tests.calendars import Calendar

TX = "payments.transactions"
MERCHANTS = "users.merchants"
FCT_TX, FCT_MERCHANTS, FCT_DAILY = "ANALYTICS.FCT_TRANSACTIONS", "ANALYTICS.FCT_MERCHANT_HEALTH", "ANALYTICS.FCT_DAILY_VOLUME"
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class Scenario:
    """The fortnight's events, placed on a calendar."""

    cal: Calendar

    @property
    def no_loads(self) -> list[tuple[datetime, datetime]]:
        c = self.cal
        return [(c.a(2, 14, 1), c.a(2, 14, 59)), (c.b(1, 9, 41), c.b(1, 10, 29)), (c.b(3, 1, 41), c.b(3, 2, 39))]

    @property
    def daily_late(self) -> dict[date, tuple[int, int]]:
        # Wednesday's row lands on Thursday at 01:25 instead of 00:40: late 01:00-01:25
        return {self.cal.b(3).date(): (1, 25)}

    @property
    def daemon_down(self) -> tuple[datetime, datetime]:
        return self.cal.b(4, 12, 0), self.cal.b(4, 12, 29)

    @property
    def table_unreachable_at(self) -> datetime:
        return self.cal.b(5, 3, 0)

    @property
    def s3_stall(self) -> tuple[datetime, datetime]:
        return self.cal.b(1, 9, 35), self.cal.b(1, 10, 30)

    @property
    def dbt_failing(self) -> tuple[datetime, datetime]:
        return self.cal.b(3, 1, 40), self.cal.b(3, 2, 40)


S3_SUMMARY = "S3 sink connector s3-sink-payments is 48213 records behind on cdc.payments.transactions (critical > 10000)"
DBT_SUMMARY = "dbt job dbt_every_15m failed: model fct_transactions, Database Error: division by zero"


class Window(Params):
    start: datetime
    end: datetime
    summary: str


class ScriptedParams(Params):
    windows: list[Window] = Field(default_factory=list)
    ok_summary: str = "healthy"


class ScriptedStatusCheck(Check[ScriptedParams]):
    """CRITICAL inside its scripted windows, OK outside (an upstream stage of the simulated pipeline)."""

    kind = "scripted_status"
    Params = ScriptedParams
    runbook = "sql-threshold"

    def run(self, ctx: CheckContext) -> CheckResult:
        now = ctx.now()
        for w in self.params.windows:
            if w.start <= now < w.end:
                return ctx.result(self.kind, Status.CRITICAL, w.summary, values={"bad": 1.0})
        return ctx.result(self.kind, Status.OK, self.params.ok_summary, values={"bad": 0.0})


class SimWarehouse:
    """The measured system: load times per table, the days present in the daily aggregate, and moments the
    warehouse does not answer."""

    def __init__(self) -> None:
        self.loads: dict[str, list[datetime]] = {}
        self.days: list[date] = []
        self.unreachable: set[datetime] = set()
        self.scenario: Scenario | None = None

    def reset(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.loads = {FCT_TX: [], FCT_MERCHANTS: []}
        self.days = [scenario.cal.week_a_start.date() - timedelta(days=1)]
        self.unreachable = {scenario.table_unreachable_at}

    def _answer(self, now: datetime) -> None:
        if now in self.unreachable:
            raise SourceError("warehouse did not answer within 10s (statement timeout)")

    def newest(self, table: str, now: datetime) -> datetime | None:
        self._answer(now)
        loads = self.loads.get(table, [])
        return loads[-1] if loads else None

    def newest_day(self, now: datetime) -> date | None:
        self._answer(now)
        return self.days[-1] if self.days else None

    def step(self, now: datetime) -> None:
        """What the pipeline does at `now`: dbt loads, and the daily aggregate for yesterday at 00:40 (late once)."""
        assert self.scenario is not None
        if now.minute % 10 == 0 and not any(_within(now, span) for span in self.scenario.no_loads):
            self.loads[FCT_TX].append(now)
        if now.minute % 15 == 0:
            self.loads[FCT_MERCHANTS].append(now)
        daily_at = self.scenario.daily_late.get(now.date(), (0, 40))
        if (now.hour, now.minute) == daily_at:
            self.days.append(now.date() - timedelta(days=1))


WAREHOUSE = SimWarehouse()


class SimFreshnessParams(Params):
    tables: list[FreshnessTarget]


class SimFreshnessCheck(Check[SimFreshnessParams]):
    """warehouse_freshness's judgement on the simulated warehouse."""

    kind = "sim_freshness"
    Params = SimFreshnessParams
    runbook = "freshness-sla-breach"

    def run(self, ctx: CheckContext) -> CheckResult:
        now = ctx.now()
        findings = [evaluate_deadline(t, WAREHOUSE.newest_day(now), now, UTC_ZONE) if t.mode == "deadline"
                    else evaluate_age(t, WAREHOUSE.newest(t.table, now), now) for t in self.params.tables]
        status = Status.worst(f.status for f in findings)
        return ctx.result(self.kind, status, " | ".join(f.summary for f in findings), findings=findings)


PLUGINS = {"scripted_status": ScriptedStatusCheck, "sim_freshness": SimFreshnessCheck}


def config_dict(scenario: Scenario) -> dict[str, Any]:
    def window(span: tuple[datetime, datetime], summary: str) -> dict[str, str]:
        return {"start": span[0].isoformat(), "end": span[1].isoformat(), "summary": summary}

    return {
        "checks": [
            {"id": "tx_freshness", "kind": "sim_freshness", "schedule": {"every": "5m"}, "timeout": "10s",
             "labels": {"table": TX, "stage": "analytics"},
             "params": {"tables": [
                 {"table": FCT_TX, "column": "_loaded_at", "critical_after": "15m", "source_table": TX,
                  "stage": "analytics"},
                 {"table": FCT_MERCHANTS, "column": "_loaded_at", "critical_after": "30m",
                  "source_table": MERCHANTS, "stage": "analytics"},
                 {"table": FCT_DAILY, "column": "volume_date", "mode": "deadline", "deadline": "1h",
                  "source_table": TX, "stage": "analytics"}]}},
            {"id": "s3_sink_lag", "kind": "scripted_status", "schedule": {"every": "5m"},
             "labels": {"table": TX, "stage": "s3_sink"},
             "params": {"windows": [window(scenario.s3_stall, S3_SUMMARY)], "ok_summary": "S3 sink lag 120 records"}},
            {"id": "dbt_run", "kind": "scripted_status", "schedule": {"every": "5m"},
             "labels": {"table": TX, "stage": "dbt"},
             "params": {"windows": [window(scenario.dbt_failing, DBT_SUMMARY)], "ok_summary": "dbt run succeeded"}},
        ],
        "slas": [
            {"id": "transactions_freshness", "description": "transaction data in Snowflake < 15 min",
             "kind": "freshness", "check": "tx_freshness", "finding": FCT_TX, "table": TX, "threshold": "15m",
             "objective": 0.99, "max_gap": "15m", "owner": "data-platform"},
            {"id": "daily_aggregates_deadline", "description": "daily aggregates < 1 h after midnight UTC",
             "kind": "deadline", "check": "tx_freshness", "finding": FCT_DAILY, "deadline": "1h",
             "objective": 0.99, "max_gap": "15m", "owner": "analytics-engineering"},
            {"id": "merchant_analytics_freshness", "description": "merchant analytics < 30 min",
             "kind": "freshness", "check": "tx_freshness", "finding": FCT_MERCHANTS, "table": MERCHANTS,
             "threshold": "30m", "objective": 0.995, "max_gap": "15m", "owner": "merchant-insights"},
        ],
        "report": {"to": ["data-platform@novapay.example", "cfo-office@novapay.example"],
                   "cc": ["oncall-leads@novapay.example"], "from": "sentinel@novapay.example"},
        "pipeline": {"tables": {
            TX: {"slas": ["transactions_freshness", "daily_aggregates_deadline"], "dashboards": ["Executive Dashboard"]},
            MERCHANTS: {"slas": ["merchant_analytics_freshness"], "dashboards": ["Merchant Health"]}}},
    }


def cli_config_dict(scenario: Scenario) -> dict[str, Any]:
    """The same SLAs for a `sentinel` subprocess, which knows only the installed check kinds: the measuring check
    becomes the real `warehouse_freshness` with the same tables (it is not run; the report reads the store)."""
    config = config_dict(scenario)
    config["checks"] = [{**config["checks"][0], "kind": "warehouse_freshness"}]
    return config


@dataclass
class SimulatedWeek:
    cal: Calendar
    state_path: Path
    config_path: Path
    settings: dict[str, Any]
    pages_triggered_week_b: int
    slack_posts_week_b: int
    steps: int
    seconds: float
    copies: list[Path] = field(default_factory=list)

    @property
    def cli_config_path(self) -> Path:
        return self.config_path.with_name("cli_rules.yaml")

    def copy_state(self, dest: Path) -> Path:
        """A private copy of the state store (tests that send reports must not share the send log)."""
        src = sqlite3.connect(self.state_path)
        dst = sqlite3.connect(dest)
        src.backup(dst)
        src.close()
        dst.close()
        return dest

    def app(self, clock: FakeClock, state_path: Path, *, with_alerting: bool = True, **settings: Any) -> App:
        values = {**self.settings, "state_path": state_path, **settings}
        return build_app(Settings(**values), clock=clock, extra_checks=PLUGINS,
                         wiring=Wiring(metrics=False, alerting=with_alerting))


def _within(moment: datetime, span: tuple[datetime, datetime]) -> bool:
    return span[0] <= moment <= span[1]


def simulate(tmp: Path, alert_settings: dict[str, Any], cal: Calendar,
             on_week_start: Callable[[], None] | None = None) -> SimulatedWeek:
    """Run weeks A and B of `cal` through the real runner and alert pipeline; the state store is the result."""
    import time

    scenario = Scenario(cal)
    config_path = tmp / "alert_rules.yaml"
    config_path.write_text(yaml.safe_dump(config_dict(scenario), sort_keys=False))
    (tmp / "cli_rules.yaml").write_text(yaml.safe_dump(cli_config_dict(scenario), sort_keys=False))
    settings = {"config_file": config_path, **alert_settings}
    WAREHOUSE.reset(scenario)
    clock = FakeClock(cal.week_a_start)
    state_path = tmp / "state.db"
    app = build_app(Settings(**settings, state_path=state_path), clock=clock, extra_checks=PLUGINS,
                    wiring=Wiring(metrics=False))
    assert app.alerting is not None
    started = time.monotonic()
    steps = 0
    now = cal.week_a_start
    while now < cal.week_c_start:
        if now == cal.week_b_start and on_week_start is not None:
            on_week_start()
        WAREHOUSE.step(now)
        cadence = 15 if now < cal.week_b_start else 5  # minutes between check runs
        if now.minute % cadence == 0 and not _within(now, scenario.daemon_down):
            app.alerting.process(app.run_checks())
            app.alerting.deliver_due()
            steps += 1
        clock.advance(timedelta(minutes=5))
        now = clock.now()
    app.close()
    return SimulatedWeek(cal, state_path, config_path, settings, 0, 0, steps, time.monotonic() - started)
