"""Sentinel's exceptions. Every message names the file, field, value or check involved.

    SentinelError
    ├── ConfigError            one problem in alert_rules.yaml or settings (path + line)
    │   ├── ConfigErrors       all of them at once, as startup reports them
    │   └── SettingsErrors     every bad SENTINEL_* variable or secret file at once
    ├── PluginError            unknown, duplicate or malformed check/notifier kinds
    ├── CheckError             a check could not measure (becomes Status.ERROR, never a crash)
    │   └── SourceError        a remote system failed or timed out; `hint` says what to do
    │       └── PrivilegedConnectionError  the identity can do more than monitor (exit 4 with the GRANTs)
    ├── StoreError             the state store cannot be opened or migrated
    └── NotifyError            a notifier failed; `retryable` decides whether the outbox retries
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta


class SentinelError(Exception):
    pass


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        at = f" at {self.path}" if self.path else ""
        return f"{where}{at}: {self.message}"


class ConfigError(SentinelError):
    pass


class ConfigErrors(ConfigError):
    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration error(s):\n{lines}")


class SettingsErrors(ConfigError):
    """Each problem names the variable or secret file and says what is expected; values are never repeated
    (a setting may be a secret)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} settings error(s):\n{lines}")


class PluginError(SentinelError):
    pass


class CheckError(SentinelError):
    """A check could not measure. Raised from run(), it becomes that check's ERROR result with this message."""


class SourceError(CheckError):
    """A watched system could not be read. `hint` says what to do ("set SENTINEL_KAFKA_BOOTSTRAP") and is shown
    after the message; it must never contain a secret."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.hint = hint
        super().__init__(f"{message} (hint: {hint})" if hint else message)


class PrivilegedConnectionError(SourceError):
    """The connection's identity can do more than monitor and is not marked allow_privileged (exit 4)."""


class CheckTimeout(CheckError):
    def __init__(self, check_id: str, timeout: timedelta) -> None:
        super().__init__(f"check {check_id!r} did not finish within its {timeout.total_seconds():g}s deadline")


class StoreError(SentinelError):
    pass


class NotifyError(SentinelError):
    def __init__(self, message: str, *, retryable: bool, retry_after: timedelta | None = None) -> None:
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)
