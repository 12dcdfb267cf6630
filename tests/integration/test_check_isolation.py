"""Checks in supervised worker processes (sentinel/isolation.py): a segfault, a hang inside C and a memory leak in
one check become that check's ERROR with the cause, the caller and the other checks carry on, and a fake clock and
check memory behave as in-process. Real processes, real signals; the faults come from ctypes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from sentinel.api import DictMemory
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.isolation import WorkerPool
from sentinel.model import CheckResult, Status
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from tests.fakes.faulty_checks import FaultyCheck

pytestmark = pytest.mark.integration
MIB = 2**20


def planned(check_id: str, fault: str = "none", *, timeout: float = 10, seconds: float = 0) -> PlannedCheck:
    spec = CheckSpec(id=check_id, kind="faulty", timeout=timedelta(seconds=timeout))
    return PlannedCheck(spec, FaultyCheck(FaultyCheck.Params(fault=fault, seconds=seconds)), "sql-threshold")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memories() -> dict[str, DictMemory]:
    return {}


@pytest.fixture
def runner(clock: FakeClock, memories: dict[str, DictMemory]) -> Iterator[CheckRunner]:
    settings = Settings()
    pool = WorkerPool(settings, clock, size=2, memory_limit_bytes=256 * MIB)
    runner = CheckRunner(None, lambda cid: memories.setdefault(cid, DictMemory()), clock, Redactor.from_settings(settings),
                         max_workers=4, pool=pool)
    yield runner
    runner.close()


def pid_of(result: CheckResult) -> int:
    return int(result.values["pid"])


def test_a_check_runs_in_a_reused_worker_with_the_callers_clock_and_memory(runner: CheckRunner, clock: FakeClock,
                                                                         memories: dict[str, DictMemory]) -> None:
    first = runner.run_one(planned("ok"))
    assert first.status is Status.OK, first.summary
    assert f"run 1 at {clock.now().isoformat()}" in first.summary  # the fake clock, asked over the pipe
    assert pid_of(first) != os.getpid()
    clock.advance(timedelta(minutes=5))
    second = runner.run_one(planned("ok"))
    assert f"run 2 at {clock.now().isoformat()}" in second.summary
    assert pid_of(second) == pid_of(first)  # imports and clients paid once per worker, not per run
    assert memories["ok"].load("runs") == 2  # memory lives with the caller (the state store in production)


def test_a_segfault_is_that_checks_error_with_its_cause_and_the_next_run_gets_a_new_worker(runner: CheckRunner) -> None:
    healthy = runner.run_one(planned("ok"))
    crashed = runner.run_one(planned("kafka_lag", "segfault"))
    assert crashed.status is Status.ERROR
    assert crashed.summary.startswith("could not run: check crashed: SIGSEGV in worker (faulty, last call run at "
                                      "tests/fakes/faulty_checks.py:"), crashed.summary
    again = runner.run_one(planned("kafka_lag"))
    assert again.status is Status.OK and pid_of(again) != os.getpid()
    assert runner.run_one(planned("ok")).status is Status.OK and healthy.status is Status.OK


def test_a_hang_inside_c_is_killed_at_the_deadline_and_says_where(runner: CheckRunner) -> None:
    started = time.monotonic()
    hung = runner.run_one(planned("slot", "hang_in_c", timeout=1))
    took = time.monotonic() - started
    assert hung.status is Status.ERROR and took < 3, (took, hung.summary)
    assert "did not finish within its 1s deadline; its worker process was killed (faulty, last call run at " \
           "tests/fakes/faulty_checks.py:" in hung.summary, hung.summary
    assert runner.stuck() == {}  # nothing left behind, unlike an abandoned thread
    assert runner.run_one(planned("slot")).status is Status.OK


def test_a_leak_is_stopped_at_the_memory_limit(runner: CheckRunner) -> None:
    leaked = runner.run_one(planned("recon", "leak", timeout=60))
    assert leaked.status is Status.ERROR
    assert "used more than its memory limit of 256 MiB; its worker process was killed (faulty)" in leaked.summary
    assert runner.run_one(planned("recon")).status is Status.OK


def test_an_exception_is_data_and_keeps_the_worker(runner: CheckRunner) -> None:
    ok = runner.run_one(planned("ok"))
    raised = runner.run_one(planned("dbt", "raise"))
    assert raised.status is Status.ERROR and raised.summary == "could not run: RuntimeError: the client library gave up"
    assert pid_of(runner.run_one(planned("ok"))) == pid_of(ok)


def test_other_checks_finish_on_time_while_one_crashes_and_one_hangs(runner: CheckRunner) -> None:
    started = time.monotonic()
    results = {r.check_id: r for r in runner.run_many([
        planned("crash", "segfault"), planned("hang", "hang_in_c", timeout=2), planned("a"), planned("b"),
        planned("c", "sleep", seconds=0.5)])}
    assert time.monotonic() - started < 6
    assert [results[c].status for c in ("a", "b", "c")] == [Status.OK] * 3
    assert "SIGSEGV" in results["crash"].summary and "deadline" in results["hang"].summary


def test_a_hang_in_a_worker_names_what_the_check_was_waiting_on(runner: CheckRunner) -> None:
    """Issue 20: the deadline message names the system and object, also when the check runs in a worker process."""
    spec = CheckSpec(id="lag", kind="faulty", timeout=timedelta(seconds=1))
    check = FaultyCheck(FaultyCheck.Params(fault="hang_in_c", doing="Kafka broker-1:9092 ListOffsets of cdc.payments"))
    hung = runner.run_one(PlannedCheck(spec, check, "sql-threshold"))
    assert hung.status is Status.ERROR
    assert ("did not finish within its 1s deadline while waiting on Kafka broker-1:9092 ListOffsets of cdc.payments; "
            "its worker process was killed (faulty") in hung.summary, hung.summary


def test_spare_workers_of_a_burst_are_stopped_soon_and_the_most_recent_kept(clock: FakeClock) -> None:
    """A daemon between its bursts of checks holds `keep_idle` processes, not one per check of the last burst."""
    pool = WorkerPool(Settings(), clock, size=3, memory_limit_bytes=256 * MIB, keep_idle=1, spare_idle_seconds=1)
    runner = CheckRunner(None, lambda cid: DictMemory(), clock, Redactor.from_settings(Settings()), max_workers=3,
                         pool=pool)
    try:
        burst = runner.run_many([planned(f"b{i}", "sleep", seconds=1) for i in range(3)])
        pids = {pid_of(r) for r in burst}
        assert len(pids) == 3
        deadline = time.monotonic() + 15
        while sum(_alive(p) for p in pids) > 1:
            assert time.monotonic() < deadline, "spare workers were not stopped"
            time.sleep(0.2)
        again = runner.run_one(planned("after"))
        assert again.status is Status.OK and pid_of(again) in pids  # the kept one, still warm
    finally:
        runner.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# A fresh interpreter, single-threaded as `check --once` and the daemon are when they build their pool: its workers
# are forks of it. It holds 300 MiB of its own, more than the workers' 256 MiB limit.
_FORKED_FROM_THE_CALLER = """
import json, os, sys
from datetime import timedelta
sys.path.insert(0, sys.argv[1])
from sentinel.api import DictMemory
from sentinel.clock import SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.isolation import WorkerPool
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from tests.fakes.faulty_checks import FaultyCheck

