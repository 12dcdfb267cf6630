"""A test run leaves nothing running: interrupted with Ctrl-C (SIGINT to its process group) or SIGTERM while its
servers start, it stops every one of them; killed with SIGKILL, the next run's reaper stops them. The processes
are the real ones: a moto server, a PostgreSQL cluster and a Kafka broker, as the session fixtures start them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devstack import procs
from devstack.base import PROJECT_ROOT

pytestmark = pytest.mark.e2e
TARGET = Path(__file__).parent / "targets" / "interrupted_startup.py"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _postmaster(rec: procs.ProcRecord) -> int | None:
    try:
        return int((Path(str(rec.data_dir)) / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _start_run_and_wait_for_the_broker(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[procs.ProcRecord],
                                                                   list[int]]:
    """A child pytest whose moto server and PostgreSQL are up and whose Kafka broker has been spawned, not ready."""
    log = (tmp_path / "child.log").open("wb")
    child = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(TARGET)],
                             cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    mine: list[procs.ProcRecord] = []
    while time.monotonic() < deadline and child.poll() is None:
        mine = [r for r in procs.records() if r.owner == child.pid]
        if any(r.name == "kafka" for r in mine):
            break
        time.sleep(0.05)
    assert {r.name for r in mine} >= {"moto", "kafka"} and any(r.kind == "postgres" for r in mine), (
        f"the child run never reached the broker's start: {[r.name for r in mine]}\n"
        + (tmp_path / "child.log").read_text(errors="replace")[-3000:])
    pg = next(r for r in mine if r.kind == "postgres")
    postmaster = _postmaster(pg)
    assert postmaster is not None and _alive(postmaster)
    pids = [r.pid for r in mine if r.kind == "group"] + [postmaster]
    assert all(_alive(p) for p in pids)
    return child, mine, pids


def _assert_nothing_left(child_pid: int, pids: list[int], records: list[procs.ProcRecord], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert [p for p in pids if _alive(p)] == [], "servers of the interrupted run still running"
    assert [r.name for r in procs.records() if r.owner == child_pid] == []
    for rec in records:
        if rec.remove_dir:
            assert not Path(rec.remove_dir).exists(), f"{rec.name}: throwaway data left in {rec.remove_dir}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_stops_every_server_it_started(kafka: Any, tmp_path: Path, sig: signal.Signals) -> None:
    # `kafka`: the session's broker, so the child finds the Kafka jars downloaded
    child, records, pids = _start_run_and_wait_for_the_broker(tmp_path)
    if sig is signal.SIGINT:
        os.killpg(child.pid, sig)  # what Ctrl-C in a terminal does: the whole foreground group
    else:
        child.send_signal(sig)  # what a CI runner or `kill` does: the process alone
    child.wait(timeout=90)
    _assert_nothing_left(child.pid, pids, records)


def test_the_next_run_reaps_the_servers_of_a_killed_one(kafka: Any, tmp_path: Path) -> None:
    child, records, pids = _start_run_and_wait_for_the_broker(tmp_path)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    time.sleep(0.5)
    assert any(_alive(p) for p in pids), "a SIGKILLed run cannot clean up: its servers outlive it"
    reaped = subprocess.run([sys.executable, "-m", "devstack.procs", "--reap"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert reaped.returncode == 0, reaped.stderr
    assert f"left by run {child.pid}" in reaped.stdout
    _assert_nothing_left(child.pid, pids, records)
