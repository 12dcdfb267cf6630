"""Fixtures for the alerting tests: contract-checking fake Slack / Opsgenie / JSM / PagerDuty / heartbeat on
pytest-httpserver, an aiosmtpd SMTP server, the real SQLite store and a FakeClock-driven pipeline factory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from sentinel.alerting.pipeline import AlertPipeline
from sentinel.clock import FakeClock
from sentinel.compose_root import build_notifiers
from sentinel.config.settings import Settings
from sentinel.config.spec import SentinelConfig
from sentinel.store.sqlite import SqliteStateStore
from tests.fakes.alerting_apis import FakeGenie, FakePagerDuty, FakeSlack

SLACK_TOKEN = "xoxb-SECRET-slack-token-7f3a9c"
OPSGENIE_KEY = "og-SECRET-genie-key-5be2d1"
JSM_KEY = "jsm-SECRET-genie-key-91ac0e"
PAGERDUTY_KEY = "pdSECRETroutingkey0123456789abcd"
SECRETS = (SLACK_TOKEN, OPSGENIE_KEY, JSM_KEY, PAGERDUTY_KEY)


@dataclass
class AlertingFakes:
    slack: FakeSlack
    opsgenie: FakeGenie
    jsm: FakeGenie
    pagerduty: FakePagerDuty


@pytest.fixture(scope="session")
def alerting_server() -> Iterator[HTTPServer]:
    """One threaded server for the API doubles: the real APIs answer requests side by side, so a slow pager
    must not hold up Slack's answers here either."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def alerting_fakes(alerting_server: HTTPServer) -> AlertingFakes:
    alerting_server.clear()
    return AlertingFakes(
        slack=FakeSlack(alerting_server, SLACK_TOKEN),
        opsgenie=FakeGenie(alerting_server, OPSGENIE_KEY, "/opsgenie", auth_error="Key format is not valid!"),
        jsm=FakeGenie(alerting_server, JSM_KEY, "/jsm/ops/integration"),
        pagerduty=FakePagerDuty(alerting_server, PAGERDUTY_KEY),
    )


def fake_settings(fakes: AlertingFakes, *, pager: str = "opsgenie", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_token": SLACK_TOKEN, "slack_base_url": fakes.slack.base_url,
        "pager_backend": pager,
        "opsgenie_api_key": OPSGENIE_KEY, "opsgenie_base_url": fakes.opsgenie.base_url,
        "jsm_api_key": JSM_KEY, "jsm_base_url": fakes.jsm.base_url,
        "pagerduty_routing_key": PAGERDUTY_KEY, "pagerduty_base_url": fakes.pagerduty.base_url,
        "runbook_base_url": "https://runbooks.example/novapay/",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class PipelineHarness:
    clock: FakeClock
    state_path: Path
    settings: Settings
    config: SentinelConfig
    stores: list[SqliteStateStore] = field(default_factory=list)

    def build(self, *, immediate: bool = True, notifiers: dict[str, Any] | None = None,
              redact: Callable[[str], str] | None = None) -> AlertPipeline:
        """A fresh pipeline on the same SQLite file (call again to simulate a restart)."""
        store = SqliteStateStore(self.state_path)
        self.stores.append(store)
        built = build_notifiers(self.config, self.settings)
        built.update(notifiers or {})
        return AlertPipeline(self.config, store, built, self.clock, self.settings, immediate=immediate,
                             kind_runbooks={}, redact=redact)

    def close(self) -> None:
        for s in self.stores:
            s.close()


@pytest.fixture
def make_pipeline(tmp_path: Path, alerting_fakes: AlertingFakes) -> Iterator[Callable[..., PipelineHarness]]:
    harnesses: list[PipelineHarness] = []

    def factory(config: SentinelConfig | dict[str, Any] | None = None, *, pager: str = "opsgenie",
                **settings: Any) -> PipelineHarness:
        cfg = config if isinstance(config, SentinelConfig) else SentinelConfig.model_validate(config or {})
        h = PipelineHarness(FakeClock(), tmp_path / f"state-{len(harnesses)}.db",
                            fake_settings(alerting_fakes, pager=pager, **settings), cfg)
        harnesses.append(h)
        return h

    yield factory
    for h in harnesses:
        h.close()


class SmtpSink:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import email

        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[str, int, SmtpSink]]:
    from aiosmtpd.controller import Controller

    from devstack.base import free_port

    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    try:
        controller.start()
    except Exception as exc:
        pytest.fail(f"aiosmtpd could not start on 127.0.0.1:{port}: {exc}")
    yield "127.0.0.1", port, sink
    controller.stop()
