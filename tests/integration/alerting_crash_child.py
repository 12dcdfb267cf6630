"""Child process for the crash tests: fire one alert and deliver it. With RECEIVER it SIGKILLs itself right after
that receiver accepted the message but before the outbox recorded it; with `none` it just delivers (the test kills
it from outside while a request is in flight). Usage: python -m tests.integration.alerting_crash_child STATE
RECEIVER|none (settings come from SENTINEL_* environment variables)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from sentinel.alerting.pipeline import AlertPipeline
from sentinel.clock import FakeClock
from sentinel.compose_root import build_notifiers
from sentinel.config.settings import Settings
from sentinel.config.spec import SentinelConfig
from sentinel.store.sqlite import SqliteStateStore
from tests.integration.alerting_helpers import FRESHNESS_RULE, freshness


def main(state_path: str, kill_after: str) -> None:
    settings = Settings()
    config = SentinelConfig.model_validate({"rules": [FRESHNESS_RULE]})
    notifiers = build_notifiers(config, settings)
    if kill_after != "none":
        victim = notifiers[kill_after]
        real_send = victim.send

        def send_then_die(message: Any, ref: str | None = None) -> Any:
            outcome = real_send(message, ref)
            os.kill(os.getpid(), signal.SIGKILL)  # between send and record
            return outcome

        victim.send = send_then_die  # type: ignore[method-assign]
    clock = FakeClock()
    pipeline = AlertPipeline(config, SqliteStateStore(state_path), notifiers, clock, settings, immediate=True,
                             kind_runbooks={})
    pipeline.process([freshness(clock, 1200)])
    pipeline.deliver_due()
    sys.exit(0)  # not reached when killed


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
