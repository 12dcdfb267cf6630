"""`sentinel doctor` for S3, Kafka, Kafka Connect, dbt artifacts and Snowflake: each object the checks name exists
and Sentinel's identity may read it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sentinel.doctor.needs import Need
from sentinel.doctor.report import DoctorLine
from sentinel.durations import format_duration
from sentinel.errors import SourceError
from sentinel.sources import Sources
from sentinel.sources.snowflake import SnowflakeSource

ConfigAt = Callable[[Need], str]
TIMEOUT = 10.0


def probe_s3(sources: Sources, needs: list[Need], config_at: ConfigAt) -> list[DoctorLine]:
    if not needs:
        return []
    s3 = sources.s3()
    lines = []
    failed: set[str] = set()  # a bucket-wide failure (no bucket, no credentials) is said once, not per prefix
    for need in needs:
        bucket, _, prefix = need.value.partition("/")
        component = f"s3 {bucket}"
        if bucket in failed:
            continue
        try:
            found = s3.list_prefixes(bucket, prefix, timeout=TIMEOUT) or [
                o.key for o in s3.list_objects(bucket, prefix, timeout=TIMEOUT)[:1]]
        except SourceError as exc:
            fix = exc.hint.format(bucket=bucket) if exc.hint else ""
            if "NoSuchBucket" in str(exc):
                bucket_line = replace(need, loc=(*need.loc[:-2], "bucket"))  # loc was ...prefixes[i]
                fix = f"fix the bucket at {config_at(bucket_line)} (or SENTINEL_AWS_REGION)"
            elif "AccessDenied" in str(exc):
                fix = f"allow s3:ListBucket on arn:aws:s3:::{bucket} for prefix {prefix}* (deploy/grants/s3-iam-policy.json)"
            lines.append(DoctorLine("problem", component, str(exc).split(" (hint:")[0], fix))
            if "AccessDenied" not in str(exc):
                failed.add(bucket)
            continue
        if found:
            lines.append(DoctorLine("ok", component, f"{prefix} is listable ({len(found)} partition(s) or files)"))
        else:
            lines.append(DoctorLine("warning", component, f"nothing under {prefix} ({need.check_id})",
                                    f"check the prefix at {config_at(need)} and that the S3 sink writes there"))
    return lines


def probe_kafka(sources: Sources, needs: list[Need], config_at: ConfigAt) -> list[DoctorLine]:
    """The broker answers; every topic and consumer group a lag check names is visible to Sentinel's identity.
    A group or topic the ACLs hide looks the same as one that does not exist, so the fix names both."""
    if not needs:
        return []
    component = f"kafka {sources.settings.kafka_bootstrap or '(no SENTINEL_KAFKA_BOOTSTRAP)'}"
    try:
        kafka = sources.kafka()
        topics = kafka.topics(TIMEOUT)
        groups = kafka.groups(TIMEOUT)
    except SourceError as exc:
        return [DoctorLine("problem", component, str(exc).split(" (hint:")[0],
                           exc.hint or "check SENTINEL_KAFKA_BOOTSTRAP and that the broker is reachable")]
    lines = [DoctorLine("ok", component, f"broker answers: {len(topics)} topic(s), {len(groups)} consumer group(s)")]
    for need in needs:
        known = list(topics) if need.what == "topic" else groups
        if any(_matches(need.value, name) for name in known):
            continue
        noun = "topic" if need.what == "topic" else "consumer group"
        close = difflib.get_close_matches(need.value, known, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        acl = "Describe on the topic" if need.what == "topic" else "Describe on the group"
        lines.append(DoctorLine("problem", component, f"no {noun} matches {need.value!r} ({need.check_id}){hint}",
                                f"fix the name at {config_at(need)}, or grant {acl} (deploy/grants/kafka-acls.sh)"))
    return lines


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.fullmatch(pattern, name) is not None
    except re.error:
        return pattern == name


def probe_connect(sources: Sources, needs: list[Need], config_at: ConfigAt) -> list[DoctorLine]:
    if not needs:
        return []
    component = "kafka-connect"
    try:
        connect = sources.kafka_connect()
        version = connect.version(TIMEOUT).get("version", "?")
        states = connect.statuses(TIMEOUT)
    except SourceError as exc:
        return [DoctorLine("problem", component, str(exc).split(" (hint:")[0],
                           exc.hint or "check SENTINEL_KAFKA_CONNECT_URL")]
    lines = [DoctorLine("ok", component, f"worker {connect.url} answers (Connect {version}); "
                                         f"{len(states)} connector(s)")]
    for need in needs:
        if need.value and not any(re.fullmatch(need.value, name) for name in states):
            lines.append(DoctorLine("problem", component, f"no connector matches {need.value!r} ({need.check_id}); "
                                    f"present: {', '.join(sorted(states)) or 'none'}",
                                    f"fix the connector name at {config_at(need)}"))
    return lines


def probe_dbt(sources: Sources, needs: list[Need], config_at: ConfigAt, now: datetime) -> list[DoctorLine]:
    lines = []
    for need in needs:
        component = f"dbt {need.value}"
        try:
            artifacts = sources.dbt_artifacts(need.value).load(timeout=TIMEOUT)
        except SourceError as exc:
            lines.append(DoctorLine("problem", component, str(exc).split(" (hint:")[0],
                                    exc.hint or f"fix the location at {config_at(need)}"))
            continue
        _, newest, _ = artifacts.newest()
        age = format_duration(now - newest)
        lines.append(DoctorLine("ok", component, f"newest run {artifacts.run_folder}, generated {age} ago"))
    return lines


def probe_snowflake(sources: Sources, needs: list[Need], config_at: ConfigAt) -> list[DoctorLine]:
    if not needs:
        return []
    component = "snowflake"
    try:
        with sources.snowflake(timeout=TIMEOUT) as sf:
            identity = sf.identity()
            lines = [DoctorLine("ok", component, f"connected to {sf.where} as {identity.describe()}")]
            if identity.privileged:
                lines.append(_privileged(sources, identity.excessive))
                return lines  # the objects are not looked at as an identity Sentinel will not use
            seen: set[tuple[str, str]] = set()
            for need in needs:
                if (need.what, need.value.upper()) not in seen:
                    seen.add((need.what, need.value.upper()))
                    lines.append(_snowflake_object(sf, identity.role, need, config_at))
            return lines
    except SourceError as exc:
        return [DoctorLine("problem", component, str(exc).split(" (hint:")[0], exc.hint)]


def _privileged(sources: Sources, excessive: tuple[str, ...]) -> DoctorLine:
    reasons = "; ".join(excessive)
    if sources.connections.snowflake.allow_privileged:
        return DoctorLine("warning", "snowflake", f"privileged but allowed: {reasons}",
                          "use the role of deploy/grants/snowflake.sql and drop allow_privileged")
    return DoctorLine("refused", "snowflake", f"Sentinel will not run as this identity: {reasons}",
                      "run deploy/grants/snowflake.sql and set SENTINEL_SNOWFLAKE_ROLE=SENTINEL_MONITOR")


def _snowflake_object(sf: SnowflakeSource, role: str, need: Need, config_at: ConfigAt) -> DoctorLine:
    """A table: a zero-row SELECT (exists and readable). A pipe: SYSTEM$PIPE_STATUS (exists and MONITOR granted).
    Snowflake answers both "missing" and "not granted" with 2003, so the fix names both."""
    name = need.value.upper()
    try:
        if need.what == "pipe":
            status = sf.snowpipe().pipe_status(name, timeout=TIMEOUT)
            return DoctorLine("ok", "snowflake", f"pipe {name} is {status.execution_state}")
        sf.query("SELECT COUNT(*) AS N FROM IDENTIFIER(%(t)s) WHERE 1 = 0", {"t": name}, timeout=TIMEOUT)
        return DoctorLine("ok", "snowflake", f"{role} can SELECT {name}")
    except SourceError as exc:
        grant = (f"GRANT MONITOR ON PIPE {name} TO ROLE {role};" if need.what == "pipe"
                 else f"GRANT SELECT ON TABLE {name} TO ROLE {role};")
        return DoctorLine("problem", "snowflake", f"{need.what} {name} ({need.check_id}): "
                          f"{str(exc).split(' (hint:')[0]}", f"{grant} or fix the name at {config_at(need)}")
