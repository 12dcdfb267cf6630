"""The PostgreSQL store keeps the StateStore + AlertStore contract exactly as the SQLite store does: the same
script of calls gives the same answers on both; two replicas migrating at once do not collide; a lost
connection is replaced; the DSN's password never appears in errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.postgres import PostgresService
from sentinel.alerting.types import Phase
from sentinel.errors import StoreError
from sentinel.model import CheckResult, Status
from sentinel.store.migrations import MIGRATIONS
from sentinel.store.postgres import PostgresStateStore
from sentinel.store.sqlite import SqliteStateStore
from tests.integration.store_script import T0, fresh_dsn, script

pytestmark = pytest.mark.integration


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
