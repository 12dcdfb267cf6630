"""Session fixtures for the data lake and warehouse: a moto S3 server (child process), an in-process moto server
for tests whose object times must follow freezegun, and the fakesnow Snowflake server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.base import ServiceUnavailable
from devstack.s3 import S3Service, start_s3
from devstack.snowflake import SnowflakeService, start_snowflake


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Service]:
    """moto server as a child process on a free port (endpoint_url, client(), env(), enforce_iam())."""
    try:
        service = start_s3()
    except ServiceUnavailable as exc:
        pytest.fail(f"the moto S3 server could not start, so S3 tests cannot run: {exc}", pytrace=False)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def s3_server_inprocess() -> Iterator[S3Service]:
    """moto's ThreadedMotoServer in this process: object LastModified follows freezegun."""
    try:
        service = start_s3(in_process=True)
    except ServiceUnavailable as exc:
        pytest.fail(f"the in-process moto S3 server could not start: {exc}", pytrace=False)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def snowflake_server() -> Iterator[SnowflakeService]:
    """fakesnow server (child process) that snowflake-connector-python 4.x reaches over HTTP: connect_kwargs()."""
    try:
        service = start_snowflake()
    except ServiceUnavailable as exc:
        pytest.fail(f"the fakesnow Snowflake server could not start, so Snowflake tests cannot run: {exc}", pytrace=False)
    yield service
    service.stop()
