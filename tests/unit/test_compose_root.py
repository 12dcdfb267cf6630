"""The composition root: one module builds the object graph, a reload builds a new one and swaps it in whole, a
rejected config leaves the running graph untouched, and the per-check metrics follow the graph at scrape time."""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import sentinel
from sentinel.alerting.pipeline import AlertPipeline
from sentinel.api import Check, CheckContext, CheckResult, Params, Status
from sentinel.app import App
from sentinel.clock import FakeClock
from sentinel.compose_root import Wiring, build_app, build_graph, build_notifiers
from sentinel.config.loader import load_config
from sentinel.config.settings import Settings
from sentinel.daemon_ops import Daemon, reload_config
from sentinel.errors import ConfigErrors
from sentinel.metrics import NullMetrics, SentinelMetrics
from sentinel.notify.heartbeat import HeartbeatPinger
from sentinel.scheduler import CheckScheduler
from sentinel.sla_ledger import SlaAlertSink, SlaLedger
from sentinel.store.sqlite import SqliteStateStore


class AgeParams(Params):
    age_seconds: float = 60.0


class AgeCheck(Check[AgeParams]):
    kind = "age"
    Params = AgeParams
    runbook = "warehouse-freshness"

    def run(self, ctx: CheckContext) -> CheckResult:
        return ctx.result(self.kind, Status.OK, "fresh", values={"age_seconds": self.params.age_seconds})


PLUGINS = {"age": AgeCheck}
TWO_CHECKS = """
checks:
  - {id: orders_fresh, kind: age, schedule: {every: 5m}}
  - {id: refunds_fresh, kind: age, schedule: {every: 5m}, params: {age_seconds: 90}}
"""
ONE_CHECK = "checks:\n  - {id: orders_fresh, kind: age, schedule: {every: 5m}}\n"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(TWO_CHECKS)
    return path


@pytest.fixture
def app(rules: Path) -> Iterator[App]:
    built = build_app(Settings(config_file=rules, state_path=rules.parent / "state.db"), clock=FakeClock(),
                      extra_checks=PLUGINS)
    yield built
    built.close()


def test_the_daemon_graph_is_made_of_the_expected_parts(app: App) -> None:
    assert isinstance(app.store, SqliteStateStore)
    assert isinstance(app.metrics, SentinelMetrics)
    assert isinstance(app.alerting, AlertPipeline)
    assert isinstance(app.ledger, SlaLedger) and app.sla is None  # a ledger for the report, no `slas:` to keep
    assert app.heartbeat is None and app.leader is None  # no SENTINEL_HEARTBEAT_*, no shared store
    assert [p.id for p in app.planned] == ["orders_fresh", "refunds_fresh"]


def test_one_shot_runs_get_null_metrics_and_slas_wrap_the_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(ONE_CHECK + "slas:\n  - {id: orders_15m, check: orders_fresh, threshold: 15m}\n")
    settings = Settings(config_file=path, state_path=tmp_path / "s.db", heartbeat_url="http://127.0.0.1:9/ping",
                        heartbeat_basic_auth=SecretStr("oncall:token"))
    app = build_app(settings, clock=FakeClock(), extra_checks=PLUGINS,
                    wiring=Wiring(metrics=False, immediate_alerts=True))
    try:
        assert isinstance(app.metrics, NullMetrics)
        assert isinstance(app.alerting, SlaAlertSink) and app.alerting.pipeline.immediate
        assert app.sla is app.ledger and [s.id for s in app.ledger.slas] == ["orders_15m"]
        assert isinstance(app.heartbeat, HeartbeatPinger)
    finally:
        app.close()


def test_a_new_config_builds_a_new_graph_and_leaves_the_old_one_whole(app: App, rules: Path) -> None:
    before = app.graph
    rules.write_text(ONE_CHECK)
    graph = build_graph(app, load_config(rules, app.registry))
    assert graph is not before and graph.alerting is not before.alerting and graph.ledger is not before.ledger
    assert app.swap(graph) is before
    assert [p.id for p in before.planned] == ["orders_fresh", "refunds_fresh"]  # nothing mutated in place
    assert [p.id for p in app.planned] == ["orders_fresh"]


