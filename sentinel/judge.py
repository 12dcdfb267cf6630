"""The one way a measurement becomes a status.

Checks measure; every kind then judges its measurement with `judge` against the thresholds in its params, which
carry the defaults that kind needs (docs/design.md, "Judging"). A rule in alert_rules.yaml that sets
`warning`/`critical` on a value re-judges a published value with this same function: one comparison, one
meaning of `op`, one order of precedence (critical is tested first) everywhere.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import timedelta
from typing import Literal, TypeVar

from sentinel.model import Status

Op = Literal[">", ">=", "<", "<="]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}

V = TypeVar("V", float, int, timedelta)


def breaches(value: V, op: Op, threshold: V | None) -> bool:
    """True when `value op threshold` holds; an unset threshold is never breached."""
    return threshold is not None and bool(OPS[op](value, threshold))  # type: ignore[arg-type]


def crossed(value: V, *, warn: V | None, critical: V | None, op: Op = ">") -> tuple[Status, V | None]:
    """The status of `value` and the threshold that decided it (critical first; the nearest one when OK)."""
    if breaches(value, op, critical):
        return Status.CRITICAL, critical
    if breaches(value, op, warn):
        return Status.WARN, warn
    return Status.OK, warn if warn is not None else critical


def judge(value: V, *, warn: V | None, critical: V | None, op: Op = ">") -> Status:
    """OK, WARN or CRITICAL for one measurement. `op` says which way is bad: ">" (the default) for lag, age and
    counts of failures; "<" for things that must stay high, such as a size ratio or a row count."""
    return crossed(value, warn=warn, critical=critical, op=op)[0]


def ordered(warn: V | None, critical: V | None, op: Op = ">") -> str | None:
    """A problem (for a params validator) when `critical` would be crossed before `warn`, so WARN never shows."""
    if warn is None or critical is None or warn == critical or not breaches(warn, op, critical):
        return None
    return f"critical ({critical}) must be at least as bad as warning ({warn}) for op {op!r}: swap them, or change op"
