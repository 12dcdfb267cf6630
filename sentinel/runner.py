"""Runs checks under a deadline. Whatever a check does — raise, hang, return garbage — the runner returns a
CheckResult: an exception or a missed deadline becomes Status.ERROR with the reason. Checks run concurrently
(bounded) so `check --once` takes about as long as the slowest check, not the sum."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sentinel.api import Check, CheckContext, CheckMemory
from sentinel.clock import Clock
from sentinel.config.checks_spec import CheckSpec
from sentinel.errors import CheckTimeout, PrivilegedConnectionError, SourceError
from sentinel.model import CheckResult, Status
from sentinel.redact import Redactor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedCheck:
    """A configured check ready to run: its spec and its instance (params validated)."""

    spec: CheckSpec
    check: Check[Any]
    runbook: str

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass
class _InFlight:
    started_monotonic: float
    deadline_monotonic: float


class CheckRunner:
    def __init__(
        self,
        sources: Any,
        memory_for: Callable[[str], CheckMemory],
        clock: Clock,
        redactor: Redactor,
        max_workers: int = 8,
    ) -> None:
        self._sources = sources
        self._memory_for = memory_for
        self._clock = clock
        self._redactor = redactor
        self._max_workers = max(1, max_workers)
        self._lock = threading.Lock()
        self._inflight: dict[str, _InFlight] = {}
        self._abandoned: set[str] = set()

    def stuck(self) -> dict[str, timedelta]:
        """Checks still running past their deadline (abandoned threads), with how long overdue."""
        now = self._clock.monotonic()
        with self._lock:
            return {
                cid: timedelta(seconds=now - f.deadline_monotonic)
                for cid, f in self._inflight.items()
                if cid in self._abandoned
            }

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._inflight)

    def run_many(self, planned: Sequence[PlannedCheck]) -> list[CheckResult]:
        if not planned:
            return []
        workers = min(self._max_workers, len(planned))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sentinel-dispatch") as pool:
            return list(pool.map(self.run_one, planned))

    def run_one(self, planned: PlannedCheck) -> CheckResult:
        spec = planned.spec
        started = self._clock.monotonic()
        with self._lock:
            previous = self._inflight.get(spec.id)
            if previous is not None:
                overdue = started - previous.started_monotonic
                return self._error(planned, f"previous run is still running after {overdue:.0f}s; skipped this run", 0.0)
            self._inflight[spec.id] = _InFlight(started, started + spec.timeout.total_seconds())

        ctx = CheckContext(
            check_id=spec.id,
            clock=self._clock,
            deadline_monotonic=started + spec.timeout.total_seconds(),
            sources=_for_check(self._sources, spec.id),
            memory=self._memory_for(spec.id),
            labels=spec.labels,
        )
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                outcome["result"] = planned.check.run(ctx)
            except BaseException as exc:
                outcome["error"] = exc
            finally:
                done.set()
                with self._lock:
                    self._inflight.pop(spec.id, None)
                    self._abandoned.discard(spec.id)

        # Daemon thread: a check hung in a driver call must not keep the process from exiting.
        threading.Thread(target=work, name=f"check-{spec.id}", daemon=True).start()
        finished = done.wait(spec.timeout.total_seconds())
        elapsed = max(0.0, self._clock.monotonic() - started)
        if not finished:
            with self._lock:
                if spec.id in self._inflight:
                    self._abandoned.add(spec.id)
            log.warning("check %s exceeded its %ss deadline; abandoned", spec.id, spec.timeout.total_seconds())
            return self._error(planned, str(CheckTimeout(spec.id, spec.timeout)), spec.timeout.total_seconds())
        if "error" in outcome:
            return self._error(planned, _describe_exception(outcome["error"]), elapsed, _error_details(outcome["error"]))
        result = outcome.get("result")
        if not isinstance(result, CheckResult):
            return self._error(planned, f"check returned {type(result).__name__}, not a CheckResult (plugin bug)", elapsed)
        if result.check_id != spec.id:
            result = replace(result, check_id=spec.id)
        if result.findings:
            worst = Status.worst(f.status for f in result.findings)
            if worst.rank > result.status.rank:
                result = replace(result, status=worst)
        return self._redactor.result(replace(result, duration=timedelta(seconds=elapsed)))

    def _error(self, planned: PlannedCheck, reason: str, elapsed: float,
               extra: dict[str, str] | None = None) -> CheckResult:
        # One line: drivers put newlines and tabs in their messages; a summary is read in a table or a Slack line.
        reason = " ".join(self._redactor.text(reason).split())
        return CheckResult(
            check_id=planned.spec.id,
            kind=planned.spec.kind,
            status=Status.ERROR,
            observed_at=self._clock.now(),
            summary=f"could not run: {reason}",
            labels=planned.spec.labels,
            details={"error": reason, **self._redactor.mapping(extra or {})},
            duration=timedelta(seconds=elapsed),
        )


def _for_check(sources: Any, check_id: str) -> Any:
    """The sources as one check sees them (Snowflake's QUERY_TAG names the check); test doubles pass through."""
    for_check = getattr(sources, "for_check", None)
    return for_check(check_id) if callable(for_check) else sources


def _error_details(exc: BaseException) -> dict[str, str]:
    """Keep what `check --once` needs to exit 4 with the GRANTs, which the one-line summary flattens."""
    if isinstance(exc, PrivilegedConnectionError):
        return {"error_kind": "privileged_connection", "fix": exc.hint}
    return {}


def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
