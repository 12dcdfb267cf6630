"""Run `sentinel run` as a real process for e2e tests: start it, read its HTTP endpoints, stop or kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack.base import free_port

SENTINEL = str(Path(sys.executable).parent / "sentinel")


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen[str]
    port: int
    log_path: Path

    def get(self, path: str, timeout: float = 5) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return int(self.proc.returncode)


def start_daemon(name: str, env: dict[str, str], work: Path, *args: str, verbose: bool = True) -> Daemon:
    port = free_port()
    log_path = work / f"{name}.log"
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        [SENTINEL, *(["-v"] if verbose else []), "run", "--http-port", str(port), "--http-host", "127.0.0.1", *args],
        env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True, cwd=str(work),
    )
    daemon = Daemon(name, proc, port, log_path)
    wait_for(lambda: daemon.get("/healthz")[0] == 200, 30, f"{name} did not answer /healthz", daemon)
    return daemon


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, *daemons: Daemon, every: float = 0.2) -> float:
    """Seconds it took; fails with the daemons' logs when the predicate stays false."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        for d in daemons:
            if not d.alive() and d.proc.returncode not in (-signal.SIGKILL,):
                raise AssertionError(f"{what}: {d.name} exited {d.proc.returncode}\n{d.log()[-4000:]}")
        time.sleep(every)
    logs = "\n".join(f"--- {d.name} ---\n{d.log()[-4000:]}" for d in daemons)
    raise AssertionError(f"{what} within {timeout}s\n{logs}")


def base_env(work: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env.update({
        "SENTINEL_CONFIG_FILE": str(work / "alert_rules.yaml"),
        "SENTINEL_STATE_PATH": str(work / "state.db"),
        "SENTINEL_SECRETS_DIR": str(work / "no-secrets"),
        "SENTINEL_RUNBOOK_BASE_URL": "https://runbooks.example/novapay/",
    })
    env.update(more)
    return env