def test_reload_swaps_in_a_new_graph_and_keeps_the_running_one_when_the_file_is_bad(app: App, rules: Path) -> None:
    daemon = Daemon.of(app, CheckScheduler(app))
    running = app.graph
    rules.write_text(TWO_CHECKS.replace("kind: age, schedule: {every: 5m}}\n", "kind: agee, schedule: {every: 5m}}\n", 1))
    assert reload_config(daemon) is False
    assert app.graph is running
    rules.write_text(ONE_CHECK)
    assert reload_config(daemon) is True
    assert app.graph is not running and [p.id for p in app.planned] == ["orders_fresh"]
    exposition = app.metrics.exposition().decode()
    assert 'sentinel_config_reloads_total{result="rejected"} 1.0' in exposition
    assert 'sentinel_config_reloads_total{result="applied"} 1.0' in exposition


def _series(app: App, name: str) -> dict[str, float]:
    text = app.metrics.exposition().decode()
    return {m["labels"]: float(m["value"]) for m in re.finditer(rf"^{name}\{{(?P<labels>[^}}]*)\}} (?P<value>\S+)$",
                                                                 text, re.MULTILINE)}


def test_check_gauges_are_read_at_scrape_time_and_follow_a_reload_without_removal(app: App, rules: Path) -> None:
    for result in app.run_checks():
        assert result.status is Status.OK
    assert _series(app, "sentinel_measured_age_seconds") == {
        'check="orders_fresh",kind="age"': 60.0, 'check="refunds_fresh",kind="age"': 90.0}
    assert _series(app, "sentinel_check_state")['check="refunds_fresh",kind="age",state="ok"'] == 1.0
    rules.write_text(ONE_CHECK)
    assert reload_config(Daemon.of(app, CheckScheduler(app))) is True
    assert _series(app, "sentinel_measured_age_seconds") == {'check="orders_fresh",kind="age"': 60.0}
    assert 'check="refunds_fresh"' not in _series(app, "sentinel_check_last_run_timestamp_seconds")
    # a run of the removed check still in flight across the reload does not bring its series back
    app.record(CheckResult("refunds_fresh", "age", Status.OK, app.clock.now() + timedelta(seconds=1), "late",
                           values={"age_seconds": 1.0}))
    assert 'check="refunds_fresh",kind="age"' not in _series(app, "sentinel_measured_age_seconds")


def _firing(app: App) -> set[str]:
    return {s.check_id for s in app.store.alert_states(active_only=True).values()}


def test_a_result_judged_while_a_reload_removes_its_check_does_not_fire_its_resolved_alert_again(
        app: App, rules: Path) -> None:
    """A run of refunds_fresh is being judged (held inside the alert pipeline) when a reload removes the check.
    The reload waits for that judgement, then resolves the alert; a result arriving after it is not judged at
    all. Before, the reload could resolve in between, and the late result opened a new page for a check that no
    longer exists (two replicas, issue 16: the HA reload test failed in CI)."""
    def critical(check_id: str, seconds: int) -> CheckResult:
        return CheckResult(check_id, "age", Status.CRITICAL, app.clock.now() + timedelta(seconds=seconds), "stale",
                           values={"age_seconds": 9999.0})

    app.judge(critical("refunds_fresh", 0))
    assert _firing(app) == {"refunds_fresh"}
    pipeline = app.alerting
    assert pipeline is not None
    inside, release = threading.Event(), threading.Event()
    real = pipeline.process

    def held(results: Any) -> Any:
        inside.set()
        assert release.wait(10)
        return real(results)

    pipeline.process = held  # type: ignore[method-assign]
    judging = threading.Thread(target=app.judge, args=(critical("refunds_fresh", 1),))
    judging.start()
    assert inside.wait(10)
    rules.write_text(ONE_CHECK)
    outcome: list[bool] = []
    reload = threading.Thread(target=lambda: outcome.append(reload_config(Daemon.of(app, CheckScheduler(app)))))
    reload.start()
    reload.join(0.5)
    assert reload.is_alive(), "the reload did not wait for the result being judged"
    release.set()
    judging.join(10)
    reload.join(10)
    assert outcome == [True] and [p.id for p in app.planned] == ["orders_fresh"]
    assert _firing(app) == set()
    app.judge(critical("refunds_fresh", 2))  # a run that finishes after the reload
    assert _firing(app) == set()
    app.judge(critical("orders_fresh", 3))  # the checks still configured are judged as before
    assert _firing(app) == {"orders_fresh"}


