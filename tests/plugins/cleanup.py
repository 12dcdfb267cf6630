"""A test run leaves no server behind (devstack/procs.py keeps a PID file per server it starts):

- at start, servers of earlier runs that died without stopping theirs (SIGKILL, a crash) are stopped;
- SIGTERM becomes a clean interrupt, like Ctrl-C: fixtures tear down;
- at exit, whatever this run started and no fixture stopped (a fixture that failed half-way, an interrupt during
  start-up) is stopped.
"""

from __future__ import annotations

import pytest

from devstack import procs


def pytest_configure(config: pytest.Config) -> None:
    for rec in procs.reap_stale():
        print(f"devstack: stopped {rec.name} (pid {rec.pid}) left running by an earlier test run {rec.owner}")
    procs.install_exit_handlers()


def pytest_unconfigure(config: pytest.Config) -> None:
    procs.stop_started()
