"""schema_drift's pure comparisons: where a column stops, what changed at a hop, what counts as narrowing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sentinel_checks._schema_diff import describe_changes, diff_hop, gaps, narrowed
from sentinel_checks._schemas import Column
from sentinel_checks.schema_drift import SchemaDriftParams

from sentinel.api import Status


def cols(*names: str, type: str = "bigint", nullable: bool = True) -> dict[str, Column]:
    return {n: Column(type, nullable) for n in names}


PG = "PostgreSQL payments.transactions"
S3 = "S3 Parquet dt=2026-11-26"
SF = "Snowflake RAW.TRANSACTIONS"
DBT = "dbt source payments.transactions"


def test_a_new_column_is_followed_to_the_hop_where_it_stops() -> None:
    hops = [("postgres", PG, cols("id", "fee_currency")), ("s3", S3, cols("id", "fee_currency")),
            ("snowflake", SF, cols("id")), ("dbt", DBT, cols("id"))]
    assert gaps(hops) == [f"fee_currency reaches {S3} but not {SF}"]


def test_a_dbt_source_column_missing_in_raw_is_a_gap_but_undeclared_columns_are_not() -> None:
    hops = [("postgres", PG, cols("id", "amount")), ("snowflake", SF, cols("id", "amount")),
            ("dbt", DBT, cols("id", "fee"))]
    assert gaps(hops) == [f"{DBT} declares fee, missing in {SF} (its models read NULL or fail)"]


def test_changes_at_one_hop_dropped_and_narrowed_are_critical() -> None:
    old = {"id": Column("bigint", False), "amount": Column("numeric(18,2)", False), "memo": Column("text", True),
           "status": Column("character varying(32)", False)}
    new = {"id": Column("integer", False), "amount": Column("numeric(18,2)", True),
           "status": Column("text", False), "fee_currency": Column("character(3)", True)}
    downstream = [("postgres", PG, new), ("snowflake", SF, cols("memo"))]
    changes = diff_hop(PG, old, new, downstream)
    by_text = {c.text: c.status for c in changes}
    assert by_text == {
        f"fee_currency added at {PG} (character(3))": Status.WARN,
        f"memo dropped at {PG}; still in {SF}: downstream reads NULL": Status.CRITICAL,
        f"id narrowed at {PG}: bigint -> integer": Status.CRITICAL,
        f"amount is now nullable at {PG}": Status.WARN,
        f"status type changed at {PG}: character varying(32) -> text": Status.WARN,
    }
    assert describe_changes(changes).startswith("changed since the last run: memo dropped")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("bigint", "integer", True), ("int32", "int64", False), ("character varying(255)", "character varying(50)", True),
    ("NUMBER(18,2)", "NUMBER(10,2)", True), ("numeric(18,2)", "numeric(18,4)", False), ("text", "bigint", False),
])
def test_narrowing(old: str, new: str, expected: bool) -> None:
    assert narrowed(old, new) is expected


def test_params_need_two_hops_and_a_dbt_location() -> None:
    with pytest.raises(ValidationError, match="two hops"):
        SchemaDriftParams.model_validate({"tables": [{"name": "t", "postgres": "payments.transactions"}]})
    with pytest.raises(ValidationError, match="dbt_location"):
        SchemaDriftParams.model_validate({"tables": [{"name": "t", "postgres": "a.b", "dbt_source": "payments.t"}]})
    with pytest.raises(ValidationError, match="together"):
        SchemaDriftParams.model_validate({"tables": [{"name": "t", "postgres": "a.b", "s3_bucket": "x"}]})