def test_a_notifier_that_does_not_import_is_a_config_error_naming_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A real installed distribution whose notifier entry point raises on import: found through the plugin
    registry, reported with the config path of the notifier, never skipped."""
    (tmp_path / "broken_notifier_pkg.py").write_text("raise RuntimeError('no module named slack_sdk_v9')\n")
    dist = tmp_path / "broken_notifier-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-notifier\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[sentinel.notifiers]\nbroken = broken_notifier_pkg:BrokenNotifier\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "rules.yaml"
    path.write_text("notifiers:\n  - {name: team, kind: broken}\n")
    settings = Settings(config_file=path, state_path=tmp_path / "s.db")
    config = load_config(path, build_app.__globals__["check_registry"]())
    with pytest.raises(ConfigErrors) as raised:
        build_notifiers(config, settings)
    text = str(raised.value)
    assert "notifiers[0] (team)" in text and "broken" in text and "failed to import" in text


# Every concrete part of the graph (a notifier is made by its class's `create`). Only sentinel/compose_root.py may
# call them; other modules call the root's build_* functions.
CONSTRUCTORS = {
    "SqliteStateStore", "PostgresStateStore", "AlertPipeline", "SlaAlertSink", "SlaLedger", "create",
    "LeaderElector", "SentinelMetrics", "HeartbeatPinger", "OpsgenieHeartbeat", "CheckRunner", "WorkerPool",
    "App", "ConfigGraph",
}


def _calls(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in CONSTRUCTORS:
                yield node.lineno, name


def test_only_the_composition_root_constructs_the_graph() -> None:
    package = Path(sentinel.__file__).parent
    elsewhere = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "compose_root.py":
            continue
        for line, name in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            elsewhere.append(f"{path.relative_to(package.parent)}:{line} {name}(...)")
    assert elsewhere == []


def test_the_root_does_construct_every_part_it_is_credited_with() -> None:
    """The test above would pass on a root that builds nothing; this one pins what the root builds."""
    root = Path(sentinel.__file__).parent / "compose_root.py"
    built = {name for _, name in _calls(ast.parse(root.read_text(encoding="utf-8")))}
    assert built >= {"SqliteStateStore", "PostgresStateStore", "AlertPipeline", "SlaAlertSink", "SlaLedger",
                     "create", "LeaderElector", "SentinelMetrics", "HeartbeatPinger", "CheckRunner", "WorkerPool",
                     "App", "ConfigGraph"}


def test_check_once_on_a_shared_store_elects_no_leader_so_its_alerts_are_not_fenced_away(tmp_path: Path) -> None:
    """`check --once` runs its checks in worker processes like the daemon, but it takes part in no election: an
    elector it never starts would refuse every outbox claim, and its alerts would never be sent."""
    path = tmp_path / "rules.yaml"
    path.write_text(ONE_CHECK)
    shared = SecretStr("postgresql://sentinel@127.0.0.1:9/state?connect_timeout=1")
    settings = Settings(config_file=path, state_path=tmp_path / "s.db", state_dsn=shared, check_isolation="thread")
    store = SqliteStateStore(tmp_path / "s.db")
    one_shot = build_app(settings, clock=FakeClock(), extra_checks=PLUGINS, store=store,
                         wiring=Wiring(metrics=False, immediate_alerts=True, isolate_checks=True))
    daemon = build_app(settings, clock=FakeClock(), extra_checks=PLUGINS, store=store, wiring=Wiring(daemon=True))
    try:
        assert one_shot.leader is None
        assert daemon.leader is not None
    finally:
        one_shot.runner.close()
        daemon.runner.close()
        store.close()
