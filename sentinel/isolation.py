"""Checks run in supervised worker processes, so a check's client library can crash, hang or eat memory without
taking the daemon (its schedule, alerts and heartbeat) or the other checks with it.

The model is Nagios/Icinga's (a check is a separate process, its death is that check's result) with Celery
prefork's reuse: a worker imports Sentinel and opens its clients once and runs many checks, one at a time. The
caller's thread supervises the run:

- a native crash (SIGSEGV in librdkafka, say) ends the worker: the check gets ERROR "check crashed: SIGSEGV in
  worker (kind, last call <function> at <file:line>)", the last Python frame coming from faulthandler's dump;
- a deadline is enforced by killing the worker, so a call hung inside C code ends too (a thread cannot be killed);
- a worker over the memory limit (its private resident memory, polled) is killed with that reason;
- a replacement worker is started on the next run.

A worker has no clock and no memory of its own: `ctx.now()`, the deadline and the check's memory are answered by
the caller over the worker's pipe, so a fake clock in tests and the state store behave exactly as in-process.

The worker's side (its loop, the remote clock and memory, the fork server) is sentinel/isolation_worker.py.

In-process execution (threads, `sentinel.runner`) stays for what is safe there: tests whose check plugins share
state with the test, and `SENTINEL_CHECK_ISOLATION=thread` for debugging with a plain traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sentinel.api import CheckContext, CheckMemory
from sentinel.clock import Clock, SystemClock
from sentinel.isolation_worker import Worker, forking_is_safe, shared_with_forks, signal_name
from sentinel.model import CheckResult

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Outcome:
    """What came back from a worker: a result, or why there is none (the check's error, a crash, a kill)."""

    result: CheckResult | None = None
    error: str | None = None
    details: dict[str, str] | None = None  # what the runner keeps beside the one-line error (e.g. the GRANTs)


class WorkerPool:
    """Worker processes for checks: at most `size` at once, each reused for `max_runs` checks."""

    def __init__(self, settings: Any, clock: Clock, *, size: int, memory_limit_bytes: int,
                 max_runs: int = 200, idle_seconds: float = 120.0, keep_idle: int = 2,
                 spare_idle_seconds: float = 15.0, preload: list[str] | None = None) -> None:
        """`preload`: modules every worker needs (the configured check kinds), imported once by the fork server.
        The `keep_idle` most recently used idle workers are stopped after `idle_seconds`, the others (started for a
        burst of checks due together) after `spare_idle_seconds`: a daemon between bursts holds few processes, and
        a new one is a fork of the preloaded server, not a new interpreter."""
        self._preload = list(preload or [])
        self._idle_seconds = idle_seconds
        self._keep_idle = keep_idle
        self._spare_idle_seconds = spare_idle_seconds
        self._reaper: threading.Thread | None = None
        self._settings = settings
        self._clock = clock
        self._memory_limit = memory_limit_bytes
        self._max_runs = max_runs
        self._idle: list[Worker] = []
        self._size = max(1, size)
        self._slots = threading.BoundedSemaphore(self._size)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._alive = 0  # workers that exist: idle, running a check, or starting
        self._closed = False

    def warm(self, count: int) -> None:
        """Start up to `count` workers ahead of the first checks: forked from the caller right now while that is
        safe (sentinel.isolation_worker.forking_is_safe), else from the fork server in the background."""
        if forking_is_safe():
            self._fork_caller(count)
            return

        def start() -> None:
            for _ in range(count):
                with self._changed:
                    if self._closed or self._alive >= self._size:
                        return
                    self._alive += 1
                try:
                    worker = self._new_worker()
                except Exception:
                    log.exception("could not start a check worker process ahead of time")
                    return
                self._offer(worker)

        threading.Thread(target=start, name="sentinel-worker-warmup", daemon=True).start()

    def _fork_caller(self, count: int) -> None:
        # Every fork before the first offer, which starts the reaper thread: after that a fork is no longer safe.
        started: list[Worker] = []
        with shared_with_forks(self._preload):
            try:
                for _ in range(min(count, self._size)):
                    started.append(Worker(self._settings, self._preload, fork_caller=True))
            except Exception:
                log.exception("could not start a check worker process ahead of time")
        with self._changed:
            self._alive += len(started)
        for worker in started:
            self._offer(worker)

    def run(self, check: Any, ctx: CheckContext, timeout: float) -> Outcome:
        """Run `check` in a worker; return within `timeout` seconds of real time whatever the check does.
        `ctx.sources` is the caller's: its connection policy (allow_privileged) goes with the request."""
        with self._slots:
            try:
                worker = self._take()
            except Exception as exc:  # no process could be started (out of memory, out of PIDs): the check's ERROR
                return Outcome(error=f"could not start a worker process for the check: {exc}")
            outcome, healthy = self._supervise(worker, check, ctx, timeout)
            self._give_back(worker, healthy)
            return outcome

    def _take(self) -> Worker:
        """An idle worker, a new one while fewer than `size` exist, or the next one a warm-up delivers."""
        expired: list[Worker] = []
        chosen: Worker | None = None
        with self._changed:
            while chosen is None:
                expired += self._expire_locked()
                if self._idle:
                    chosen = self._idle.pop()  # the most recently used: its clients are the warmest
                elif self._alive < self._size:
                    self._alive += 1
                    break
                else:
                    self._changed.wait(0.5)  # a warm-up is starting one; the slot semaphore bounds the waiters
        for worker in expired:
            worker.stop()
        return chosen or self._new_worker()

    def _expire_locked(self) -> list[Worker]:
        """Take expired or dead idle workers out of the pool (the caller stops them outside the lock)."""
        now = time.monotonic()
        newest_first = sorted(self._idle, key=lambda w: -w.idle_since)
        gone = [w for i, w in enumerate(newest_first) if not w.process.is_alive()
                or now - w.idle_since > (self._idle_seconds if i < self._keep_idle else self._spare_idle_seconds)]
        if gone:
            self._idle = [w for w in self._idle if w not in gone]
            self._alive -= len(gone)
            self._changed.notify_all()
        return gone

    def _reap(self) -> None:
        """Stop expired idle workers while no check asks for one (a daemon between its bursts of checks)."""
        while True:
            time.sleep(min(5.0, self._spare_idle_seconds / 2))
            with self._changed:
                if self._closed:
                    return
                gone = self._expire_locked()
            for worker in gone:
                worker.stop()

    def _new_worker(self) -> Worker:
        """Start a worker whose place in `_alive` is already counted; give the place back if it cannot start."""
        try:
            return Worker(self._settings, self._preload)
        except BaseException:
            with self._changed:
                self._alive -= 1
                self._changed.notify()
            raise

    def _offer(self, worker: Worker) -> None:
        with self._changed:
            if not self._closed:
                worker.idle_since = time.monotonic()
                self._idle.append(worker)
                self._changed.notify()
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="sentinel-worker-reaper", daemon=True)
                    self._reaper.start()
                return
            self._alive -= 1
        worker.stop()

    def _give_back(self, worker: Worker, healthy: bool) -> None:
        worker.runs += 1
        if healthy and worker.runs < self._max_runs:
            self._offer(worker)
            return
        with self._changed:
            self._alive -= 1
            self._changed.notify()
        if healthy:
            worker.stop()
        else:
            worker.kill()

    def _supervise(self, worker: Worker, check: Any, ctx: CheckContext, timeout: float) -> tuple[Outcome, bool]:
        deadline = time.monotonic() + timeout
        try:
            # The system clock reads the same in every process (CLOCK_MONOTONIC is system-wide): the worker reads
            # it itself instead of asking over the pipe; any other clock (a fake one in tests) stays the caller's.
            local_clock = type(self._clock) is SystemClock
            worker.conn.send(("run", check, ctx.check_id, dict(ctx.labels), ctx.deadline_monotonic, local_clock,
                              getattr(ctx.sources, "connections", None)))
        except (OSError, ValueError) as exc:
            return Outcome(error=f"could not hand the check to a worker process: {exc}"), False
        kind = getattr(check, "kind", "?")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                where = worker.where_stuck()
                waiting = f" while waiting on {ctx.doing.current}" if ctx.doing.current else ""
                return Outcome(error=f"did not finish within its {timeout:g}s deadline{waiting}; its worker process "
                                     f"was killed ({kind}{', last call ' + where if where else ''})"), False
            if self._memory_limit and worker.private_bytes() > self._memory_limit:
                return Outcome(error=f"used more than its memory limit of {_mib(self._memory_limit)}; its worker "
                                     f"process was killed ({kind})"), False
            try:
                ready = worker.conn.poll(min(left, POLL_SECONDS))
                message = worker.conn.recv() if ready else None
            except (EOFError, OSError):
                return self._crashed(worker, kind), False
            if message is None:
                if not worker.process.is_alive():
                    return self._crashed(worker, kind), False
                continue
            if message[0] == "result":
                return Outcome(result=CheckResult.from_json(message[1])), True
            if message[0] == "error":
                return Outcome(error=message[1], details=message[2] if len(message) > 2 else None), True
            self._answer(worker, ctx, message)

    def _answer(self, worker: Worker, ctx: CheckContext, message: tuple[Any, ...]) -> None:
        op, *args = message
        memory: CheckMemory = ctx.memory
        try:
            value: Any
            if op == "now":
                value = self._clock.now()
            elif op == "monotonic":
                value = self._clock.monotonic()
            elif op == "load":
                value = memory.load(args[0])
            elif op == "load_from":
                value = memory.load_from(args[0], args[1])
            elif op == "save":
                memory.save(args[0], args[1])
                value = None
            elif op == "doing":
                ctx.doing.current = args[0]
                value = None
            else:
                raise ValueError(f"unknown request {op!r} from a worker")
            reply: tuple[str, Any] = ("ok", value)
        except Exception as exc:
            reply = ("raise", f"{type(exc).__name__}: {exc}")
        worker.conn.send(reply)

    def _crashed(self, worker: Worker, kind: str) -> Outcome:
        worker.process.join(2)
        code = worker.process.exitcode
        how = signal_name(code) if code is not None and code < 0 else f"exit code {code}"
        where = worker.last_frame()
        return Outcome(error=f"check crashed: {how} in worker ({kind}{', last call ' + where if where else ''})")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:  # all asked first, then awaited: they finish together
            worker.ask_to_stop()
        for worker in idle:
            worker.stop()


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"
