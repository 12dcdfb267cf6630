"""Shared helpers for devstack services: cache dir, free ports, readiness waits, process handles."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ServiceUnavailable(RuntimeError):
    """A local component could not start. The message says which and why (with the log path)."""


def cache_dir(*parts: str) -> Path:
    """Where downloads and data live: $SENTINEL_DEVSTACK_CACHE or <project>/.cache/devstack."""
    root = Path(os.environ.get("SENTINEL_DEVSTACK_CACHE", PROJECT_ROOT / ".cache" / "devstack"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `ready` until true; fail fast if the process died, with the tail of its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"{what} exited with code {proc.returncode} while starting{_tail(log)}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(interval)
    raise ServiceUnavailable(f"{what} was not ready within {timeout:.0f}s{_tail(log)}")


def _tail(log: Path | None, lines: int = 25) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log}:\n" + "\n".join(text)


@dataclass
class ManagedProcess:
    """A child process we started; stop() terminates its whole process group. It is recorded in a PID file
    (devstack/procs.py) until stopped, so an interrupted or killed run leaves nothing running."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    extra_stop: list[Callable[[], None]] = field(default_factory=list)
    record: Any = None  # devstack.procs.ProcRecord

    def stop(self, timeout: float = 15.0) -> None:
        from devstack import procs

        for fn in self.extra_stop:
            with contextlib.suppress(Exception):
                fn()
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        procs.forget(self.record)


    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the whole process group (SIGSTOP / SIGCONT in fault tests: a hung, then a woken service)."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)


def spawn(name: str, argv: list[str], *, log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None, user: str | None = None) -> ManagedProcess:
    """Start argv in its own session (so a group kill reaches its children), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab")
    popen = subprocess.Popen(
        argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True, user=user,
    )
    out.close()
    from devstack import procs

    managed = ManagedProcess(name, popen, log)
    managed.record = procs.record(name, popen.pid, managed.stop, argv=argv)
    return managed
