"""Demo area "dbt": a real dbt run (dbt-core 1.11 + dbt-duckdb, the fixture project) with ONE failing test, its
artifacts uploaded to S3 as the production dbt job does, so `sentinel check --once` shows the dbt_results alert
with its owner, the compiled SQL to run and the dashboard it threatens:

- assert_daily_volume_reconciles fails (fct_daily_volume drops late-arriving transactions): critical, owner
  finance-analytics@novapay.example, feeds "Executive Dashboard";
- not_null_fct_transactions_merchant_id warns (2 rows, severity warn);
- everything else builds and passes; the run is fresh, so "dbt stopped running" stays OK.

    seed_dbt(s3, work_dir, now=None) -> env     runs dbt, uploads target/ to s3://novapay-dbt-artifacts/prod/<run>/
    seed(stack)                                 devstack.demo entry: starts (or reuses) "s3", seeds, exports env
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.dbt import FIXTURE_PROJECT, DbtStep, run_dbt_project
from devstack.s3 import S3Service, start_s3

BUCKET = "novapay-dbt-artifacts"
PREFIX = "prod/"
# Only the reconciliation bug stays in: one failing test (and the seeded warning), nothing skipped.
DEMO_VARS = '{"daily_volume_bug": true, "merchant_scores_bug": false, "dim_merchants_bug": false}'
ARTIFACTS = ("run_results.json", "manifest.json")


def seed_dbt(s3: S3Service, work_dir: Path, now: datetime | None = None, *, bucket: str = BUCKET,
             prefix: str = PREFIX) -> dict[str, str]:
    """Run the fixture project once and upload its artifacts; returns the SENTINEL_* env for the S3 endpoint.

    Raises devstack.base.ServiceUnavailable if the dbt venv cannot be built or dbt crashes."""
    run = run_dbt_project(FIXTURE_PROJECT, work_dir, commands=[
        DbtStep(("seed", "--vars", DEMO_VARS)),
        DbtStep(("build", "--vars", DEMO_VARS)),
    ])
    client = s3.client()
    if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=bucket)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H-%M-%SZ")
    for name in ARTIFACTS:
        client.put_object(Bucket=bucket, Key=f"{prefix}{stamp}/{name}", Body=(run.target_dir / name).read_bytes())
    return s3.env()


def seed(stack: Any) -> None:
    """devstack.demo entry point: start (or reuse) "s3" in the DemoStack, run dbt, export its env."""
    s3: S3Service = stack.start("s3", lambda: start_s3(in_process=True))
    env = seed_dbt(s3, stack.work / "dbt")
    for key, value in env.items():
        stack.env.setdefault(key, value)
