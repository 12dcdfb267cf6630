"""dbt-core 1.11 + dbt-duckdb in a virtualenv of their own, and a runner for a dbt project on DuckDB.

dbt lives in <cache>/dbt-venv/<hash of requirements-dbt.lock>, never in the project venv: dbt's pins
(protobuf, pydantic, duckdb...) must not drag the product's. The venv is built once from the lock file
and reused while the lock file is unchanged; a file lock keeps two processes from building it at once.

    venv = ensure_dbt_venv()
    run = run_dbt_project(FIXTURE_PROJECT, work_dir)      # dbt seed, dbt build, dbt source freshness
    run.target_dir                                        # run_results.json, manifest.json, sources.json
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.base import PROJECT_ROOT, ServiceUnavailable, cache_dir

LOCK_FILE = PROJECT_ROOT / "requirements-dbt.lock"
FIXTURE_PROJECT = PROJECT_ROOT / "tests" / "fixtures" / "dbt_project"
DEFAULT_COMMANDS: tuple[tuple[str, ...], ...] = (("seed",), ("build",), ("source", "freshness"))
_INSTALL_TIMEOUT = 900.0
_COMMAND_TIMEOUT = 300.0


@dataclass(frozen=True)
class DbtCommand:
    argv: tuple[str, ...]
    returncode: int
    log: Path


@dataclass(frozen=True)
class DbtRun:
    """What one run of a project left: its target dir (artifacts) and the exit code of each dbt command.

    dbt exits 1 when a test fails or a model errors, which the fixture project does on purpose;
    exit code 2 (dbt itself crashed, bad project) is raised as ServiceUnavailable instead.
    """

    project_dir: Path
    target_dir: Path
    commands: tuple[DbtCommand, ...] = field(default_factory=tuple)


def _lock_digest() -> str:
    if not LOCK_FILE.exists():
        raise ServiceUnavailable(f"{LOCK_FILE} is missing; regenerate it (see requirements-dbt.in)")
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _uv() -> str | None:
    local = PROJECT_ROOT / ".venv" / "bin" / "uv"
    if local.exists():
        return str(local)
    return shutil.which("uv")


def _run_install(argv: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=_INSTALL_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServiceUnavailable(f"building the dbt venv failed at `{' '.join(argv)}`: {exc}; log: {log}") from exc
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise ServiceUnavailable(
            f"building the dbt venv failed at `{' '.join(argv)}` (exit {proc.returncode}); last lines of {log}:\n{tail}"
        )


def ensure_dbt_venv() -> Path:
    """The dbt venv for the current lock file, built on first use. Returns the venv directory."""
    root = cache_dir("dbt-venv")
    venv = root / _lock_digest()
    dbt = venv / "bin" / "dbt"
    ready = venv / ".sentinel-ready"
    if ready.exists() and dbt.exists():
        return venv
    with _file_lock(root / ".lock"):
        if ready.exists() and dbt.exists():
            return venv
        if venv.exists():
            shutil.rmtree(venv)
        log = root / f"{venv.name}.install.log"
        log.write_text("")
        uv = _uv()
        if uv:
            _run_install([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], log)
            _run_install([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                          "-r", str(LOCK_FILE)], log)
        else:
            _run_install([sys.executable, "-m", "venv", str(venv)], log)
            _run_install([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(LOCK_FILE)], log)
        if not dbt.exists():
            raise ServiceUnavailable(f"dbt was installed into {venv} but {dbt} does not exist; log: {log}")
        _run_install([str(dbt), "--version"], log)
        ready.write_text(LOCK_FILE.name + "\n")
    return venv


def dbt_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for dbt: no anonymous usage tracking, no version check, no colour codes in logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update({
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "DBT_USE_COLORS": "false",
    })
    env.update(extra or {})
    return env


# Runs inside the dbt venv: every step through dbt's programmatic entry point (dbtRunner) in ONE process, so dbt is
# imported once and partial parsing carries over between steps (each `dbt` CLI start costs seconds).
_DRIVER = r"""
import json, pathlib, shutil, sys, traceback
from dbt.cli.main import dbtRunner
spec = json.loads(pathlib.Path(sys.argv[1]).read_text())
target = pathlib.Path(spec["target"])
out = []
for step in spec["steps"]:
    print("$ dbt " + " ".join(step["args"]), flush=True)
    try:
        res = dbtRunner().invoke(step["args"] + ["--project-dir", spec["project"], "--profiles-dir", spec["project"]])
        crash = None if res.exception is None else repr(res.exception)
        code = 0 if res.success else (1 if crash is None else 2)
    except BaseException:
        crash, code = traceback.format_exc(), 2
    if step.get("snapshot") and code < 2:
        dest = pathlib.Path(step["snapshot"])
        dest.mkdir(parents=True, exist_ok=True)
        for name in step["files"]:
            if (target / name).exists():
                shutil.copy2(target / name, dest / name)
    out.append({"args": step["args"], "code": code, "crash": crash})
    print(json.dumps(out[-1]), flush=True)
    if code >= 2:
        break
