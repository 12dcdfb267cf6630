"""The dialect layer: a statement is split around its parameters once, each driver gets its own markers, and
nothing that only looks like a parameter (a quoted ':x', a PostgreSQL `::cast`, a `%`) is taken for one."""

from __future__ import annotations

import sqlite3

import pytest

from sentinel.store.sql import POSTGRES, SQLITE, in_list, numbered, sql, upsert


def test_named_parameters_become_each_drivers_marker_in_slot_order() -> None:
    stmt = sql("SELECT a FROM t WHERE b = :b AND c > :c OR b = :b")
    assert SQLITE.render(stmt) == "SELECT a FROM t WHERE b = ? AND c > ? OR b = ?"
    assert POSTGRES.render(stmt) == "SELECT a FROM t WHERE b = %s AND c > %s OR b = %s"
    assert SQLITE.bind(stmt, {"c": 2, "b": 1}) == (1, 2, 1)


def test_literals_casts_and_percent_signs_are_not_parameters() -> None:
    stmt = sql("SELECT l.classid::text::bigint, '50% :not_me' FROM x WHERE y = :y AND z LIKE 'a%'")
    assert stmt.names == ("y",)
    assert POSTGRES.render(stmt) == "SELECT l.classid::text::bigint, '50%% :not_me' FROM x WHERE y = %s AND z LIKE 'a%%'"
    assert SQLITE.render(stmt) == "SELECT l.classid::text::bigint, '50% :not_me' FROM x WHERE y = ? AND z LIKE 'a%'"


def test_a_missing_value_names_the_parameter_and_what_the_statement_takes() -> None:
    with pytest.raises(KeyError, match=r"no value for :c .*takes b, c"):
        SQLITE.bind(sql("UPDATE t SET b = :b WHERE c = :c"), {"b": 1})


def test_statements_compose_and_in_lists_bind_by_number() -> None:
    stmt = sql("SELECT v FROM t WHERE k = :k AND ") + in_list("id", "id", 3)
    assert SQLITE.render(stmt) == "SELECT v FROM t WHERE k = ? AND id IN (?, ?, ?)"
    assert SQLITE.bind(stmt, {"k": "a", **numbered("id", [7, 8, 9])}) == ("a", 7, 8, 9)


def test_upsert_overwrites_only_the_columns_it_names() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, first TEXT, v TEXT)")
    stmt = upsert("t", ("k",), ("v",), set_once=("first",))
    for row in ({"k": "a", "first": "1", "v": "x"}, {"k": "a", "first": "2", "v": "y"}):
        conn.execute(SQLITE.render(stmt), SQLITE.bind(stmt, row))
    assert conn.execute("SELECT k, first, v FROM t").fetchall() == [("a", "1", "y")]
