"""Session fixture: one real PostgreSQL cluster for the whole test run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from devstack.postgres import PostgresService, start_postgres
from tests.plugins import start_or_fail


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresService]:
    # A cluster per test session (pid in the name), so two sessions on one machine never restart each other's.
    service = start_or_fail("PostgreSQL", lambda: start_postgres(f"pytest-{os.getpid()}", throwaway=True))
    yield service
    service.stop()
    shutil.rmtree(service.data_dir, ignore_errors=True)
