"""Session fixture: the simulated fortnight of tests/integration/sla_week.py, run once per calendar of
tests/calendars.py and shared by the SLA integration tests and the report's end-to-end tests (each test copies the
state file before writing to it). Every test that takes `week` runs at every calendar."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.calendars import CALENDARS
from tests.integration.sla_week import SimulatedWeek, simulate
from tests.plugins.alerting import PAGERDUTY_KEY, SLACK_TOKEN


@pytest.fixture(scope="session", params=list(CALENDARS))
def week(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedWeek]:
    from pytest_httpserver import HTTPServer

    from devstack.base import free_port
    from tests.fakes.alerting_apis import FakePagerDuty, FakeSlack

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per fake API call is noise here
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    slack = FakeSlack(server, SLACK_TOKEN)
    pagerduty = FakePagerDuty(server, PAGERDUTY_KEY)
    alert_settings = {"slack_token": SLACK_TOKEN, "slack_base_url": slack.base_url, "pager_backend": "pagerduty",
                      "pagerduty_routing_key": PAGERDUTY_KEY, "pagerduty_base_url": pagerduty.base_url,
                      "runbook_base_url": "https://runbooks.example/novapay/"}

    def forget_week_a() -> None:
        pagerduty.events.clear()
        slack.calls.clear()

    cal = CALENDARS[request.param]
    sim = simulate(tmp_path_factory.mktemp(f"sla-week-{cal.name}"), alert_settings, cal,
                   on_week_start=forget_week_a)
    sim.pages_triggered_week_b = sum(1 for e in pagerduty.events if e["event_action"] == "trigger")
    sim.slack_posts_week_b = sum(1 for c in slack.calls if c.method == "chat.postMessage")
    print(f"simulated {sim.steps} steps at {cal} in {sim.seconds:.1f}s")
    yield sim
    server.stop()