def planned(check_id, fault="none"):
    spec = CheckSpec(id=check_id, kind="faulty", timeout=timedelta(seconds=10))
    return PlannedCheck(spec, FaultyCheck(FaultyCheck.Params(fault=fault)), "sql-threshold")

def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])

if __name__ == "__main__":
    ballast = bytearray(b"\\x01") * (300 * 2**20)
    pool = WorkerPool(Settings(), SystemClock(), size=2, memory_limit_bytes=256 * 2**20)
    pool.warm(2)
    runner = CheckRunner(None, lambda cid: DictMemory(), SystemClock(), Redactor.from_settings(Settings()),
                         max_workers=2, pool=pool)
    first = runner.run_one(planned("a"))
    first_parent = parent(int(first.values["pid"]))
    crashed = runner.run_one(planned("b", "segfault"))
    after = [runner.run_one(planned(f"c{i}")) for i in range(3)]
    out = {"first": [first.status.value, first.summary, first_parent],
           "crashed": [crashed.status.value, crashed.summary],
           "after": [r.status.value for r in after], "me": os.getpid()}
    runner.close()
    print(json.dumps(out))
"""


def test_workers_forked_from_a_single_threaded_caller_share_its_memory_and_still_isolate(tmp_path: Path) -> None:
    """The fast path of `check --once`: workers are forks of the caller itself (no fork server to start and no
    imports to repeat). The memory limit counts what a worker uses, not the caller's pages it shares; a crash is
    still only that check's ERROR, and the replacement comes from the fork server (the caller has threads now)."""
    script = tmp_path / "forked.py"
    script.write_text(_FORKED_FROM_THE_CALLER)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(script), str(root)], capture_output=True, text=True, timeout=120,
                          cwd=root)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    status, summary, first_parent = out["first"]
    assert status == "ok", summary
    assert first_parent == out["me"]  # forked from the caller, not from the fork server
    assert out["crashed"][0] == "error" and "check crashed: SIGSEGV in worker (faulty" in out["crashed"][1]
    assert out["after"] == ["ok"] * 3


_KILLED_CALLER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from sentinel.clock import SystemClock
from sentinel.config.settings import Settings
from sentinel.isolation import WorkerPool

if __name__ == "__main__":
    pool = WorkerPool(Settings(), SystemClock(), size=3, memory_limit_bytes=256 * 2**20)
    pool.warm(3)
    print(" ".join(str(w.process.pid) for w in pool._idle), flush=True)
    time.sleep(600)
"""


def test_workers_forked_from_the_caller_die_with_it_when_it_is_sigkilled(tmp_path: Path) -> None:
    """A SIGKILLed daemon (the OOM killer, a drained node) runs no cleanup, and a fork of it holds the ends of every
    worker pipe, so no worker would see its pipe close: without the kernel's parent-death signal each daemon
    restart left its workers behind, idle and holding their connections, for good."""
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_CALLER)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 3 and all(_alive(p) for p in pids)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if _alive(p)] == []
