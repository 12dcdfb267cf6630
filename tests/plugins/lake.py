"""Session fixtures for the data lake and warehouse: a moto S3 server (child process), an in-process moto server
for tests whose object times must follow freezegun, and the fakesnow Snowflake server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.s3 import S3Service, start_s3
from devstack.snowflake import SnowflakeService, start_snowflake
from tests.plugins import start_or_fail


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Service]:
    """moto server as a child process on a free port (endpoint_url, client(), env(), enforce_iam())."""
    service = start_or_fail("the moto S3 server", start_s3)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def s3_server_inprocess() -> Iterator[S3Service]:
    """moto's ThreadedMotoServer in this process: object LastModified follows freezegun."""
    service = start_or_fail("the in-process moto S3 server", lambda: start_s3(in_process=True))
    yield service
    service.stop()


@pytest.fixture(scope="session")
def snowflake_server() -> Iterator[SnowflakeService]:
    """fakesnow server (child process) that snowflake-connector-python 4.x reaches over HTTP: connect_kwargs()."""
    service = start_or_fail("the fakesnow Snowflake server", start_snowflake)
    yield service
    service.stop()
