"""The Looker demo tells its story (issue 20, points 2 and 4): seeded as a dbt column rename leaves Looker, the
fragment's check finds the broken Executive Dashboard tile, and `sentinel status`'s view shows the looker stage
measured for every table of the lineage (no more `-`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from devstack.base import PROJECT_ROOT
from devstack.demo import build_config
from devstack.demo_looker import RENAMED_FIELD, seeded_looker
from devstack.looker import start_looker
from sentinel.api import DictMemory, Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.loader import load_config
from sentinel.config.settings import Settings
from sentinel.plugins import check_registry
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from sentinel.status import build_status, render_text
from tests.calendars import CALENDARS, Calendar

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("cal", list(CALENDARS.values()), ids=list(CALENDARS))
def test_demo_looker_shows_the_broken_explore_in_the_status_view(cal: Calendar, tmp_path: Path) -> None:
    service = start_looker(seeded_looker(cal.now))
    try:
        settings = Settings(looker_base_url=service.base_url, looker_client_id=SecretStr(service.fake.client_id),
                            looker_client_secret=SecretStr(service.fake.client_secret))
        raw = yaml.safe_load((PROJECT_ROOT / "demo" / "fragments" / "looker.yaml").read_text())["checks"][0]
        spec = CheckSpec(**raw)
        cls = check_registry().load(spec.kind)
        runner = CheckRunner(Sources(settings), lambda _: DictMemory(), FakeClock(cal.now),
                             Redactor.from_settings(settings))
        result = runner.run_one(PlannedCheck(spec, cls(cls.Params(**spec.params)), cls.runbook))
    finally:
        service.stop()
    assert result.status is Status.CRITICAL, result.summary
    bad = [f for f in result.findings if f.status is not Status.OK]
    assert [f.key for f in bad] == ["content:payments.transactions"]
    assert RENAMED_FIELD in bad[0].summary and "Warn the readers of: Executive Dashboard" in bad[0].summary

    config = load_config(build_config(tmp_path, ["lake", "looker"]), check_registry())
    views = {v.table: v for v in build_status(config.spec, {result.check_id: result}, [], cal.now + timedelta(seconds=1))}
    for table in ("payments.transactions", "payments.refunds", "users.merchants", "events.payment_events"):
        looker = next(s for s in views[table].stages if s.stage == "looker")
        assert looker.status is not None, (table, looker.note)  # measured, not "-"
    tx = next(s for s in views["payments.transactions"].stages if s.stage == "looker")
    assert tx.status is Status.CRITICAL
    assert "looker[CRIT]" in render_text(list(views.values()))


def test_the_demo_serves_looker_from_a_child_process_that_keep_can_keep() -> None:
    """A PID record like the demo's other servers: `scripts/demo --keep` keeps it, `--down` stops it."""
    from devstack import procs
    from devstack.demo_looker import start_seeded_looker

    served = start_seeded_looker(next(iter(CALENDARS.values())).now)
    try:
        assert any(r.name == "looker-demo" for r in procs.records())
        settings = Settings(looker_base_url=served.base_url, looker_client_id=SecretStr(served.fake.client_id),
                            looker_client_secret=SecretStr(served.fake.client_secret))
        errors = Sources(settings).looker().content_validation(timeout=10)
        assert [e.field for e in errors] == [RENAMED_FIELD]
    finally:
        served.stop()
    assert not any(r.name == "looker-demo" for r in procs.records())
