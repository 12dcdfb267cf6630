"""The state store locked, corrupt, or on a full disk, seen from `sentinel check --once` as an operator runs it: what
was measured is still printed, the store problem is one line naming the file and the way out, never a traceback.

The full disk is RLIMIT_FSIZE on the CLI process (no file may grow past 4 KiB: SQLite gets EFBIG where a full disk
gives ENOSPC); it needs no mount privileges, so CI runs it as any user.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.base import free_port

pytestmark = pytest.mark.e2e
SENTINEL = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "sentinel")
RULES = """version: 1
checks:
  - id: backlog
    kind: sql_threshold
    timeout: 3s
    schedule: {every: 1m}
    params: {query: "SELECT 1", warning: 5}
"""


def run(tmp_path: Path, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "rules.yaml").write_text(RULES)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SENTINEL_")}
    env.update(SENTINEL_SECRETS_DIR=str(tmp_path / "none"), SENTINEL_STATE_PATH=str(tmp_path / "s.db"),
               SENTINEL_CONFIG_FILE=str(tmp_path / "rules.yaml"),
               # nothing listens there: the check is ERROR at once, which is all these tests need from it
               SENTINEL_POSTGRES_DSN=f"postgresql://monitor@127.0.0.1:{free_port()}/db")
    return subprocess.run([SENTINEL, "check", "--once", "--no-notify"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=90, preexec_fn=preexec)


def measured_and_shown(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "backlog" in proc.stdout and "could not run: cannot connect to PostgreSQL" in proc.stdout, proc.stdout
    assert proc.returncode == 3, (proc.returncode, proc.stderr)  # the check's status, not hidden by the store


def stored_results(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM check_results").fetchone()[0])


def test_a_locked_state_store_still_shows_the_results_and_says_who_may_hold_the_lock(tmp_path: Path) -> None:
    measured_and_shown(run(tmp_path))  # creates and migrates the store
    holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # a backup or a second Sentinel holding the write lock
    release = threading.Timer(20, holder.rollback)
    release.start()
    try:
        proc = run(tmp_path)
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    measured_and_shown(proc)
    assert f"error: the results above were not stored: state store {tmp_path / 's.db'} is locked by another " \
           "process (waited 10s)" in proc.stderr, proc.stderr
    assert stored_results(tmp_path / "s.db") == 1  # the first run's only; nothing half-written
    measured_and_shown(run(tmp_path))  # lock gone: stored again
    assert stored_results(tmp_path / "s.db") == 2


def test_a_full_disk_is_refused_at_start_naming_the_file_and_the_disk(tmp_path: Path) -> None:
    """On a full disk SQLite cannot even make room for its shared-memory file beside the store: the run stops before
    measuring (exit 4, as for any store it cannot use) and says the disk is the problem, not the configuration."""
    measured_and_shown(run(tmp_path))
    db = tmp_path / "s.db"

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, as on a full disk, instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # no file may grow past 4 KiB

    proc = run(tmp_path, no_room)
    assert proc.returncode == 4 and "Traceback" not in proc.stderr, (proc.returncode, proc.stderr)
    assert f"error: cannot open state store {db}: cannot be written (disk I/O error): the disk is full or " \
           "failing; free space or move SENTINEL_STATE_PATH" in proc.stderr, proc.stderr
    measured_and_shown(run(tmp_path))  # room again: stored again
    assert stored_results(db) == 2


def test_a_corrupt_state_store_is_refused_at_start_with_what_to_do(tmp_path: Path) -> None:
    measured_and_shown(run(tmp_path))
    db = tmp_path / "s.db"
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    data[page:] = b"\xa5" * (len(data) - page)  # every page after the header page scribbled over
    db.write_bytes(bytes(data))
    proc = run(tmp_path)
    assert proc.returncode == 4, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"error: cannot open state store {db}: it is corrupt (" in proc.stderr, proc.stderr
    assert "move it aside and point SENTINEL_STATE_PATH at a fresh file" in proc.stderr
