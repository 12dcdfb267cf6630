"""Demo area "sla": no services of its own. Its SLAs (demo/fragments/sla.yaml) follow the findings of the lake
area's `warehouse_freshness` check, so it runs only after the lake area seeded Snowflake."""

from __future__ import annotations

from typing import Any

from devstack.base import ServiceUnavailable


def seed(stack: Any) -> None:
    """Register as AREAS entry ("sla", "devstack.demo_sla", "seed") after ("lake", ...) in devstack/demo.py."""
    if not any(key.startswith("SENTINEL_SNOWFLAKE_") for key in stack.env):
        raise ServiceUnavailable("the SLA demo measures the lake area's warehouse_freshness check; the lake did not run")
