"""The looker check and source through the official looker-sdk against a local Looker API 4.0 that enforces the
calls used (devstack/looker.py): login, endpoints, shapes, time filter + limit, 401 on an expired token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sentinel_checks.looker import LookerCheck, LookerParams

from devstack.looker import FakeLooker
from sentinel.api import DictMemory, Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.errors import SourceError
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources

pytestmark = pytest.mark.integration

NOW = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
DASHBOARDS = [
    {"title": "Executive Dashboard", "tables": ["payments.transactions"], "models": ["novapay"]},
    {"title": "Merchant Health", "tables": ["users.merchants"], "models": ["merchants"]},
]


@pytest.fixture
def looker(httpserver: HTTPServer) -> Iterator[FakeLooker]:
    fake = FakeLooker()
    httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(fake.handle)
    yield fake


def sources(httpserver: HTTPServer, secret: str = "sentinel-api3-secret") -> Sources:
    return Sources(Settings(looker_base_url=httpserver.url_for("").rstrip("/"),
                            looker_client_id=SecretStr("sentinel-api3-id"), looker_client_secret=SecretStr(secret)))


def run(src: Sources, clock: FakeClock | None = None, memory: DictMemory | None = None, **params: Any) -> CheckResult:
    check = LookerCheck(LookerParams.model_validate({"dashboards": DASHBOARDS, **params}))
    spec = CheckSpec(id="looker_dashboards", kind="looker", timeout=timedelta(seconds=30))
    mem = memory or DictMemory()
    runner = CheckRunner(src, lambda _: mem, clock or FakeClock(NOW), Redactor.from_settings(src.settings))
    return runner.run_one(PlannedCheck(spec, check, check.runbook))


def healthy(fake: FakeLooker) -> None:
    fresh = int((NOW - timedelta(hours=1)).timestamp())
    fake.datagroups = [{"id": "novapay::nightly", "model_name": "novapay", "name": "nightly", "triggered_at": fresh,
                        "trigger_check_at": fresh, "trigger_value": "2025-01-15", "trigger_error": None,
                        "created_at": fresh, "stale_before": None, "can": {}},
                       {"id": "merchants::hourly", "model_name": "merchants", "name": "hourly", "triggered_at": fresh,
                        "trigger_check_at": fresh, "trigger_value": "9", "trigger_error": None, "created_at": fresh,
                        "stale_before": None, "can": {}}]


def test_healthy_instance_is_ok_per_table_and_part(httpserver: HTTPServer, looker: FakeLooker) -> None:
    healthy(looker)
    result = run(sources(httpserver))
    assert result.status is Status.OK, result.summary
    assert sorted(f.key for f in result.findings) == [
        "content:payments.transactions", "content:users.merchants", "pdt:payments.transactions", "pdt:users.merchants",
        "schedules:payments.transactions", "schedules:users.merchants"]
    f = next(f for f in result.findings if f.key == "content:payments.transactions")
    assert f.labels["stage"] == "looker" and f.labels["table"] == "payments.transactions"
    assert f.labels["dashboards"] == "Executive Dashboard"
    # the System Activity queries carried a time filter and a limit (the fake refuses them otherwise)
    assert {q["view"] for q in looker.queries} == {"pdt_event_log", "scheduled_plan"}
    assert all(q["limit"] == "500" and q["filters"] for q in looker.queries) and not looker.rejected
    assert {q["query_timezone"] for q in looker.queries} == {"UTC"}  # the times in messages say UTC


def test_a_renamed_dbt_column_breaks_a_tile_and_names_the_dashboard(httpserver: HTTPServer, looker: FakeLooker) -> None:
    healthy(looker)
    looker.content_with_errors = [{
        "dashboard": {"id": "12", "title": "Executive Dashboard", "url": "/dashboards/12"},
        "dashboard_element": {"id": "88", "title": "Daily GMV", "dashboard_id": "12"},
        "errors": [{"message": 'Unknown field "fct_transactions.amount_usd".', "field_name": "fct_transactions.amount_usd",
                    "model_name": "novapay", "explore_name": "fct_transactions", "removable": True}],
        "id": "cv-1"}]
    result = run(sources(httpserver))
    f = next(f for f in result.findings if f.key == "content:payments.transactions")
    assert f.status is Status.CRITICAL
    assert f.summary == (
        "Looker content validator: 1 problem(s) on Executive Dashboard: Executive Dashboard: tile 'Daily GMV': "
        'Unknown field "fct_transactions.amount_usd". (explore novapay/fct_transactions). '
        "Warn the readers of: Executive Dashboard")
    assert next(f for f in result.findings if f.key == "content:users.merchants").status is Status.OK


def test_pdt_failures_stale_datagroups_and_failed_deliveries(httpserver: HTTPServer, looker: FakeLooker) -> None:
    healthy(looker)
    looker.datagroups[1]["triggered_at"] = int((NOW - timedelta(hours=30)).timestamp())
    looker.pdt_events = [
        {"pdt_event_log.created_time": "2025-01-15 08:00:00", "pdt_event_log.action": "create error",
         "pdt_event_log.action_data": "SQL compilation error: invalid identifier 'AMOUNT_USD'",
         "pdt_event_log.model_name": "novapay", "pdt_event_log.view_name": "daily_gmv"},
        # an older error of another PDT that has since rebuilt: resolved
        {"pdt_event_log.created_time": "2025-01-15 06:00:00", "pdt_event_log.action": "create error",
         "pdt_event_log.action_data": "timeout", "pdt_event_log.model_name": "novapay",
         "pdt_event_log.view_name": "success_rates"},
        {"pdt_event_log.created_time": "2025-01-15 06:30:00", "pdt_event_log.action": "create complete",
         "pdt_event_log.action_data": "", "pdt_event_log.model_name": "novapay",
         "pdt_event_log.view_name": "success_rates"}]
    looker.schedule_jobs = [
        {"scheduled_job.finalized_time": "2025-01-15 07:00:05", "scheduled_job.status": "failure",
         "scheduled_job.status_detail": "SMTP 550 mailbox unavailable", "scheduled_plan.id": "41",
         "scheduled_plan.name": "Exec daily 7am", "dashboard.title": "Executive Dashboard"}]
    result = run(sources(httpserver))
    by_key = {f.key: f for f in result.findings}
    pdt = by_key["pdt:payments.transactions"]
    assert pdt.status is Status.CRITICAL and pdt.values["problems"] == 1
    assert ("PDT novapay.daily_gmv failed to build at 2025-01-15 08:00:00 UTC: SQL compilation error: invalid "
            "identifier 'AMOUNT_USD'") in pdt.summary
    stale = by_key["pdt:users.merchants"]
    assert stale.status is Status.WARN
    assert "datagroup merchants::hourly last triggered 1d06h ago (stale after 1d02h)" in stale.summary
    sched = by_key["schedules:payments.transactions"]
    assert sched.status is Status.WARN
    assert "scheduled delivery 'Exec daily 7am' failed at 2025-01-15 07:00:05 UTC: SMTP 550" in sched.summary


def test_content_validation_runs_at_most_every_ten_minutes(httpserver: HTTPServer, looker: FakeLooker) -> None:
    healthy(looker)
    clock, memory, src = FakeClock(NOW), DictMemory(), sources(httpserver)
    run(src, clock, memory)
    clock.advance(timedelta(minutes=5))
    run(src, clock, memory)
    assert looker.content_validations == 1  # the second run used the cached answer
    clock.advance(timedelta(minutes=6))
    run(src, clock, memory)
    assert looker.content_validations == 2


def test_a_token_expired_server_side_is_renewed_once(httpserver: HTTPServer, looker: FakeLooker) -> None:
    """Trap 1: the SDK trusts expires_in; after a server-side expiry it would keep sending the dead token."""
    healthy(looker)
    src = sources(httpserver)
    assert run(src).status is Status.OK and looker.logins == 1
    looker.expire_tokens()
    again = run(src, FakeClock(NOW + timedelta(minutes=1)))
    assert again.status is Status.OK, again.summary
    assert looker.logins == 2 and src.looker().logins == 2
    assert len(looker.rejected) == 1 and looker.rejected[0].startswith("401 ")  # one rejected call, then renewed


def test_the_stock_sdk_keeps_the_dead_token(httpserver: HTTPServer, looker: FakeLooker) -> None:
    """The trap itself, shown on looker-sdk as shipped (what the source above guards against)."""
    import looker_sdk
    from looker_sdk.rtl import api_settings

    healthy(looker)

    class Ini(api_settings.ApiSettings):
        def read_config(self) -> api_settings.SettingsConfig:
            return {"base_url": httpserver.url_for("").rstrip("/"), "client_id": looker.client_id,
                    "client_secret": looker.client_secret}

    sdk = looker_sdk.init40(config_settings=Ini(env_prefix="NO_SUCH_PREFIX_"))
    sdk.all_datagroups()
    looker.expire_tokens()
    for _ in range(2):
        with pytest.raises(looker_sdk.error.SDKError):
            sdk.all_datagroups()
    assert looker.logins == 1  # never logged in again


def test_errors_never_fetch_documentation_over_the_network(httpserver: HTTPServer, looker: FakeLooker,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Trap 2: on an error the SDK fetches its documentation with requests.get and no timeout. Ours must not."""
    fetched: list[str] = []

    def no_egress(url: str, *args: Any, **kwargs: Any) -> Any:
        fetched.append(url)
        raise requests.ConnectionError("no egress in this cluster")

    monkeypatch.setattr(requests, "get", no_egress)
    healthy(looker)
    looker.forbid = {"/queries/run/json"}
    result = run(sources(httpserver))
    assert fetched == []
    by_key = {f.key: f for f in result.findings}
    pdt = by_key["pdt:payments.transactions"]
    assert pdt.status is Status.ERROR
    assert pdt.summary.startswith("cannot measure Looker PDTs/datagroups on http://")
    assert "HTTP 403" in pdt.summary and "see_system_activity" in pdt.summary  # the permissions hint
    assert by_key["content:payments.transactions"].status is Status.OK  # the other part is still judged
    assert result.status is Status.OK

    import looker_sdk  # the stock SDK does reach for the network on the same answer
    from looker_sdk.rtl import api_settings

    class Ini(api_settings.ApiSettings):
        def read_config(self) -> api_settings.SettingsConfig:
            return {"base_url": httpserver.url_for("").rstrip("/"), "client_id": looker.client_id,
                    "client_secret": looker.client_secret}

    looker.forbid = {"/datagroups"}
    with pytest.raises(looker_sdk.error.SDKError):
        looker_sdk.init40(config_settings=Ini(env_prefix="NO_SUCH_PREFIX_")).all_datagroups()
    assert fetched == ["https://static-a.cdn.looker.app/errorcodes/index.json"]


