"""The devstack works wherever the checkout lives: a clone under a 0700 home (root's, for one) runs the PostgreSQL
fixtures, although the `postgres` user that initdb and the server run as cannot enter that home."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.base import PROJECT_ROOT

pytestmark = pytest.mark.e2e


def _clone(dest: Path) -> None:
    """The checkout's tracked files as they are now (committed or not), as a fresh clone would have them."""
    argv = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        src = PROJECT_ROOT / name
        if src.is_file() and name.split("/", 1)[0] in ("devstack", "tests", "pyproject.toml"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def test_postgres_fixtures_run_in_a_clone_under_a_0700_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    clone = home / "sentinel"
    _clone(clone)
    env = {k: v for k, v in os.environ.items() if k != "SENTINEL_DEVSTACK_CACHE"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "tests/integration/test_store_postgres.py"], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "error" not in proc.stdout.splitlines()[-1]
    if os.geteuid() == 0:
        # What made it work: the clusters live outside the home, where `postgres` can reach them.
        probe = subprocess.run(["test", "-x", str(home)], user="postgres", capture_output=True, check=False)
        assert probe.returncode != 0, "the test needs a home `postgres` cannot enter"
