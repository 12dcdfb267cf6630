"""`sentinel doctor`: a first-day preflight against the real systems, before the first page.

For every connection and receiver the config uses: it connects, says who it is, whether its privileges are
sufficient and not excessive, whether each object the checks name exists (slots, tables, queries, connectors,
bucket prefixes, Kafka topics and consumer groups, dbt artifacts), whether discovery (pipeline_coverage) can read
each system it derives the lineage from, and whether alerts can reach Slack, the pager and SMTP, without sending
anything.
Every problem is one line with its fix: the GRANT, the config line or the setting.
"""

from __future__ import annotations

from datetime import datetime

from sentinel.config.loader import LoadedConfig, line_of
from sentinel.config.settings import Settings
from sentinel.doctor.needs import Need, collect
from sentinel.doctor.report import DoctorLine
from sentinel.errors import SourceError
from sentinel.sources import Sources


def run_doctor(settings: Settings, config: LoadedConfig, now: datetime) -> list[DoctorLine]:
    from sentinel.doctor import discovery, looker, postgres, receivers, reconcile, systems

    needs = collect(config)
    sources = Sources(settings, config.spec.connections)

    def config_at(need: Need) -> str:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in need.loc).lstrip(".")
        line = line_of(config.path, need.loc)
        return f"{config.path}:{line} ({path})" if line else f"{config.path} ({path})"

    lines: list[DoctorLine] = []
    for name, wanted in sorted(needs.postgres.items()):
        try:
            source = sources.postgres(name)
        except SourceError as exc:  # an unknown connection name: the message says which are configured
            lines.append(DoctorLine("problem", f"postgres {name}", str(exc).split(" (hint:")[0], exc.hint))
            continue
        lines += postgres.probe(source, wanted, config_at)
    lines += systems.probe_snowflake(sources, needs.snowflake, config_at)
    lines += systems.probe_s3(sources, needs.s3, config_at)
    lines += systems.probe_kafka(sources, needs.kafka, config_at)
    lines += systems.probe_connect(sources, needs.connectors, config_at)
    lines += systems.probe_dbt(sources, needs.dbt, config_at, now)
    lines += looker.probe(sources, needs.looker, config_at)
    lines += discovery.probe(sources, needs.discovery, config_at)
    lines += reconcile.probe_reconciliation(sources, config, config_at)
    routed = {r for route in config.spec.routes for r in route.receivers}
    lines += receivers.probe_slack(settings, "slack" in routed)
    lines += receivers.probe_pager(settings, "pager" in routed)
    report = config.spec.report
    lines += receivers.probe_smtp(settings, bool(report.to) and report.transport == "smtp")
    return lines
