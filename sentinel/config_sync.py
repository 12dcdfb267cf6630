"""Which config the replicas run, and how a reload reaches every one of them.

With a shared store (SENTINEL_STATE_DSN) the store holds the last valid alert_rules.yaml any replica loaded: its
text, a hash and a version (sentinel/store/shared_config.py). A replica publishes its file when it starts and when
it reloads (SIGHUP or POST /-/reload), if the file differs from the shared one; every replica looks at the store
every SYNC_INTERVAL and adopts a newer version. So a reload on one pod reaches all of them within seconds, the
leader runs the newest valid config, and a follower that becomes leader already runs it. A replica that cannot
take the shared config (it is invalid there: say a secret that pod lacks) keeps its own and says so in /readyz,
on the status page and in `sentinel status`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sentinel.store.shared_config import SharedConfig

SYNC_INTERVAL = timedelta(seconds=5)


def config_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class RunningConfig:
    """What this replica runs: the config's hash, and which shared version that is (0: none yet)."""

    hash: str
    version: int = 0
    origin: str = "its own file"
    rejected_version: int = 0  # the newest shared version this replica tried and could not take
    rejected_why: str = ""


def mismatch(running: RunningConfig, shared: SharedConfig | None) -> str:
    """'' when this replica runs the shared config, else one sentence for /readyz and `sentinel status`."""
    if shared is None or shared.hash == running.hash:
        return ""
    why = (f": it was rejected here ({running.rejected_why})" if running.rejected_version == shared.version
           and running.rejected_why else " (not taken yet)")
    return (f"config differs from the other replicas': this replica runs {running.hash}, the shared config is"
            f" v{shared.version} {shared.hash} from {shared.published_by}{why}")


def describe(running: RunningConfig, shared: SharedConfig | None) -> str:
    """For /readyz: 'config v3 1a2b3c4d5e6f7a8b' or the mismatch."""
    return mismatch(running, shared) or f"config v{running.version} {running.hash}"


def file_mismatch(file_text: str, shared: SharedConfig | None) -> str:
    """For `sentinel status`, run beside a config file: does that file say what the daemons run?"""
    if shared is None:
        return ""
    digest = config_hash(file_text)
    if digest == shared.hash:
        return ""
    return (f"this config file ({digest}) differs from the config the daemons run (v{shared.version} {shared.hash},"
            f" from {shared.published_by} at {shared.published_at:%Y-%m-%d %H:%M:%S} UTC): reload to apply it")
