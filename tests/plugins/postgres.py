"""Session fixture: one real PostgreSQL cluster for the whole test run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from devstack.base import ServiceUnavailable
from devstack.postgres import PostgresService, start_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresService]:
    # A cluster per test session (pid in the name), so two sessions on one machine never restart each other's.
    try:
        service = start_postgres(f"pytest-{os.getpid()}")
    except ServiceUnavailable as exc:
        pytest.fail(f"PostgreSQL could not start, so the integration tests cannot run: {exc}", pytrace=False)
    yield service
    service.stop()
    shutil.rmtree(service.data_dir, ignore_errors=True)
