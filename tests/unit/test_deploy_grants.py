"""deploy/grants/ stays in step with what the code and the production config actually touch."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRANTS = ROOT / "deploy" / "grants"


def production_checks() -> list[dict[str, object]]:
    return list(yaml.safe_load((ROOT / "alert_rules.yaml").read_text())["checks"])


def test_the_iam_policy_lists_exactly_the_watched_prefixes_and_the_dbt_artifacts() -> None:
    policy = json.loads((GRANTS / "s3-iam-policy.json").read_text())
    statements = {s["Sid"]: s for s in policy["Statement"]}
    listed = statements["ListWatchedLakePrefixes"]
    allowed = listed["Condition"]["StringLike"]["s3:prefix"]
    for check in production_checks():
        if check["kind"] == "s3_partition_arrival":
            params = check["params"]
            assert isinstance(params, dict)
            assert listed["Resource"] == f"arn:aws:s3:::{params['bucket']}"
            for prefix in params["prefixes"]:
                assert any(fnmatch.fnmatch(prefix + "dt=2026-01-01/", p) for p in allowed), prefix
        if check["kind"] == "dbt_results":
            params = check["params"]
            assert isinstance(params, dict)
            bucket, _, prefix = str(params["location"]).removeprefix("s3://").partition("/")
            assert statements["ListDbtArtifacts"]["Resource"] == f"arn:aws:s3:::{bucket}"
            reads = statements["ReadDbtArtifacts"]["Resource"]
            assert any(fnmatch.fnmatch(f"{bucket}/{prefix}2026-01-01T00:00/run_results.json", r.split(":::")[1])
                       for r in reads)
    # nothing that writes or deletes in S3
    actions = [a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if a.startswith("s3:") and a not in ("s3:ListBucket", "s3:GetObject")]


def test_every_connect_rest_call_in_the_code_is_documented_and_a_get() -> None:
    code = (ROOT / "sentinel" / "sources" / "kafka_connect.py").read_text()
    paths = set(re.findall(r'_get\(f?"(/[^"?]*)', code))
    assert paths  # the source still calls _get with literal paths
    doc = (GRANTS / "kafka-connect-rest.md").read_text()
    for path in paths:
        documented = path.replace("{quote(name, safe='')}", "{name}")
        assert f"`GET {documented}" in doc, path
    assert ".post(" not in code and ".put(" not in code and ".delete(" not in code


def test_the_postgres_grants_give_no_dangerous_privilege() -> None:
    sql = (GRANTS / "postgres.sql").read_text()
    statements = [line for line in sql.splitlines() if line and not line.startswith("--")]
    grants = " ".join(statements)
    for danger in ("SUPERUSER ", " REPLICATION", "BYPASSRLS ", "pg_signal_backend", "pg_execute_server_program",
                   "pg_write_server_files", "pg_read_server_files", "pg_write_all_data", "INSERT", "UPDATE", "DELETE"):
        assert danger not in grants.replace("NOSUPERUSER", "").replace("NOREPLICATION", "").replace("NOBYPASSRLS", "")
    assert "GRANT pg_monitor TO sentinel_monitor;" in grants
