"""`python -m devstack.demo --keep` leaves the demo's servers running, as its help says, and `--down` stops them
(the real demo, with the reconcile area: PostgreSQL and the fakesnow server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from devstack.base import PROJECT_ROOT

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _demo(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")},
           "SENTINEL_DEVSTACK_CACHE": str(cache)}  # its own cache: a developer's running demo is not touched
    return subprocess.run([sys.executable, "-m", "devstack.demo", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=400, check=False)


def _records(cache: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in (cache / "pids").glob("*.json")]


def _servers(cache: Path) -> list[int]:
    pids = []
    for rec in _records(cache):
        if rec["kind"] == "postgres":
            pids.append(int((Path(rec["data_dir"]) / "postmaster.pid").read_text().splitlines()[0]))
        else:
            pids.append(rec["pid"])
    return pids


def test_keep_leaves_the_servers_and_down_stops_them(tmp_path: Path) -> None:
    cache = tmp_path / "devstack"
    helped = _demo(cache, "--help")
    assert helped.returncode == 0 and "--down" in helped.stdout
    try:
        _keep_then_down(cache)
    finally:
        _demo(cache, "--down")  # an interrupted or failed test must not leave the kept servers running


def _keep_then_down(cache: Path) -> None:
    kept = _demo(cache, "--keep", "--only-area", "reconcile")
    assert kept.returncode == 0, kept.stderr[-3000:]
    assert "services left running (--keep); `python -m devstack.demo --down` stops them" in kept.stderr
    assert "export SENTINEL_POSTGRES_DSN=" in kept.stdout
    servers = _servers(cache)
    kept_dirs = {str(Path(r["data_dir"]).parent.parent) for r in _records(cache) if r["kind"] == "postgres"}
    assert len(servers) == 2 and all(_alive(p) for p in servers), kept.stderr[-2000:]
    down = _demo(cache, "--down")
    assert down.returncode == 0, down.stderr
    assert "2 services stopped" in down.stderr
    assert [p for p in servers if _alive(p)] == [] and _servers(cache) == []
    assert not any((cache / "postgres").glob("demo")), "the demo's throwaway cluster data is removed"
    assert not [p for p in Path(tempfile.gettempdir()).glob("sentinel-devstack-*") if str(p) in kept_dirs]
    again = _demo(cache, "--down")
    assert again.returncode == 0 and "nothing was running" in again.stderr
