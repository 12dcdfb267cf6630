"""The PostgreSQL store keeps the StateStore + AlertStore contract exactly as the SQLite store does: the same
script of calls gives the same answers on both; two replicas migrating at once do not collide; a lost
connection is replaced; the DSN's password never appears in errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.postgres import PostgresService
from sentinel.alerting.types import AlertState, Delivery, DeliveryStatus, Phase, Silence
from sentinel.errors import StoreError
from sentinel.model import CheckResult, Finding, Severity, Status
from sentinel.store.migrations import MIGRATIONS
from sentinel.store.postgres import PostgresStateStore
from sentinel.store.sqlite import SqliteStateStore

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def fresh_dsn(postgres: PostgresService, name: str) -> str:
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return postgres.create_database(name)


def state(fp: str, phase: Phase, check_id: str = "lag", severity: Severity = Severity.CRITICAL) -> AlertState:
    return AlertState(fp, "r1", check_id, "kafka_consumer_lag", {"stage": "s3_sink", "table": "payments.transactions"},
                      phase=phase, severity=severity, summary=f"{fp} is 100% late", fired_at=T0)


def script(store: Any) -> dict[str, Any]:
    """Every contract method, with edge cases (dedup, ON CONFLICT updates, IN lists, % in values)."""
    out: dict[str, Any] = {}
    for i in range(3):
        store.save_result(CheckResult(
            "lag", "kafka_consumer_lag", Status.WARN if i == 2 else Status.OK, T0 + timedelta(minutes=i),
            "lag 50% over", values={"lag_seconds": float(i)}, labels={"stage": "s3_sink"},
            findings=(Finding("p0", Status.OK, "ok", values={"n": 1.0}),)))
    store.save_result(CheckResult("fresh", "warehouse_freshness", Status.CRITICAL, T0, "old"))
    out["latest"] = {k: v.to_json() for k, v in store.latest_results().items()}
    out["between"] = [r.observed_at for r in store.results_between("lag", T0, T0 + timedelta(minutes=2))]
    out["recent"] = [r.observed_at for r in store.recent_results("lag", 2)]
    store.memory_save("lag", "offsets", {"p0": [1, 2]}, T0)
    store.memory_save("lag", "offsets", {"p0": [3]}, T0 + timedelta(seconds=1))
    out["memory"] = (store.memory_load("lag", "offsets"), store.memory_load("lag", "nothing"))

    store.alert_states_save([state("fa", Phase.FIRING), state("fb", Phase.RESOLVED), state("fc", Phase.PENDING, "x")], T0)
    store.alert_states_save([state("fb", Phase.FIRING)], T0 + timedelta(minutes=1))
    out["states_all"] = sorted(store.alert_states())
    out["states_active"] = sorted(store.alert_states(active_only=True))
    out["states_some"] = sorted(store.alert_states(["fa", "fc", "nope"], check_id="x"))
    out["state_fb"] = store.alert_states(["fb"])["fb"].phase

    with store.transaction() as tx:
        store.pending_add("page", "stage=s3_sink", "fa", "fired", T0, {"k": 1}, tx)
        store.pending_add("page", "stage=s3_sink", "fb", "fired", T0 + timedelta(seconds=5), {}, tx)
        store.pending_add("chat", "stage=dbt", "fc", "fired", T0, {}, tx)
    out["groups"] = store.pending_groups()
    with store.transaction() as tx:
        taken = store.pending_take("page", "stage=s3_sink", tx)
        store.group_mark_flushed("page", "stage=s3_sink", T0, tx)
        store.group_mark_flushed("page", "stage=s3_sink", T0 + timedelta(minutes=1), tx)
    out["taken"] = [(e.fingerprint, e.event, e.payload) for e in taken]
    out["groups_after"] = store.pending_groups()
    out["flushed"] = store.group_flushed_at("page", "stage=s3_sink")

    store.thread_set("page", "fa", "t1", T0)
    store.thread_set("page", "fb", "t1", T0 + timedelta(seconds=1))
    out["thread"] = (store.thread_of("page", "fa"), store.thread_of("page", "zz"), store.thread_members("page", "t1"))
    if hasattr(store, "threads_of"):
        out["threads_of"] = store.threads_of("page", ["fa", "fb", "zz"])

    out["outbox_first"] = store.outbox_add("pager", "fa", "d1", "fired", {"text": "50% late"}, T0)
    out["outbox_dup"] = store.outbox_add("pager", "fa", "d1", "fired", {"text": "50% late"}, T0)
    store.outbox_add("slack", "fa", "d2", "fired", {}, T0)
    pending = store.outbox_pending()
    store.outbox_update(pending[0].seq, status="sent", attempts=1, next_attempt_at=T0, last_error="")
    out["outbox_pending"] = [(r.seq, r.receiver, r.payload) for r in store.outbox_pending()]
    out["outbox_rows"] = [(r.seq, r.status, r.attempts) for r in store.outbox_rows()]
    store.delivery_add(Delivery(1, "pager", "fa", "fired", DeliveryStatus.SENT, 1, T0, timedelta(milliseconds=12.5),
                                "", "pd-1"))
    out["deliveries"] = store.deliveries_between(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    store.ref_set("slack", "fa", "1700.01", T0)
    store.ref_set("slack", "fa", "1700.02", T0)
    out["ref"] = (store.ref_get("slack", "fa"), store.ref_get("slack", "zz"))

    store.silence_add(Silence("s1", {"stage": "dbt"}, T0, T0 + timedelta(hours=2), "ana", "deploy", T0))
    store.silence_add(Silence("s2", {"check": "~lag.*"}, T0 + timedelta(seconds=1), T0 + timedelta(minutes=5), "bo", "", T0))
    out["silences_now"] = [s.id for s in store.silences(now=T0 + timedelta(minutes=10))]
    out["expire"] = (store.silence_expire("s1", T0 + timedelta(minutes=1)), store.silence_expire("s1", T0))
    out["silences_all"] = [(s.id, s.expired_at) for s in store.silences(include_expired=True)]
    out["pruned"] = store.prune_results(T0 + timedelta(minutes=1))
    out["schema"] = store.schema_version()
    return out


@pytest.fixture
def pg_store(postgres: PostgresService) -> Any:
    store = PostgresStateStore(fresh_dsn(postgres, "store_contract"))
    yield store
    store.close()


def test_postgres_store_answers_the_contract_exactly_like_sqlite(pg_store: PostgresStateStore, tmp_path: Path) -> None:
    sqlite = SqliteStateStore(tmp_path / "s.db")
    expected = script(sqlite)
    actual = script(pg_store)
    for key, value in expected.items():
        assert actual[key] == value, key
    assert actual["outbox_dup"] is False and actual["state_fb"] is Phase.FIRING and actual["pruned"] == 2


def test_a_transaction_is_atomic(pg_store: PostgresStateStore) -> None:
    with pytest.raises(RuntimeError), pg_store.transaction() as tx:
        pg_store.pending_add("page", "g", "fa", "fired", T0, {}, tx)
        raise RuntimeError("crash between two writes")
    assert pg_store.pending_groups() == []


def test_two_replicas_migrating_at_once_do_not_collide(postgres: PostgresService) -> None:
    dsn = fresh_dsn(postgres, "store_race")
    stores: list[PostgresStateStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStateStore(dsn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(stores) == 4 and {s.schema_version() for s in stores} == {max(v for v, _, _ in MIGRATIONS)}
    for s in stores:
        s.close()


def test_a_lost_connection_is_replaced_on_the_next_call(pg_store: PostgresStateStore, postgres: PostgresService) -> None:
    pg_store.save_result(CheckResult("a", "k", Status.OK, T0, "x"))
    with psycopg.connect(postgres.dsn(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'store_contract'"
                      " AND application_name = 'sentinel'")
    call: Callable[[], Any] = pg_store.latest_results
    try:
        call()  # may fail once: the server closed the session under it
    except StoreError as exc:
        assert "sentinel-test-pw" not in str(exc)
    assert "a" in call()


def test_a_wrong_password_fails_with_advice_and_no_secret(postgres: PostgresService) -> None:
    dsn = postgres.dsn().replace(postgres.password, "wrong-secret-pw")
    with pytest.raises(StoreError) as info:
        PostgresStateStore(dsn)
    assert "SENTINEL_STATE_DSN" in str(info.value)
    assert "wrong-secret-pw" not in str(info.value)