pathlib.Path(spec["result"]).write_text(json.dumps(out))
"""


@dataclass(frozen=True)
class DbtStep:
    """One dbt command; when `snapshot` is set, the artifacts it leaves in target/ are copied there afterwards."""

    args: tuple[str, ...]
    snapshot: Path | None = None
    files: tuple[str, ...] = ("run_results.json", "manifest.json", "sources.json")


def run_dbt_steps(venv: Path, project_dir: Path, steps: Sequence[DbtStep], *, log: Path,
                  env: Mapping[str, str] | None = None, timeout: float = _COMMAND_TIMEOUT) -> tuple[DbtCommand, ...]:
    """Run `steps` in `project_dir` (profiles.yml there too) in one dbt process.

    dbt's own outcome "some node failed" (exit 1) is a result; a crash (bad project, exception) raises."""
    spec_file, result_file = log.with_suffix(".steps.json"), log.with_suffix(".result.json")
    result_file.unlink(missing_ok=True)
    spec_file.write_text(json.dumps({
        "project": str(project_dir), "target": str(project_dir / "target"), "result": str(result_file),
        "steps": [{"args": list(st.args), "snapshot": str(st.snapshot) if st.snapshot else None,
                   "files": list(st.files)} for st in steps],
    }))
    argv = [str(venv / "bin" / "python"), "-c", _DRIVER, str(spec_file)]
    what = "; ".join("dbt " + " ".join(st.args) for st in steps)
    with log.open("a") as out:
        try:
            proc = subprocess.run(argv, cwd=project_dir, env=dbt_env(env), stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ServiceUnavailable(f"`{what}` did not finish in {timeout:.0f}s; log: {log}") from exc
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    if proc.returncode != 0 or not result_file.exists():
        raise ServiceUnavailable(f"the dbt driver exited with {proc.returncode} running `{what}`; last lines of {log}:\n{tail}")
    outcomes = json.loads(result_file.read_text())
    for outcome in outcomes:
        if outcome["code"] >= 2:
            raise ServiceUnavailable(f"`dbt {' '.join(outcome['args'])}` crashed: {outcome['crash']}; "
                                     f"last lines of {log}:\n{tail}")
    return tuple(DbtCommand(tuple(o["args"]), int(o["code"]), log) for o in outcomes)


def run_dbt_project(
    source_project: Path = FIXTURE_PROJECT,
    work_dir: Path | None = None,
    *,
    commands: Sequence[Sequence[str] | DbtStep] = DEFAULT_COMMANDS,
    variables: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = _COMMAND_TIMEOUT,
) -> DbtRun:
    """Copy a dbt project to `work_dir` (so the repo stays clean), run `commands` there and return the run.

    The DuckDB database file is <work_dir>/warehouse.duckdb (profiles.yml reads DBT_DUCKDB_PATH).
    `variables` become `--vars` on every plain command (e.g. {"daily_volume_bug": false} fixes the failing test);
    a DbtStep is run as given. Raises ServiceUnavailable when dbt cannot be installed or crashes.
    """
    venv = ensure_dbt_venv()
    work_dir = work_dir or cache_dir("dbt-runs", source_project.name)
    work_dir.mkdir(parents=True, exist_ok=True)
    project = work_dir / "project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(source_project, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
    (work_dir / "warehouse.duckdb").unlink(missing_ok=True)
    log = work_dir / "dbt.log"
    run_env = {"DBT_DUCKDB_PATH": str(work_dir / "warehouse.duckdb"), "DBT_LOG_PATH": str(work_dir / "logs"),
               **(env or {})}
    extra = ("--vars", json.dumps(dict(variables))) if variables else ()
    steps = [c if isinstance(c, DbtStep) else DbtStep((*c, *extra)) for c in commands]
    done = run_dbt_steps(venv, project, steps, log=log, env=run_env, timeout=timeout)
    target = project / "target"
    if not (target / "run_results.json").exists():
        raise ServiceUnavailable(f"dbt ran but left no {target / 'run_results.json'}; log: {log}")
    return DbtRun(project, target, done)
