"""Real dbt artifacts: the fixture project (tests/fixtures/dbt_project) run by dbt-core 1.11 + dbt-duckdb, once per session.

`dbt_runs` holds four consecutive runs of the same project, each target/ copied to its own folder:
  broken        dbt seed + dbt build + dbt source freshness: 2 failing tests, 1 warning test, 1 failed model,
                1 skipped model, 1 source freshness error, 1 warn
  still_broken  dbt test --select fct_daily_volume          (partial run: assert_daily_volume_reconciles fails again)
  third         dbt test --select fct_daily_volume          (and a third time)
  fixed         dbt build --select fct_daily_volume --vars '{daily_volume_bug: false}'  (the test passes)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class DbtRuns:
    broken: Path
    still_broken: Path
    third: Path
    fixed: Path
    project_dir: Path

    @property
    def in_order(self) -> list[Path]:
        return [self.broken, self.still_broken, self.third, self.fixed]


@pytest.fixture(scope="session")
def dbt_runs(tmp_path_factory: pytest.TempPathFactory) -> DbtRuns:
    from devstack.dbt import FIXTURE_PROJECT, DbtStep, run_dbt_project
    from tests.plugins import start_or_fail

    work = tmp_path_factory.mktemp("dbt")
    runs = work / "runs"
    no_sources = ("run_results.json", "manifest.json")
    steps = [
        DbtStep(("seed",)),
        DbtStep(("build",)),
        DbtStep(("source", "freshness"), snapshot=runs / "1-broken"),
        DbtStep(("test", "--select", "fct_daily_volume"), snapshot=runs / "2-still-broken", files=no_sources),
        DbtStep(("test", "--select", "fct_daily_volume"), snapshot=runs / "3-third", files=no_sources),
        DbtStep(("build", "--select", "fct_daily_volume", "--vars", '{"daily_volume_bug": false}'),
                snapshot=runs / "4-fixed", files=no_sources),
    ]
    run = start_or_fail("dbt (running the fixture project)",
                        lambda: run_dbt_project(FIXTURE_PROJECT, work / "work", commands=steps))
    return DbtRuns(runs / "1-broken", runs / "2-still-broken", runs / "3-third", runs / "4-fixed", run.project_dir)
