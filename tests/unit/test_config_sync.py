"""What a replica says about the config it runs compared with the one the replicas share."""

from __future__ import annotations

from datetime import UTC, datetime

from sentinel.config_sync import RunningConfig, config_hash, describe, file_mismatch, mismatch
from sentinel.store.shared_config import SharedConfig

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OLD, NEW = "checks: []\n", "checks: []\nroutes: []\n"


def shared(text: str, version: int = 2) -> SharedConfig:
    return SharedConfig(version, config_hash(text), text, "replica-b:7", AT)


def test_a_replica_running_the_shared_config_names_its_version():
    running = RunningConfig(hash=config_hash(NEW), version=2)
    assert mismatch(running, shared(NEW)) == "" and describe(running, shared(NEW)) == f"config v2 {config_hash(NEW)}"
    assert mismatch(running, None) == ""  # nothing shared yet (one replica, or the store is unreadable)


def test_a_replica_that_differs_says_from_whom_and_why():
    running = RunningConfig(hash=config_hash(OLD), version=1)
    assert describe(running, shared(NEW)) == (
        f"config differs from the other replicas': this replica runs {config_hash(OLD)}, the shared config is v2"
        f" {config_hash(NEW)} from replica-b:7 (not taken yet)")
    running.rejected_version, running.rejected_why = 2, "route 'page' names receiver 'pager', but the notifiers are: slack"
    assert describe(running, shared(NEW)).endswith(
        ": it was rejected here (route 'page' names receiver 'pager', but the notifiers are: slack)")


def test_a_config_file_that_is_not_what_the_daemons_run_is_pointed_out():
    assert file_mismatch(NEW, shared(NEW)) == ""
    assert file_mismatch(OLD, shared(NEW)) == (
        f"this config file ({config_hash(OLD)}) differs from the config the daemons run (v2 {config_hash(NEW)},"
        " from replica-b:7 at 2026-11-23 09:00:00 UTC): reload to apply it")
