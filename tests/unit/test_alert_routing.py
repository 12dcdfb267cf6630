"""Route: which routes (and so receivers) an alert goes to, its group key, and config problems named by path."""

from __future__ import annotations

from sentinel.alerting.routing import Route, Router, compile_routes, route_problems
from sentinel.model import Severity
from sentinel.rules import Rule
from tests.unit.alert_builders import alert


def test_default_routes_slack_and_page_critical():
    routes = compile_routes([], ["console", "slack", "pager"], slack=True, pager=True)
    router = Router(routes)
    assert [r.name for r in router.routes_for(alert("a", severity=Severity.WARNING))] == ["default"]
    assert [r.name for r in router.routes_for(alert("a"))] == ["default", "page"]
    assert compile_routes([], ["console"], slack=False, pager=False)[0].receivers == ("console",)


def test_route_group_key_and_continue():
    first = Route("dbt", ("slack",), match={"stage": "dbt"}, continue_=False, group_by=("stage", "table"))
    router = Router([first, Route("all", ("console",))])
    assert [r.name for r in router.routes_for(alert("a", "dbt"))] == ["dbt"]
    assert [r.name for r in router.routes_for(alert("a", "kafka"))] == ["all"]
    assert first.group_key(alert("a", "dbt")) == "stage=dbt,table=payments.transactions"


def test_a_pinned_route_takes_the_alert_only_at_its_severity_but_any_severity_for_resolves():
    router = Router([Route("page", ("pager",), min_severity=Severity.CRITICAL), Route("chat", ("slack",))])
    warning = alert("a", "dbt", severity=Severity.WARNING).evolve(route="page")
    assert router.routes_for(warning) == []
    assert [r.name for r in router.routes_for_any_severity(warning)] == ["page"]
    assert [r.name for r in router.routes_for(alert("a", "dbt").evolve(route="page"))] == ["page"]


def test_unknown_receivers_and_routes_are_named_with_their_config_path():
    router = Router([Route("default", ("slack", "console")), Route("page", ("pager",))])
    problems = route_problems(router, ["console"], [Rule(id="lag", runbook="x", route="oncall")], "alert_rules.yaml")
    where = [(p.path, p.message) for p in problems]
    assert where[0][0] == "routes[0].receivers" and "'slack'" in where[0][1] and "SENTINEL_SLACK_TOKEN" in where[0][1]
    assert where[1][0] == "routes[1].receivers" and "SENTINEL_PAGER_BACKEND" in where[1][1]
    assert where[2] == ("rules.lag.route", "unknown route 'oncall'; routes: ['default', 'page']")
    assert route_problems(router, ["slack", "console", "pager"], [Rule(id="lag", runbook="x", route="page")],
                          "alert_rules.yaml") == []
