"""Pure comparisons for schema_drift: columns across hops (gaps) and one hop over time (changes)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from sentinel.api import Status

from ._schemas import Column, Columns

CARRYING = ("postgres", "kafka", "s3", "snowflake")  # hops that carry every column; a dbt source declares only some
_INT_RANK = {"smallint": 1, "int2": 1, "int16": 1, "integer": 2, "int": 2, "int4": 2, "int32": 2,
             "bigint": 3, "int8": 3, "int64": 3}
_SIZE = re.compile(r"^([a-z0-9_ ]+?)\s*\(([\d,\s]+)\)")


@dataclass(frozen=True)
class Change:
    status: Status
    text: str


def narrowed(old: str, new: str) -> bool:
    """A type that holds less than before: bigint -> integer, varchar(255) -> varchar(50), numeric(18,2) -> (10,2)."""
    o, n = old.lower().strip(), new.lower().strip()
    if o in _INT_RANK and n in _INT_RANK:
        return _INT_RANK[n] < _INT_RANK[o]
    mo, mn = _SIZE.match(o), _SIZE.match(n)
    if not (mo and mn) or mo.group(1) != mn.group(1):
        return False
    sizes_o = [int(x) for x in mo.group(2).split(",")]
    sizes_n = [int(x) for x in mn.group(2).split(",")]
    return any(b < a for a, b in zip(sizes_o, sizes_n, strict=False))


def gaps(hops: list[tuple[str, str, Columns]]) -> list[str]:
    """Where each source column stops, and dbt-declared columns the hop before dbt lacks."""
    carrying = [(w, cols) for k, w, cols in hops if k in CARRYING]
    lines = []
    if carrying:
        for name in carrying[0][1]:
            for (prev_where, _), (where, cols) in itertools.pairwise(carrying):
                if name not in cols:
                    lines.append(f"{name} reaches {prev_where} but not {where}")
                    break
    dbt = [(w, cols) for k, w, cols in hops if k == "dbt"]
    if dbt and carrying:
        last_where, last_cols = carrying[-1]
        for name in dbt[0][1]:
            if name not in last_cols:
                lines.append(f"{dbt[0][0]} declares {name}, missing in {last_where} (its models read NULL or fail)")
    return lines


def diff_hop(where: str, old: Columns, new: Columns, hops: list[tuple[str, str, Columns]]) -> list[Change]:
    out = [Change(Status.WARN, f"{name} added at {where} ({new[name].type})") for name in new if name not in old]
    for name in (n for n in old if n not in new):
        still = [w for _, w, cols in hops if name in cols]
        tail = f"; still in {', '.join(still)}: downstream reads NULL" if still else ""
        out.append(Change(Status.CRITICAL, f"{name} dropped at {where}{tail}"))
    for name in (n for n in old if n in new):
        out.extend(_column_change(where, name, old[name], new[name]))
    return out


def _column_change(where: str, name: str, old: Column, new: Column) -> list[Change]:
    out = []
    if old.type and new.type and old.type != new.type:
        if narrowed(old.type, new.type):
            out.append(Change(Status.CRITICAL, f"{name} narrowed at {where}: {old.type} -> {new.type}"))
        else:
            out.append(Change(Status.WARN, f"{name} type changed at {where}: {old.type} -> {new.type}"))
    if old.nullable is not None and new.nullable is not None and old.nullable != new.nullable:
        now = "nullable" if new.nullable else "NOT NULL"
        out.append(Change(Status.WARN, f"{name} is now {now} at {where}"))
    return out


def describe_changes(changes: list[Change]) -> str:
    worst_first = sorted(changes, key=lambda c: c.status is not Status.CRITICAL)
    return "changed since the last run: " + "; ".join(c.text for c in worst_first)
