"""The `connections:` section of alert_rules.yaml: per-connection safety policy.

Connections themselves (DSNs, accounts, secrets) come from SENTINEL_* settings; this section only says which of
them may be privileged. By default none may: see sentinel.privileges.
"""

from __future__ import annotations

from pydantic import Field

from sentinel.config.base import Spec


class ConnectionPolicySpec(Spec):
    allow_privileged: bool = Field(
        False, description="run checks even though this identity can do more than monitor (warned at every start)")
    reason: str = Field("", description="why, shown next to the warning")


class ConnectionsSpec(Spec):
    postgres: dict[str, ConnectionPolicySpec] = Field(
        default_factory=dict, description="by connection name: default, or a key of SENTINEL_POSTGRES_DSNS")
    snowflake: ConnectionPolicySpec = Field(default_factory=ConnectionPolicySpec)

    def postgres_allows_privileged(self, name: str) -> bool:
        policy = self.postgres.get(name)
        return policy is not None and policy.allow_privileged

    def privileged_allowed(self) -> list[str]:
        """Human names of every connection allowed to be privileged, for warnings and `sentinel status`."""
        names = [f"postgres {n}" for n, p in sorted(self.postgres.items()) if p.allow_privileged]
        return names + (["snowflake"] if self.snowflake.allow_privileged else [])