def test_wrong_credentials_say_what_to_fix_without_the_secret(httpserver: HTTPServer, looker: FakeLooker) -> None:
    result = run(sources(httpserver, secret="not-the-right-one-SECRET"))
    assert result.status is Status.ERROR
    assert "not-the-right-one-SECRET" not in str(result.to_json())
    pdt = next(f for f in result.findings if f.key == "pdt:payments.transactions")
    assert "Looker API" in pdt.summary and "SENTINEL_LOOKER_CLIENT_ID" in pdt.summary


def test_unconfigured_looker_is_one_clear_error(httpserver: HTTPServer) -> None:
    with pytest.raises(SourceError, match="Looker is not configured"):
        Sources(Settings()).looker()


def test_doctor_names_the_missing_dashboard_and_permission(httpserver: HTTPServer, looker: FakeLooker) -> None:
    """`sentinel doctor`'s Looker lines: login, each dashboard, and the permissions the check needs."""
    from sentinel.doctor.looker import probe
    from sentinel.doctor.needs import Need

    healthy(looker)
    looker.dashboards = ["Executive Dashboard"]
    looker.forbid = {"/queries/run/json"}
    needs = [Need("dashboard", "Executive Dashboard", "looker_dashboards", ("checks", 0)),
             Need("dashboard", "Merchant Health", "looker_dashboards", ("checks", 1))]
    lines = probe(sources(httpserver), needs, lambda need: f"alert_rules.yaml ({need.loc})")
    text = [(x.level, x.message) for x in lines]
    assert text[0] == ("ok", "logged in as Sentinel API (id 7)")
    assert ("ok", "dashboard 'Executive Dashboard' exists") in text
    assert ("problem", "no dashboard titled 'Merchant Health' (looker_dashboards)") in text
    assert ("ok", "datagroups (see_datagroups) readable") in text
    system = next(x for x in lines if "System Activity" in x.message or "queries/run" in x.message)
    assert system.level == "problem" and "see_system_activity" in system.fix
    bad_login = probe(sources(httpserver, secret="wrong"), needs, lambda need: "")
    assert bad_login[0].level == "problem" and "SENTINEL_LOOKER_CLIENT_SECRET" in bad_login[0].fix
