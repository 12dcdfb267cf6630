"""deploy/grants/s3-iam-policy.json on the moto S3 server with IAM enforced: the production s3_partition_arrival
check and the dbt artifact reads work as a user holding only that policy, and writing is denied.

moto evaluates actions and resource ARNs but not the `s3:prefix` condition, so the prefix restriction itself is
checked statically (tests/unit/test_deploy_grants.py) and by `sentinel doctor` against real AWS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import yaml
from pydantic import SecretStr
from sentinel_checks.s3_partition_arrival import S3PartitionArrivalCheck, S3PartitionArrivalParams

from devstack.s3 import S3Service
from sentinel.api import DictMemory, Status
from sentinel.clock import SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "deploy" / "grants" / "s3-iam-policy.json"


def production(kind: str) -> dict[str, Any]:
    checks = yaml.safe_load((ROOT / "alert_rules.yaml").read_text())["checks"]
    return dict(next(c for c in checks if c["kind"] == kind))


@pytest.fixture(scope="module")
def policy_user(s3_server: S3Service) -> Iterator[tuple[str, str]]:
    admin = s3_server.client()
    bucket = production("s3_partition_arrival")["params"]["bucket"]
    for name in (bucket, "novapay-dbt-artifacts"):
        admin.create_bucket(Bucket=name)
    admin.put_object(Bucket=bucket, Key="raw/payments/transactions/dt=2026-01-01/part-0.parquet", Body=b"x")
    admin.put_object(Bucket="novapay-dbt-artifacts", Key="prod/2026-01-01T00:15/run_results.json", Body=b"{}")
    admin.put_object(Bucket="novapay-dbt-artifacts", Key="prod/2026-01-01T00:15/secrets.env", Body=b"x")
    access_key, secret_key = s3_server.create_user_without_permissions("sentinel-policy-test")
    s3_server.iam_client().put_user_policy(UserName="sentinel-policy-test", PolicyName="sentinel",
                                           PolicyDocument=POLICY.read_text())
    with s3_server.enforce_iam():
        yield access_key, secret_key


def test_the_production_lake_check_runs_with_only_the_policy(s3_server: S3Service,
                                                             policy_user: tuple[str, str]) -> None:
    settings = Settings(aws_endpoint_url=s3_server.endpoint_url, aws_region=s3_server.region,
                        aws_access_key_id=SecretStr(policy_user[0]), aws_secret_access_key=SecretStr(policy_user[1]))
    runner = CheckRunner(Sources(settings), lambda _: DictMemory(), SystemClock(), Redactor.from_settings(settings))
    checks = yaml.safe_load((ROOT / "alert_rules.yaml").read_text())["checks"]
    for spec in [c for c in checks if c["kind"] == "s3_partition_arrival"]:  # every watched prefix of the lake
        check = S3PartitionArrivalCheck(S3PartitionArrivalParams.model_validate(spec["params"]))
        result = runner.run_one(PlannedCheck(CheckSpec(id=spec["id"], kind=spec["kind"],
                                                       timeout=timedelta(seconds=60)), check, "s3-partition-missing"))
        # partitions are missing in this lake: a judgement, not "could not run" (AccessDenied would be ERROR,
        # for the whole result or, since one prefix no longer blinds the others, for that prefix's finding)
        assert result.status is not Status.ERROR, result.summary
        assert not [f.summary for f in result.findings if f.status is Status.ERROR], spec["id"]
        assert "AccessDenied" not in result.summary


def test_dbt_artifacts_are_readable_and_nothing_else_or_writable(s3_server: S3Service,
                                                                 policy_user: tuple[str, str]) -> None:
    user = s3_server.client(access_key_id=policy_user[0], secret_access_key=policy_user[1])
    assert user.get_object(Bucket="novapay-dbt-artifacts", Key="prod/2026-01-01T00:15/run_results.json")["Body"].read()
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        user.get_object(Bucket="novapay-dbt-artifacts", Key="prod/2026-01-01T00:15/secrets.env")
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        user.put_object(Bucket="novapay-data-lake", Key="raw/payments/transactions/dt=2026-01-01/evil", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        user.delete_object(Bucket="novapay-data-lake", Key="raw/payments/transactions/dt=2026-01-01/part-0.parquet")
