"""SIGKILL of a real `sentinel run` at random points while alerts fire and resolve (docs/reliability.md): no alert
is lost and none reaches a person twice. Slack gets one top-level post per alert (at most one duplicate), the
pager gets every alert (Opsgenie collapses a resend by its alias), and every alert resolves in the end.

The kill points are drawn from a seeded generator; the seed is in every failure message, so a failing run can be
replayed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.base import free_port
from devstack.postgres import PostgresService
from tests.e2e.daemon_util import SENTINEL, base_env
from tests.plugins.alerting import OPSGENIE_KEY, SLACK_TOKEN, AlertingFakes

pytestmark = pytest.mark.e2e

CHECKS = 4
CONFIG = "checks:\n" + "".join(f"""  - id: level_{i}
    kind: sql_threshold
    schedule: {{every: 1s}}
    labels: {{table: payments.transactions, stage: postgres, part: "{i}"}}
    params: {{query: "SELECT level FROM levels WHERE id = {i}", value_name: backlog_rows, warning: 50, critical: 100}}
""" for i in range(CHECKS)) + """routes:
  - {name: team, receivers: [slack], group_by: [part], group_wait: 0s, group_interval: 1s}
  - {name: oncall, receivers: [pager], min_severity: critical, group_by: [part], group_wait: 0s, group_interval: 1s}
"""


@pytest.fixture(scope="module")
def admin_and_monitor_dsn(postgres: PostgresService) -> tuple[str, str]:
    import psycopg

    dsn = postgres.create_database("sigkill_e2e")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS levels")
        conn.execute("CREATE TABLE levels AS SELECT id, 0 AS level FROM generate_series(0, %s) AS id" % (CHECKS - 1))
    return dsn, postgres.monitor_dsn("sigkill_e2e", ["public.levels"])


class KilledDaemons:
    """Starts `sentinel run` and SIGKILLs it after a drawn delay, any point from start-up to a send in flight."""

    def __init__(self, env: dict[str, str], work: Path, rng: random.Random) -> None:
        self.env, self.work, self.rng = env, work, rng
        self.kills: list[float] = []
        self.current: subprocess.Popen[str] | None = None
        self.logs = work / "daemon.log"

    def start(self) -> subprocess.Popen[str]:
        port = free_port()
        with self.logs.open("a") as log:
            self.current = subprocess.Popen([SENTINEL, "-v", "run", "--http-port", str(port), "--http-host",
                                             "127.0.0.1"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            text=True, cwd=str(self.work))
        return self.current

    def run_then_kill(self) -> None:
        delay = self.rng.uniform(0.3, 6.0)
        proc = self.start()
        time.sleep(delay)
        assert proc.poll() is None, f"the daemon exited by itself ({proc.returncode})\n{self.tail()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.kills.append(round(delay, 2))

    def stop(self) -> None:
        if self.current is not None and self.current.poll() is None:
            self.current.send_signal(signal.SIGTERM)
            try:
                self.current.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.current.kill()
                self.current.wait(timeout=5)

    def tail(self) -> str:
        return self.logs.read_text(errors="replace")[-4000:] if self.logs.exists() else ""


@pytest.fixture
def daemons(tmp_path: Path, admin_and_monitor_dsn: tuple[str, str], alerting_fakes: AlertingFakes
            ) -> Iterator[KilledDaemons]:
    (tmp_path / "alert_rules.yaml").write_text(CONFIG)
    env = base_env(tmp_path, SENTINEL_POSTGRES_DSN=admin_and_monitor_dsn[1], SENTINEL_SLACK_TOKEN=SLACK_TOKEN,
                   SENTINEL_SLACK_BASE_URL=alerting_fakes.slack.base_url, SENTINEL_PAGER_BACKEND="opsgenie",
                   SENTINEL_OPSGENIE_API_KEY=OPSGENIE_KEY, SENTINEL_OPSGENIE_BASE_URL=alerting_fakes.opsgenie.base_url)
    seed = int(os.environ.get("SENTINEL_TEST_SEED", str(random.SystemRandom().randrange(10**6))))
    killed = KilledDaemons(env, tmp_path, random.Random(seed))
    killed.seed = seed  # type: ignore[attr-defined]
    yield killed
    killed.stop()


def _set_level(dsn: str, check: int, level: int) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE levels SET level = %s WHERE id = %s", (level, check))


def _posts_about(fakes: AlertingFakes, check: int) -> int:
    return sum(f"level_{check}" in post.text + str(post.blocks) for post in fakes.slack.posts)


def test_sigkill_at_random_points_loses_no_alert_and_sends_none_twice(daemons: KilledDaemons,
                                                                      admin_and_monitor_dsn: tuple[str, str],
                                                                      alerting_fakes: AlertingFakes) -> None:
    admin_dsn = admin_and_monitor_dsn[0]
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    seed = daemons.seed  # type: ignore[attr-defined]

    def wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            assert time.monotonic() < deadline, f"{what} within {seconds:g}s ({why()})"
            time.sleep(0.5)

    def why() -> str:
        return f"seed {seed}, kills after {daemons.kills} s\n{daemons.tail()}"

    # Each alert starts firing while daemons come and go, each killed at a random point.
    for check in range(CHECKS):
        _set_level(admin_dsn, check, 500)
        daemons.run_then_kill()
        daemons.run_then_kill()
    daemons.start()
    wait_for(lambda: len(genie.open_aliases) == CHECKS and all(_posts_about(alerting_fakes, c) for c in range(CHECKS)),
             90, "not every alert reached the pager and Slack")
    daemons.stop()

    # Then each resolves, again with kills in between.
    for check in range(CHECKS):
        _set_level(admin_dsn, check, 0)
        daemons.run_then_kill()
    daemons.start()
    wait_for(lambda: not genie.open_aliases, 90, "not every alert was resolved on the pager")
    wait_for(lambda: all("RESOLVED" in m.blocks[0]["text"]["text"] for m in slack.messages.values()), 60,
             "a Slack post was left unresolved")
    daemons.stop()

    posts = {check: _posts_about(alerting_fakes, check) for check in range(CHECKS)}
    assert all(1 <= n <= 2 for n in posts.values()), f"top-level Slack posts per alert {posts} ({why()})"
    creates: dict[str, int] = {}
    for action, body in genie.requests:
        if action == "create":
            creates[body["alias"]] = creates.get(body["alias"], 0) + 1
    assert len(genie.alerts) == CHECKS, f"pages {sorted(genie.alerts)} ({why()})"  # one per alert, by alias
    assert all(a.status == "closed" for a in genie.alerts.values())
    print(f"seed {seed}: kills after {daemons.kills} s; Slack posts per alert {posts}; pager creates per alias "
          f"{sorted(creates.values())}")
