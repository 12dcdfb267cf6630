"""Every server the devstack starts is written down, so none outlives the run that started it.

Each service gets a PID file (JSON) under <cache>/pids when it starts and loses it when it is stopped. Three things
read those files:

- the run itself, at exit (atexit, and SIGTERM turned into a clean exit): whatever it started and did not stop,
  because a fixture failed half-way or the run was interrupted, is stopped now;
- the next run, at start (`reap_stale`): a server whose owner died without cleaning up (SIGKILL, a crash) is
  stopped. A record says which process it is (its command line, its owner's start time), so a PID the kernel has
  since reused for something else is never signalled: processes are found by the files the project wrote, never by
  name;
- `python -m devstack.demo --down` (`stop_kept`): what `--keep` left running on purpose.

    python -m devstack.procs            list the recorded servers
    python -m devstack.procs --reap     stop those whose run is gone
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from devstack.base import cache_dir

_LIVE: dict[Path, Callable[[], None]] = {}  # started by this process and not stopped yet: PID file -> its stop
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ProcRecord:
    name: str
    pid: int  # the process to stop; for PostgreSQL the postmaster is read from its data dir at stop time
    owner: int  # the process that started it (pytest, the demo)
    owner_start: int  # the owner's start time in clock ticks, so a reused owner PID is not taken for it
    cmdline: str  # the server's command line when recorded: a reused PID has another
    kind: str = "group"  # "group": signal its process group; "postgres": pg_ctl stop on data_dir
    data_dir: str | None = None
    bin_dir: str | None = None
    remove_dir: str | None = None  # throwaway data to delete once stopped
    kept: bool = False  # left running on purpose (demo --keep): only `--down` stops it

    @property
    def path(self) -> Path:
        return pids_dir() / f"{self.name}-{self.owner}-{self.pid}.json"


def pids_dir() -> Path:
    return cache_dir("pids")


def _start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: when the process started. None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, alive
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's wait() is missing


def record(name: str, pid: int, stop: Callable[[], None], *, argv: list[str] | None = None, kind: str = "group",
           data_dir: Path | None = None, bin_dir: Path | None = None, remove_dir: Path | None = None) -> ProcRecord:
    """Write down a server this process just started (`argv`: what it was started with), and `stop` to call if
    it is still running at exit."""
    me = os.getpid()
    # From argv, not /proc: right after Popen returns the child may still be inside exec, its cmdline empty.
    cmdline = " ".join(argv) if argv is not None else (_cmdline(pid) or "")
    rec = ProcRecord(name, pid, me, _start_ticks(me) or 0, cmdline, kind,
                     str(data_dir) if data_dir else None, str(bin_dir) if bin_dir else None,
                     str(remove_dir) if remove_dir else None)
    tmp = rec.path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(rec)))
    tmp.replace(rec.path)
    with _LOCK:
        _LIVE[rec.path] = stop
    install_exit_handlers()
    return rec


def forget(rec: ProcRecord | None) -> None:
    """The server was stopped by its owner: nothing left to clean up."""
    if rec is None:
        return
    with _LOCK:
        _LIVE.pop(rec.path, None)
    rec.path.unlink(missing_ok=True)


def records() -> list[ProcRecord]:
    out = []
    for path in sorted(pids_dir().glob("*.json")):
        try:
            out.append(ProcRecord(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)  # half-written or foreign: it cannot name a process we may signal
    return out


def _owner_alive(rec: ProcRecord) -> bool:
    return _alive(rec.owner) and _start_ticks(rec.owner) == rec.owner_start


def _still_ours(rec: ProcRecord) -> bool:
    return _alive(rec.pid) and _cmdline(rec.pid) == rec.cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _stop_group(pid: int) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        if _wait_gone(pid, wait):
            return


def _postmaster_pid(data_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    return None


def _stop_postgres(rec: ProcRecord) -> None:
    assert rec.data_dir is not None
    data_dir = Path(rec.data_dir)
    pid = _postmaster_pid(data_dir)
    if pid is None or not _alive(pid) or rec.data_dir not in (_cmdline(pid) or ""):
        return
    if rec.bin_dir:
        user = "postgres" if os.geteuid() == 0 else None
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([str(Path(rec.bin_dir) / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=30, check=False, user=user, cwd="/tmp")
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
        if not _wait_gone(pid, 10):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def stop_record(rec: ProcRecord) -> None:
    """Stop a recorded server if it is still the process we started, then drop its record."""
    if rec.kind == "postgres":
        _stop_postgres(rec)
    elif _still_ours(rec):
        _stop_group(rec.pid)
    if rec.remove_dir:
        remove_throwaway(Path(rec.remove_dir))
    forget(rec)


def remove_throwaway(path: Path) -> None:
    """Delete throwaway data, and the folders it leaves empty in the system temp dir (PostgreSQL's home outside
    a checkout it cannot enter, devstack/postgres.py)."""
    shutil.rmtree(path, ignore_errors=True)
    tmp = Path(tempfile.gettempdir())
    for parent in (path.parent, path.parent.parent):
        if tmp in (parent.parent, parent.parent.parent):
            with contextlib.suppress(OSError):
                parent.rmdir()  # only if empty


def reap_stale() -> list[ProcRecord]:
    """Stop the servers of earlier runs that died without stopping them. Kept ones (demo --keep) stay."""
    stale = [r for r in records() if not r.kept and not _owner_alive(r)]
    for rec in stale:
        stop_record(rec)
    return stale


def keep_started() -> list[ProcRecord]:
    """Leave what this process started running after it exits (demo --keep), for `stop_kept` to stop later."""
    me = os.getpid()
    kept = []
    for rec in records():
        if rec.owner == me:
            marked = replace(rec, kept=True)
            rec.path.write_text(json.dumps(asdict(marked)))
            with _LOCK:
                _LIVE.pop(rec.path, None)
            kept.append(marked)
    return kept


def stop_kept() -> list[ProcRecord]:
    """Stop what a `--keep` run left, and anything stale besides."""
    done = [r for r in records() if r.kept or not _owner_alive(r)]
    for rec in done:
        stop_record(rec)
    return done


def stop_started() -> None:
    """Stop every server this process started and has not stopped (at exit, after an interrupt)."""
    with _LOCK:
        pending = list(_LIVE.items())
    for path, stop in reversed(pending):
        with contextlib.suppress(Exception):
            stop()
        with _LOCK:
            _LIVE.pop(path, None)
        path.unlink(missing_ok=True)


def _on_sigterm(signum: int, frame: object) -> None:
    # A clean exit instead of death: fixtures tear down, finally blocks run, and atexit stops what is left.
    raise KeyboardInterrupt(f"signal {signum}")


@functools.cache
def install_exit_handlers() -> None:
    """Stop what this process started when it exits, also on SIGTERM. Once per process; signals from the main
    thread only (Python's rule)."""
    atexit.register(stop_started)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
            signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.procs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reap", action="store_true", help="stop the servers whose run is gone")
    args = parser.parse_args(argv)
    if args.reap:
        for rec in reap_stale():
            print(f"stopped {rec.name} (pid {rec.pid}) left by run {rec.owner}")
        return 0
    for rec in records():
        state = "kept" if rec.kept else ("running" if _owner_alive(rec) else "stale")
        print(f"{rec.name:<16} pid {rec.pid:<8} owner {rec.owner:<8} {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
