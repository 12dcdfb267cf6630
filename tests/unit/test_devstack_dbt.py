"""devstack.dbt fails with a clear ServiceUnavailable when its venv cannot be built (the fixture then pytest.fail()s)."""

from __future__ import annotations

from pathlib import Path

import pytest

import devstack.dbt as dbt
from devstack.base import ServiceUnavailable


def test_a_venv_that_cannot_be_built_is_service_unavailable_with_the_step_and_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "requirements-dbt.lock"
    lock.write_text("dbt-core==1.11.16\n")
    failing_uv = tmp_path / "uv"
    failing_uv.write_text("#!/bin/sh\necho 'error: no interpreter found' >&2\nexit 2\n")
    failing_uv.chmod(0o755)
    monkeypatch.setenv("SENTINEL_DEVSTACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dbt, "LOCK_FILE", lock)
    monkeypatch.setattr(dbt, "_uv", lambda: str(failing_uv))

    with pytest.raises(ServiceUnavailable) as err:
        dbt.ensure_dbt_venv()
    message = str(err.value)
    assert "building the dbt venv failed at" in message and "venv" in message and "(exit 2)" in message
    assert "error: no interpreter found" in message  # the tail of the install log
    assert not any((tmp_path / "cache" / "dbt-venv").glob("*/.sentinel-ready"))


def test_a_missing_lock_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_DEVSTACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dbt, "LOCK_FILE", tmp_path / "nope.lock")
    with pytest.raises(ServiceUnavailable, match=r"nope\.lock is missing"):
        dbt.ensure_dbt_venv()


def test_dbt_runs_without_tracking() -> None:
    env = dbt.dbt_env({"X": "1"})
    assert env["DO_NOT_TRACK"] == "1" and env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false" and env["X"] == "1"
