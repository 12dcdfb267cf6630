"""The wheel as a team that only watches Kafka installs it: `sentinel-monitor[kafka]` in a fresh virtualenv, from the
wheel built from this checkout. The runbooks come with it, a Kafka check runs against the real broker, the heavy
extras (matplotlib, pyarrow, snowflake, duckdb) are absent, and using one of their features names the extra."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from devstack.kafka import KafkaService
from sentinel.clock import SystemClock
from tests.integration.kafka_util import commit, create_topic, live_consumer, produce, unique

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
UV = str(Path(sys.executable).parent / "uv")

CONFIG = """
checks:
  - id: s3_sink_lag
    kind: kafka_consumer_lag
    schedule: {{every: 1m}}
    timeout: 20s
    params:
      groups: [{group}]
      topics: ['{topic_regex}']
      lag_warn: 5m
      lag_critical: 15m
  - id: raw_transactions_arrival
    kind: s3_partition_arrival
    schedule: {{every: 5m}}
    timeout: 20s
    params:
      bucket: novapay-data-lake
      prefixes: [raw/payments/transactions/]
"""


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel from the unpacked sdist (uv's default): what a release would publish, and no
    # build/ folder is left in the checkout
    built = run([UV, "build", "--offline", "-q", "-o", str(out), str(ROOT)])
    assert built.returncode == 0, built.stderr
    [whl] = out.glob("*.whl")
    return whl


@pytest.fixture(scope="module")
def kafka_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    venv = tmp_path_factory.mktemp("venv-kafka") / "venv"
    made = run([UV, "venv", "-q", "--python", sys.executable, str(venv)])
    assert made.returncode == 0, made.stderr
    # offline: from uv's cache, filled by this checkout's own locked install (scripts/bootstrap)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    installed = run([UV, "pip", "install", "-q", "--offline", "--python", str(venv / "bin" / "python"),
                     f"sentinel-monitor[kafka] @ {wheel.as_uri()}"], env=env)
    assert installed.returncode == 0, installed.stderr
    yield venv


def installed_env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINEL_", "VIRTUAL_ENV", "PYTHONPATH"))}
    return {**env, "SENTINEL_CONFIG_FILE": str(tmp_path / "alert_rules.yaml"),
            "SENTINEL_STATE_PATH": str(tmp_path / "state.db"), "SENTINEL_SECRETS_DIR": str(tmp_path / "none"), **more}


def test_the_wheel_carries_the_runbooks_and_a_license(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).stem for n in names if n.startswith("sentinel/_runbooks/") and n.endswith(".md")}
    in_repo = {p.stem for p in (ROOT / "runbooks").glob("*.md")}
    assert shipped == in_repo
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for extra in ("kafka", "snowflake", "s3", "dbt", "looker", "report", "all"):
        assert f"Provides-Extra: {extra}\n" in metadata
    assert "Requires-Dist: matplotlib" in metadata and 'extra == "report"' in metadata


def test_kafka_extra_alone_runs_a_kafka_check_and_leaves_the_rest_out(kafka_venv: Path, kafka: KafkaService,
                                                                      tmp_path: Path) -> None:
    python, sentinel = str(kafka_venv / "bin" / "python"), str(kafka_venv / "bin" / "sentinel")
    absent = run([python, "-c", "import importlib.util as u; print([m for m in ('matplotlib', 'pyarrow', 'duckdb', "
                  "'snowflake', 'jinja2', 'looker_sdk', 'boto3') if u.find_spec(m) is None])"])
    assert absent.stdout.strip() == "['matplotlib', 'pyarrow', 'duckdb', 'snowflake', 'jinja2', 'looker_sdk', 'boto3']"

    # runbooks from the installed package, not from this checkout (cwd is elsewhere, no SENTINEL_RUNBOOKS_DIR)
    listed = run([sentinel, "runbook", "--list"], env=installed_env(tmp_path), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert str(kafka_venv) in listed.stdout and "kafka-consumer-lag" in listed.stdout and str(ROOT) not in listed.stdout

    topic = create_topic(kafka.bootstrap, "cdc.payments." + unique("wheel").replace(".", "_"), 1)
    group = unique("connect-s3-sink")
    produce(kafka.bootstrap, topic, 0, 10, written_at=SystemClock().now() - timedelta(minutes=20),
            step=timedelta(seconds=30))
    commit(kafka.bootstrap, group, {(topic, 0): 4})
    (tmp_path / "alert_rules.yaml").write_text(CONFIG.format(group=group, topic_regex=topic.replace(".", "\\.")))
    env = installed_env(tmp_path, SENTINEL_KAFKA_BOOTSTRAP=kafka.bootstrap)
    with live_consumer(kafka.bootstrap, group, topic, 1):
        lag = run([sentinel, "check", "--once", "--no-notify", "--only", "s3_sink_lag"], env=env, cwd=tmp_path)
    assert lag.returncode == 2, lag.stdout + lag.stderr  # 17 minutes behind: critical, measured by the installed code
    assert f"{group} on {topic}: lag 6 msgs" in lag.stdout

    # the S3 check needs the [s3] extra: an ERROR that says which extra to install, not a traceback
    lake = run([sentinel, "check", "--once", "--no-notify", "--only", "raw_transactions_arrival"], env=env,
               cwd=tmp_path)
    assert lake.returncode == 3, lake.stdout + lake.stderr
    assert "'boto3' is not installed" in lake.stdout and "pip install 'sentinel-monitor[s3]'" in lake.stdout
    assert "Traceback" not in lake.stdout + lake.stderr

    report = run([sentinel, "report", "weekly", "--out", str(tmp_path / "report.html")], env=env, cwd=tmp_path)
    assert report.returncode == 4 and "pip install 'sentinel-monitor[report]'" in report.stderr, report.stderr
