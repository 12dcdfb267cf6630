"""Runs checks under a deadline. Whatever a check does — raise, hang, crash, return garbage — the runner returns a
CheckResult: an exception, a crash or a missed deadline becomes Status.ERROR with the reason. Checks run
concurrently, at most max_workers at once: with no more checks than that, `check --once` takes about as long as the
slowest check, not the sum; more checks run in waves (longest first), so when a system is down each wave of its
checks waits out their deadlines. With a worker pool
(sentinel/isolation.py: the CLI and the daemon) each check runs in a supervised process; without one, on threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sentinel.api import Check, CheckContext, CheckMemory, measured_status
from sentinel.clock import Clock
from sentinel.config.checks_spec import CheckSpec
from sentinel.errors import CheckTimeout, PrivilegedConnectionError, SourceError
from sentinel.model import CheckResult, Status
from sentinel.redact import Redactor

if TYPE_CHECKING:
    from sentinel.isolation import WorkerPool

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
        pool: WorkerPool | None = None,
    ) -> None:
        """`pool`: run each check in a supervised worker process (sentinel.isolation); None runs them on threads
        of this process, which is safe only for checks whose code cannot crash or hang it (tests, debugging)."""
        self._pool = pool
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
        if self._pool is not None:
            return self._run_isolated(planned, ctx, started)
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
            waiting = ctx.doing.current
            reason = str(CheckTimeout(spec.id, spec.timeout)) + (f" while waiting on {waiting}" if waiting else "")
            return self._error(planned, reason, spec.timeout.total_seconds())
        if "error" in outcome:
            return self._error(planned, describe_exception(outcome["error"]), elapsed, error_details(outcome["error"]))
        return self._finish(planned, outcome.get("result"), elapsed)

    def _run_isolated(self, planned: PlannedCheck, ctx: CheckContext, started: float) -> CheckResult:
        assert self._pool is not None
        try:
            outcome = self._pool.run(planned.check, ctx, planned.spec.timeout.total_seconds())
        finally:
            with self._lock:
                self._inflight.pop(planned.spec.id, None)
        elapsed = max(0.0, self._clock.monotonic() - started)
        if outcome.error is not None:
            if "worker process was killed" in outcome.error or outcome.error.startswith("check crashed"):
                log.warning("check %s: %s", planned.spec.id, outcome.error)
            return self._error(planned, outcome.error, elapsed, outcome.details)
        return self._finish(planned, outcome.result, elapsed)

    def close(self) -> None:
        """Stop the worker processes (isolated runs)."""
        if self._pool is not None:
            self._pool.close()

    def _finish(self, planned: PlannedCheck, result: Any, elapsed: float) -> CheckResult:
        spec = planned.spec
        if not isinstance(result, CheckResult):
            return self._error(planned, f"check returned {type(result).__name__}, not a CheckResult (plugin bug)", elapsed)
        if result.check_id != spec.id:
            result = replace(result, check_id=spec.id)
        if result.findings:
            # A target that could not be measured does not make the whole result ERROR while others were measured:
            # the measured findings still alert and still count in the SLA ledger.
            worst = measured_status(result.findings)
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


def error_details(exc: BaseException) -> dict[str, str]:
    """Keep what `check --once` needs to exit 4 with the GRANTs, which the one-line summary flattens."""
    if isinstance(exc, PrivilegedConnectionError):
        return {"error_kind": "privileged_connection", "fix": exc.hint}
    return {}


def describe_exception(exc: BaseException) -> str:
    """One line for an exception a check raised: a SourceError's own message, else its type and first line."""
    if isinstance(exc, SourceError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
