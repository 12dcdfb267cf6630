"""The SLA ledger and report send log answer the same on SQLite (embedded) and PostgreSQL (HA)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.postgres import PostgresService
from sentinel.model import CheckResult, Status
from sentinel.sla import ObsState, SlaObservation
from sentinel.store.postgres import PostgresStateStore
from sentinel.store.sqlite import SqliteStateStore

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        s: Any = SqliteStateStore(tmp_path / "state.db")
    else:
        pg: PostgresService = request.getfixturevalue("postgres")
        import psycopg

        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS sla_store WITH (FORCE)")
        s = PostgresStateStore(pg.create_database("sla_store"))
    yield s
    s.close()


def test_observations_round_trip_in_time_order(store: Any) -> None:
    obs = [SlaObservation("tx", T0 + timedelta(minutes=m), state, value, "fresh", f"s{m}")
           for m, state, value in [(10, ObsState.BREACH, 1200.0), (0, ObsState.MET, 60.5), (5, ObsState.UNKNOWN, None)]]
    store.sla_observations_add(obs)
    store.sla_observations_add([SlaObservation("other", T0, ObsState.MET, 1.0, "x", "")])
    got = store.sla_observations("tx", T0, T0 + timedelta(minutes=10))
    assert [(o.observed_at, o.state, o.value) for o in got] == [
        (T0, ObsState.MET, 60.5), (T0 + timedelta(minutes=5), ObsState.UNKNOWN, None)]
    before = store.sla_observation_before("tx", T0 + timedelta(minutes=7))
    assert before is not None and before.observed_at == T0 + timedelta(minutes=5) and before.summary == "s5"
    assert store.sla_observation_before("tx", T0) is None


def test_report_claim_is_taken_once_and_a_failure_can_be_retried(store: Any) -> None:
    assert store.report_claim("2026-W47", T0, "a@x.example")
    assert not store.report_claim("2026-W47", T0, "a@x.example"), "being sent: nobody else may send it"
    store.report_mark("2026-W47", "failed", T0, "SMTP down")
    assert store.report_claim("2026-W47", T0 + timedelta(hours=1), "a@x.example"), "a failed send is retried"
    store.report_mark("2026-W47", "sent", T0 + timedelta(hours=1), "smtp: sent")
    assert not store.report_claim("2026-W47", T0 + timedelta(hours=2), "a@x.example")
    (entry,) = store.report_log("2026-W47")
    assert (entry.status, entry.sent_at, entry.detail) == ("sent", T0 + timedelta(hours=1), "smtp: sent")


def test_result_status_counts(store: Any) -> None:
    for i, status in enumerate([Status.OK, Status.CRITICAL, Status.ERROR, Status.CRITICAL]):
        store.save_result(CheckResult("fresh", "k", status, T0 + timedelta(minutes=i), "s"))
    store.save_result(CheckResult("fresh", "k", Status.CRITICAL, T0 + timedelta(days=8), "later"))
    assert store.result_status_counts(T0, T0 + timedelta(days=7)) == {"fresh": {"ok": 1, "critical": 2, "error": 1}}
