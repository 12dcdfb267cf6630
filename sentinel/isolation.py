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


class _Worker:
    def __init__(self, settings: Any) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent (librdkafka, APScheduler)
        self.dump = Path(tempfile.mkstemp(prefix="sentinel-worker-", suffix=".txt")[1])
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, settings, str(self.dump)), daemon=True,
                                   name="sentinel-check-worker")
        self.process.start()
        child.close()
        self.runs = 0

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
                 max_runs: int = 200) -> None:
        self._settings = settings
        self._clock = clock
        self._memory_limit = memory_limit_bytes
        self._max_runs = max_runs
        self._idle: list[_Worker] = []
        self._slots = threading.BoundedSemaphore(max(1, size))
        self._lock = threading.Lock()
        self._closed = False

    def run(self, check: Any, ctx: CheckContext, timeout: float) -> Outcome:
        """Run `check` in a worker; return within `timeout` seconds of real time whatever the check does.
        `ctx.sources` is the caller's: its connection policy (allow_privileged) goes with the request."""
        with self._slots:
            worker = self._take()
            outcome, healthy = self._supervise(worker, check, ctx, timeout)
            self._give_back(worker, healthy)
            return outcome

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.close_files()
        return _Worker(self._settings)

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
        worker.runs += 1
        if not healthy:
            worker.kill()
            return
        with self._lock:
            if not self._closed and worker.runs < self._max_runs:
                self._idle.append(worker)
                return
        worker.stop()

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
