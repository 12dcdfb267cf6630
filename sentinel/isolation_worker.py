"""The worker side of sentinel/isolation.py: the process that runs checks one at a time, what it asks its caller
over the pipe (the clock, the check's memory, what the check waits on), the fork server it is forked from, and
the caller's handle on one worker (start, memory use, where it is stuck, stop).
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import gc
import importlib
import multiprocessing
import os
import re
import signal
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sentinel.api import Activity, CheckContext
from sentinel.clock import SystemClock
from sentinel.model import CheckResult

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')
# Frames that say nothing about which call hung or crashed: the worker's plumbing and the standard library.
_OWN_FRAMES = ("/sentinel/isolation.py", "/sentinel/isolation_worker.py", sysconfig.get_paths()["stdlib"] + "/")


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

    def load_from(self, check_id: str, key: str) -> Any:
        return self._call("load_from", check_id, key)


class _RemoteActivity(Activity):
    """What the check waits on, told to the caller on each change: the caller names it when the deadline kills us."""

    def __init__(self, call: Callable[..., Any]) -> None:
        super().__init__()
        self._call = call

    def _changed(self, value: str | None) -> None:
        self._call("doing", value)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent_pid: int | None) -> None:
    """A worker never outlives the process it serves. A fork of the caller inherits the caller's ends of every
    worker pipe, its own included, so a SIGKILLed daemon (the OOM killer, a node drain) closes no pipe and the
    worker would wait for a request forever: the kernel kills it when its parent goes (PR_SET_PDEATHSIG, on the
    thread that forked it, which is the caller's only thread), and it exits at once if the parent is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)


def _worker_main(conn: Connection, settings: Any, dump_path: str, parent_pid: int | None = None) -> None:
    """The worker loop: run one check per request until told to stop or the caller goes away."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the caller decides
    for sig in (signal.SIGTERM, signal.SIGHUP):  # a fork of the daemon must not run the daemon's handlers
        signal.signal(sig, signal.SIG_DFL)
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
        _, check, check_id, labels, deadline, local_clock, connections = request
        if connections is not None:
            sources.connections = connections  # the caller's policy, which a reload may have changed
        clock = SystemClock() if local_clock else _RemoteClock(call)
        ctx = CheckContext(check_id=check_id, clock=clock, deadline_monotonic=deadline,
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


# Workers are forked from the caller while it has no other thread (forking_is_safe), else from multiprocessing's
# fork server, a fresh single-threaded interpreter that imported these once: a new worker costs a fork, not an
# interpreter start and Sentinel's imports (about 0.3 s and 30 MiB each), and its pages are shared until written.
# Never a fork of a caller with threads (librdkafka, APScheduler, the HTTP server), which a fork copies mid-flight.
PRELOAD = ["sentinel.isolation_worker", "sentinel.api", "sentinel.sources", "sentinel.runner", "psycopg"]
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


def forking_is_safe() -> bool:
    """True while the caller runs no thread but this one: a fork then copies no lock held mid-flight by another
    thread (logging, imports, librdkafka), so a worker can be forked from the caller itself. `check --once` and the
    daemon are single-threaded when they build their pool; a fork costs milliseconds and shares every module the
    caller already imported, where the fork server first starts an interpreter and imports them again (0.3 s on
    a quiet machine, 1.6 s on a loaded one, all of it before the first check can start)."""
    return _os_threads() == 1 and "fork" in multiprocessing.get_all_start_methods()


def _os_threads() -> int:
    """Threads of this process as the kernel counts them: a client library's own threads (librdkafka's, say) are
    not in threading.active_count(), and a fork would copy their locks as well."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count() + 1  # cannot tell: never fork the caller


@contextlib.contextmanager
def shared_with_forks(preload: list[str]) -> Iterator[None]:
    """Around forking workers from the caller: what every worker needs is imported once, here, not by each worker
    (eight workers importing psycopg at once on two cores took 2 s each), and the caller's objects are frozen out
    of the cyclic collector while forking, so a collection in a worker does not write to (and copy) every page it
    shares with the caller. The caller's own collector gets them back afterwards."""
    for module in [*PRELOAD, *preload]:
        with contextlib.suppress(ImportError):  # as the fork server does: a missing extra fails in its check
            importlib.import_module(module)
    gc.freeze()  # no collection first: on a loaded machine it took longer (0.24 s) than all the forks
    try:
        yield
    finally:
        gc.unfreeze()


class Worker:
    def __init__(self, settings: Any, preload: list[str], *, fork_caller: bool = False) -> None:
        """`fork_caller`: fork this process (only when forking_is_safe()); otherwise fork the fork server."""
        ctx: Any = multiprocessing.get_context("fork") if fork_caller else _context(preload)
        self.dump = Path(tempfile.mkstemp(prefix="sentinel-worker-", suffix=".txt")[1])
        self.conn: Connection
        self.conn, child = ctx.Pipe()
        parent = os.getpid() if fork_caller else None  # a fork server's child has the server as its parent
        self.process = ctx.Process(target=_worker_main, args=(child, settings, str(self.dump), parent), daemon=True,
                                   name="sentinel-check-worker")
        self.process.start()
        child.close()
        self.runs = 0
        self.idle_since = time.monotonic()

    def private_bytes(self) -> int:
        """Resident memory of this worker alone: the pages it shares with the process it was forked from (the
        caller's or the fork server's imports) are not what a check used, and would differ between the two."""
        try:
            text = Path(f"/proc/{self.process.pid}/smaps_rollup").read_text()
        except OSError:
            return 0
        return 1024 * sum(int(line.split()[1]) for line in text.splitlines()
                          if line.startswith(("Private_Clean:", "Private_Dirty:")))

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

    def ask_to_stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop",))

    def stop(self) -> None:
        self.ask_to_stop()
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


def signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"
