"""Not collected by the suite (no test_ prefix): tests/e2e/test_devstack_cleanup.py runs it in a child pytest and
interrupts it while the Kafka broker, its third server, is still starting."""

from typing import Any


def test_three_servers(s3_server: Any, postgres: Any, kafka: Any) -> None:
    pass
