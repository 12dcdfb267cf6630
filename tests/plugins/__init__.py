"""Session fixtures, one module per real component (auto-loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from devstack.base import ServiceUnavailable

T = TypeVar("T")


def start_or_fail(what: str, start: Callable[[], T]) -> T:
    """Start a component; if it cannot start, fail the run with the reason (CI never skips a real part)."""
    try:
        return start()
    except ServiceUnavailable as exc:
        pytest.fail(f"{what} could not start, so the tests that need it cannot run: {exc}", pytrace=False)
