"""Session fixture: one real PostgreSQL cluster for the whole test run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.base import ServiceUnavailable
from devstack.postgres import PostgresService, start_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresService]:
    try:
        service = start_postgres("pytest")
    except ServiceUnavailable as exc:
        pytest.fail(f"PostgreSQL could not start, so the integration tests cannot run: {exc}", pytrace=False)
    yield service
    service.stop()
