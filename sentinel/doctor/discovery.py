"""`sentinel doctor` for discovery (the pipeline_coverage check and `sentinel discover`): each read discovery makes
works with Sentinel's own identities. A read that fails is one line naming the grant that is missing: the Connect
REST call for connector configs, PostgreSQL's catalog, Kafka topic Describe, Snowflake's SHOW PIPES / SHOW STAGES
(MONITOR, USAGE), the dbt artifacts (S3 list and get) and Looker's dashboards and explores."""

from __future__ import annotations

import re
from collections.abc import Callable

from sentinel.discovery.model import HOP_TITLES, Observed, Unresolved
from sentinel.discovery.read import READ_ORDER, observe
from sentinel.doctor.needs import Need
from sentinel.doctor.report import DoctorLine
from sentinel.sources import Sources

ConfigAt = Callable[[Need], str]
TIMEOUT = 10.0

# What each read needs, where the grant is written down (deploy/grants/).
GRANTS = {
    "debezium": "let Sentinel's Kafka Connect user call GET /connectors?expand=info, the connector configs "
                "(deploy/grants/kafka-connect-rest.md); check SENTINEL_KAFKA_CONNECT_URL",
    "postgres": "GRANT CONNECT ON DATABASE <database> TO sentinel_monitor (deploy/grants/postgres.sql): discovery "
                "lists the source tables from pg_catalog",
    "kafka": "grant Sentinel's principal Describe on the CDC topics (deploy/grants/kafka-acls.sh); check "
             "SENTINEL_KAFKA_BOOTSTRAP",
    "snowpipe": "GRANT MONITOR ON PIPE <pipe> and USAGE ON STAGE <stage> TO ROLE SENTINEL_MONITOR "
                "(deploy/grants/snowflake.sql): SHOW PIPES and SHOW STAGES list only those",
    "dbt": "allow s3:ListBucket and s3:GetObject on the dbt artifacts prefix (deploy/grants/s3-iam-policy.json), "
           "or fix the location",
    "looker": "give the Looker API user see_lookml_dashboards and see_lookml on the dashboards' models "
              "(deploy/grants/looker-role.md)",
}
_STAGE = re.compile(r"its stage (\S+) is not visible")


def _grant_line(u: Unresolved) -> DoctorLine | None:
    """A hop discovery could read but not follow because of a grant (not because the pipeline ends there)."""
    stage = _STAGE.search(u.reason)
    if u.hop == "snowpipe" and stage:
        return DoctorLine("problem", "discovery Snowflake", f"pipe {u.subject}: its stage {stage.group(1)} is not "
                          "visible to Sentinel's role", f"GRANT USAGE ON STAGE {stage.group(1)} TO ROLE "
                          "SENTINEL_MONITOR (deploy/grants/snowflake.sql), or drop the pipe if the stage is gone")
    if u.hop == "looker" and ("HTTP 403" in u.reason or "HTTP 401" in u.reason):
        return DoctorLine("problem", "discovery Looker", f"{u.subject}: {u.reason.split(' (')[0]}", GRANTS["looker"])
    return None


def lines_for(obs: Observed, systems: tuple[str, ...], dbt_at: str) -> list[DoctorLine]:
    """Doctor lines from what discovery read (pure): one ok line per system read, one problem per failed read."""
    lines = []
    failed: dict[str, Unresolved] = {}
    for u in obs.unresolved:
        if u.hop in obs.unread:
            failed.setdefault(u.hop, u)  # the read's own failure comes first
    for hop, said in zip(READ_ORDER, systems, strict=True):
        if hop not in failed:
            lines.append(DoctorLine("ok", "discovery", said))
            continue
        u = failed[hop]
        fix = GRANTS[hop] if hop != "dbt" or "location" not in u.reason else f"set dbt_location at {dbt_at}"
        lines.append(DoctorLine("problem", f"discovery {HOP_TITLES[hop]}", f"cannot read {u.subject}: {u.reason}",
                                fix))
    if "snowpipe" not in obs.unread and not obs.pipes:
        lines.append(DoctorLine("warning", "discovery Snowflake", "SHOW PIPES lists no pipe with an S3 stage: the "
                                "lake -> Snowflake hop cannot be followed", GRANTS["snowpipe"]))
    lines += [line for u in obs.unresolved if u.hop not in obs.unread for line in [_grant_line(u)] if line]
    return lines


def probe(sources: Sources, needs: list[Need], config_at: ConfigAt) -> list[DoctorLine]:
    lines: list[DoctorLine] = []
    try:
        for need in {n.value: n for n in needs}.values():  # one discovery per dbt location
            obs, systems = observe(sources, dbt_location=need.value or None, timeout=TIMEOUT)
            lines += lines_for(obs, systems, config_at(need))
    finally:
        if needs and sources.settings.kafka_bootstrap:  # destroyed here, never by a collector on librdkafka's threads
            sources.kafka().close()
    return lines
