"""One contract, both engines: every test here runs on SQLite and on PostgreSQL (a real cluster), through the same
SqlStateStore. And a store written by the code before the shared SQL layer (dumps in tests/fixtures/state_store/)
opens with today's code, reads exactly like a store written today, and takes new writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import PostgresService
from sentinel.alerting.types import Phase
from sentinel.model import CheckResult, Status
from sentinel.store.migrations import NEWEST
from sentinel.store.postgres import PostgresStateStore
from sentinel.store.sql_store import SqlStateStore
from sentinel.store.sqlite import SqliteStateStore
from tests.integration.store_script import T0, fill, fresh_dsn, snapshot

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "state_store"

# Opens a store by a name unique within the test: "new" for a fresh store, or a name whose dump is loaded first.
OpenStore = Callable[[str, "str | None"], SqlStateStore]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    opened: list[SqlStateStore] = []

    def sqlite(name: str, dump: str | None) -> SqlStateStore:
        path = tmp_path / f"{name}.db"
        if dump is not None:
            with sqlite3.connect(path) as conn:
                conn.executescript(dump)
        return SqliteStateStore(path)

    def postgres(name: str, dump: str | None) -> SqlStateStore:
        service: PostgresService = request.getfixturevalue("postgres")
        dsn = fresh_dsn(service, f"contract_{name}")
        if dump is not None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(dump)  # a whole pg_dump script: without parameters psycopg sends it as is
        return PostgresStateStore(dsn)

    engine = sqlite if request.param == "sqlite" else postgres

    def open_one(name: str, dump: str | None = None) -> SqlStateStore:
        store = engine(name, dump)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def test_the_contract_answers_what_the_calls_wrote(open_store: OpenStore) -> None:
    out = fill(open_store("script", None))
    assert set(out["latest"]) == {"lag", "fresh"} and out["latest"]["lag"]["status"] == Status.WARN.value
    assert out["between"] == [T0, T0 + timedelta(minutes=1)]  # the end is exclusive
    assert out["recent"] == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=1)]
    assert out["memory"] == ({"p0": [3]}, None)  # the second save replaced the first
    assert out["states_all"] == out["states_active"] == ["fa", "fb", "fc"] and out["state_fb"] is Phase.FIRING
    assert out["states_some"] == ["fc"]
    assert out["groups"] == [("page", "stage=s3_sink", T0), ("chat", "stage=dbt", T0)]
    assert out["taken"] == [("fa", "fired", {"k": 1}), ("fb", "fired", {})]
    assert out["groups_after"] == [("chat", "stage=dbt", T0)] and out["flushed"] == T0 + timedelta(minutes=1)
    assert out["thread"] == ("t1", None, ["fa", "fb"]) and out["threads_of"] == {"fa": "t1", "fb": "t1"}
    assert (out["outbox_first"], out["outbox_dup"]) == (True, False)
    assert out["outbox_pending"] == [(2, "slack", {})]
    assert out["outbox_rows"] == [(2, "pending", 0), (1, "sent", 1)]
    assert [(d.remote_ref, d.latency.total_seconds()) for d in out["deliveries"]] == [("pd-1", 0.0125)]
    assert out["ref"] == ("1700.02", None)
    assert out["silences_now"] == ["s1"] and out["expire"] == (True, False)
    assert out["silences_all"] == [("s1", T0 + timedelta(minutes=1)), ("s2", None)]
    assert out["pruned"] == 2 and out["schema"] == NEWEST
    assert (out["claim"], out["claim_again"]) == (True, False)  # a sent report is never claimed twice
    assert (out["config_v1"], out["config_v2"]) == (1, 2)


def test_percent_signs_and_quotes_in_values_are_stored_as_written(open_store: OpenStore) -> None:
    store = open_store("literals", None)
    text = "50% late: it's ':x' and ? and %s and %(name)s"
    store.save_result(CheckResult("odd", "k", Status.OK, T0, text))
    store.memory_save("odd", "k", text, T0)
    assert store.latest_results()["odd"].summary == text and store.memory_load("odd", "k") == text


def test_a_store_written_before_the_shared_sql_layer_reads_like_one_written_now(
        open_store: OpenStore, request: pytest.FixtureRequest) -> None:
    engine = request.node.callspec.params["open_store"]
    old = open_store("old", (FIXTURES / f"{engine}_e54c983.sql").read_text(encoding="utf-8"))
    new = open_store("new", None)
    fill(new)
    assert snapshot(old) == snapshot(new)

    # and it keeps working: no migration re-run, ids continue after the old rows
    assert old.schema_version() == NEWEST
    assert old.outbox_add("pager", "fz", "d9", "fired", {}, T0 + timedelta(hours=1)) is True
    assert [r.seq for r in old.outbox_rows(limit=1)] == [3]
    old.save_result(CheckResult("lag", "kafka_consumer_lag", Status.CRITICAL, T0 + timedelta(hours=1), "late"))
    assert old.latest_results()["lag"].status is Status.CRITICAL
    assert old.shared_config_publish("h3", "checks: [x]\n", "replica-a", T0 + timedelta(hours=1)) == 3
