"""Checks run in supervised worker processes, so a check's client library can crash, hang or eat memory without
taking the daemon (its schedule, alerts and heartbeat) or the other checks with it.

The model is Nagios/Icinga's (a check is a separate process, its death is that check's result) with Celery
prefork's reuse: a worker imports Sentinel and opens its clients once and runs many checks, one at a time. The
caller's thread supervises the run:

- a native crash (SIGSEGV in librdkafka, say) ends the worker: the check gets ERROR "check crashed: SIGSEGV in
  worker (kind, last call <function> at <file:line>)", the last Python frame coming from faulthandler's dump;
- a deadline is enforced by killing the worker, so a call hung inside C code ends too (a thread cannot be killed);
- a worker over the memory limit (resident set, polled) is killed with that reason;
- a replacement worker is started on the next run.

A worker has no clock and no memory of its own: `ctx.now()`, the deadline and the check's memory are answered by
the caller over the worker's pipe, so a fake clock in tests and the state store behave exactly as in-process.

In-process execution (threads, `sentinel.runner`) stays for what is safe there: tests whose check plugins share
state with the test, and `SENTINEL_CHECK_ISOLATION=thread` for debugging with a plain traceback.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import multiprocessing
import os
import re
import signal
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sentinel.api import Activity, CheckContext, CheckMemory
from sentinel.clock import Clock
from sentinel.model import CheckResult

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')
# Frames that say nothing about which call hung or crashed: the worker's plumbing and the standard library.
_OWN_FRAMES = ("/sentinel/isolation.py", sysconfig.get_paths()["stdlib"] + "/")


@dataclass(frozen=True)
class Outcome:
    """What came back from a worker: a result, or why there is none (the check's error, a crash, a kill)."""

    result: CheckResult | None = None
    error: str | None = None
    details: dict[str, str] | None = None  # what the runner keeps beside the one-line error (e.g. the GRANTs)


class _RemoteClock:
    """The caller's clock, asked over the pipe (a fake clock in tests stays the one clock)."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    def now(self) -> Any:
        return self._call("now")

    def monotonic(self) -> float:
        return float(self._call("monotonic"))


class _RemoteMemory:
    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    def load(self, key: str) -> Any:
        return self._call("load", key)

    def save(self, key: str, value: Any) -> None:
        self._call("save", key, value)


class _RemoteActivity(Activity):
    """What the check waits on, told to the caller on each change: the caller names it when the deadline kills us."""

    def __init__(self, call: Callable[..., Any]) -> None:
        super().__init__()
        self._call = call

    def _changed(self, value: str | None) -> None:
        self._call("doing", value)


def _worker_main(conn: Connection, settings: Any, dump_path: str) -> None:
    """The worker loop: run one check per request until told to stop or the caller goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the caller decides
    dump = open(dump_path, "w")  # noqa: SIM115 - kept open for faulthandler for the worker's life
    faulthandler.enable(file=dump, all_threads=False)
    faulthandler.register(signal.SIGUSR1, file=dump, all_threads=False)  # the caller's "where are you stuck?"
    from sentinel.runner import describe_exception, error_details
    from sentinel.sources import Sources

    sources = Sources(settings)

    def call(op: str, *args: Any) -> Any:
        conn.send((op, *args))
        kind, value = conn.recv()
        if kind == "raise":
            raise RuntimeError(value)
        return value

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the caller is gone
        if request[0] == "stop":
            return
        _, check, check_id, labels, deadline, connections = request
        if connections is not None:
            sources.connections = connections  # the caller's policy, which a reload may have changed
        ctx = CheckContext(check_id=check_id, clock=_RemoteClock(call), deadline_monotonic=deadline,
                           sources=sources.for_check(check_id), memory=_RemoteMemory(call), labels=labels,
                           doing=_RemoteActivity(call))
        reply: tuple[Any, ...]
        try:
            result = check.run(ctx)
            # The stored form: read-only mappings do not pickle, and a plugin's odd value fails here, not later.
            reply = ("result", result.to_json()) if isinstance(result, CheckResult) else (
                "error", f"check returned {type(result).__name__}, not a CheckResult (plugin bug)")
        except BaseException as exc:  # a check's failure is data, sent as text (exceptions may not pickle)
            reply = ("error", describe_exception(exc), error_details(exc))
        try:
            conn.send(reply)
        except Exception as exc:
            conn.send(("error", f"the check's result could not be sent back: {describe_exception(exc)}"))


# Workers are forked from multiprocessing's fork server, a fresh single-threaded interpreter that imported these
# once: a new worker costs a fork, not an interpreter start and Sentinel's imports (about 0.3 s and 30 MiB each),
# and its pages are shared until written. Never a fork of the caller, whose threads (librdkafka, APScheduler,
# the HTTP server) a fork would copy mid-flight.
PRELOAD = ["sentinel.isolation", "sentinel.api", "sentinel.sources", "sentinel.runner", "psycopg"]
_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None


def _context(preload: list[str]) -> Any:
    """The fork-server context, its preload set before the server first starts (once per process)."""
    global _CONTEXT  # noqa: PLW0603 - one fork server per process, as multiprocessing itself keeps it
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([*PRELOAD, *preload])
            _CONTEXT = ctx
        return _CONTEXT


class _Worker:
    def __init__(self, settings: Any, preload: list[str]) -> None:
        ctx = _context(preload)
        self.dump = Path(tempfile.mkstemp(prefix="sentinel-worker-", suffix=".txt")[1])
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, settings, str(self.dump)), daemon=True,
                                   name="sentinel-check-worker")
        self.process.start()
        child.close()
        self.runs = 0
        self.idle_since = time.monotonic()

    def rss_bytes(self) -> int:
        try:
            pages = int(Path(f"/proc/{self.process.pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            return 0
        return pages * os.sysconf("SC_PAGE_SIZE")

    def last_frame(self) -> str | None:
        """The innermost frame of ours or the check's in faulthandler's dump (crash or SIGUSR1)."""
        try:
            text = self.dump.read_text(errors="replace")
        except OSError:
            return None
        for match in _FRAME.finditer(text):  # most recent call first
            if not any(own in match["file"] for own in _OWN_FRAMES):
                return f"{match['func']} at {_short(match['file'])}:{match['line']}"
        return None

    def where_stuck(self) -> str | None:
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(self.process.pid or -1, signal.SIGUSR1)
            time.sleep(0.2)  # faulthandler writes from its signal handler, even inside C code
        return self.last_frame()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.close_files()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop",))
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)
        self.close_files()

    def close_files(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        self.dump.unlink(missing_ok=True)


def _short(path: str) -> str:
    for marker in ("/sentinel/", "/checks/", "/tests/", "/site-packages/"):
        if marker in path:
            return marker.strip("/") + "/" + path.split(marker, 1)[1]
    return path


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


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
        self._idle: list[_Worker] = []
        self._size = max(1, size)
        self._slots = threading.BoundedSemaphore(self._size)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._alive = 0  # workers that exist: idle, running a check, or starting
        self._closed = False

    def warm(self, count: int) -> None:
        """Start up to `count` workers in the background, so the first checks do not wait for their processes."""

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

    def _take(self) -> _Worker:
        """An idle worker, a new one while fewer than `size` exist, or the next one a warm-up delivers."""
        expired: list[_Worker] = []
        chosen: _Worker | None = None
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

    def _expire_locked(self) -> list[_Worker]:
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

    def _new_worker(self) -> _Worker:
        """Start a worker whose place in `_alive` is already counted; give the place back if it cannot start."""
        try:
            return _Worker(self._settings, self._preload)
        except BaseException:
            with self._changed:
                self._alive -= 1
                self._changed.notify()
            raise

    def _offer(self, worker: _Worker) -> None:
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

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
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

    def _supervise(self, worker: _Worker, check: Any, ctx: CheckContext, timeout: float) -> tuple[Outcome, bool]:
        deadline = time.monotonic() + timeout
        try:
            worker.conn.send(("run", check, ctx.check_id, dict(ctx.labels), ctx.deadline_monotonic,
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
            if self._memory_limit and worker.rss_bytes() > self._memory_limit:
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

    def _answer(self, worker: _Worker, ctx: CheckContext, message: tuple[Any, ...]) -> None:
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

    def _crashed(self, worker: _Worker, kind: str) -> Outcome:
        worker.process.join(2)
        code = worker.process.exitcode
        how = _signal_name(code) if code is not None and code < 0 else f"exit code {code}"
        where = worker.last_frame()
        return Outcome(error=f"check crashed: {how} in worker ({kind}{', last call ' + where if where else ''})")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"
