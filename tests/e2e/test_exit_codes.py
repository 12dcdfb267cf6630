"""The exit codes a wrapper sees from the installed `sentinel` command: a usage error is 64, never one of the check
statuses 0-4, and a bad configuration is 4 (issue 18)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
SENTINEL = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "sentinel")


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SENTINEL_")}
    env.update(SENTINEL_SECRETS_DIR=str(tmp_path / "none"), SENTINEL_STATE_PATH=str(tmp_path / "s.db"))
    return subprocess.run([SENTINEL, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)


@pytest.mark.parametrize("args", [("chek",), ("check", "--once", "--format", "xml"), ("validate", "--strict"),
                                  ("--config",)])
def test_usage_errors_exit_64(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = run(tmp_path, *args)
    assert proc.returncode == 64, proc.stderr
    assert "Traceback" not in proc.stderr and "Error:" in proc.stderr


def test_a_broken_file_exits_4_and_the_help_documents_64(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_bytes(b"checks:\n  - id: caf\xe9\n")
    proc = run(tmp_path, "validate", str(tmp_path / "bad.yaml"))
    assert proc.returncode == 4 and "bad.yaml:2: not UTF-8 text" in proc.stderr and "Traceback" not in proc.stderr
    helped = run(tmp_path, "validate", "--help")
    assert helped.returncode == 0
    assert "64 usage error" in helped.stdout and "4  bad configuration" in helped.stdout
