from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentinel.errors import StoreError
from sentinel.model import CheckResult, Finding, Status
from sentinel.store.sqlite import SqliteStateStore

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def result(check_id: str, at: datetime, status: Status = Status.OK) -> CheckResult:
    return CheckResult(check_id, "sql_threshold", status, at, f"{check_id} at {at:%H:%M}", values={"v": 1.5},
                       labels={"stage": "kafka"}, findings=(Finding("f1", status, "x", values={"n": 2.0}),))


def test_results_survive_a_restart_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStateStore(path)
    for i in range(3):
        store.save_result(result("a", T0 + timedelta(minutes=i), Status.WARN if i == 2 else Status.OK))
    store.memory_save("a", "offsets", {"p0": [1, 2, 3]}, T0)
    store.close()

    again = SqliteStateStore(path)
    latest = again.latest_results()["a"]
    assert latest.status is Status.WARN and latest.observed_at == T0 + timedelta(minutes=2)
    assert latest.findings[0].values["n"] == 2.0
    assert [r.observed_at.minute for r in again.recent_results("a", 2)] == [2, 1]
    assert len(again.results_between("a", T0, T0 + timedelta(minutes=2))) == 2
    assert again.memory_load("a", "offsets") == {"p0": [1, 2, 3]}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_prune_removes_only_old_results(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "s.db")
    store.save_result(result("a", T0))
    store.save_result(result("a", T0 + timedelta(days=10)))
    assert store.prune_results(T0 + timedelta(days=1)) == 1
    assert len(store.recent_results("a", 10)) == 1


def test_a_store_from_a_newer_sentinel_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version, description) VALUES (999, 'future')")
    with pytest.raises(StoreError, match="schema version 999, newer than this Sentinel knows"):
        SqliteStateStore(path)
