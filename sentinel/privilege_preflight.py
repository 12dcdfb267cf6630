"""Before the daemon schedules anything: refuse to start when a connection the checks use is privileged and not
marked allow_privileged. Each check would be refused anyway; failing at start says it once, with the GRANTs,
instead of a "check broken" alert per check some minutes later."""

from __future__ import annotations

from datetime import timedelta

from sentinel.config.loader import LoadedConfig
from sentinel.errors import SourceError
from sentinel.privileges import postgres_grants_fix, snowflake_grants_fix
from sentinel.sources import Sources

TIMEOUT = timedelta(seconds=10)


def refusals(sources: Sources, config: LoadedConfig) -> list[str]:
    """One message (reason and fix) per refused connection. An unreachable one is not refused here: the checks
    report it, and the daemon must start while a database is down."""
    from sentinel.doctor.needs import collect

    needs = collect(config)
    out: list[str] = []
    for name in sorted(needs.postgres):
        try:
            source = sources.postgres(name)
            identity = source.identity(TIMEOUT)
        except SourceError:
            continue
        if identity.privileged and not source.allow_privileged:
            out.append(f"refusing PostgreSQL connection {name!r} ({source.where}): {identity.describe()} "
                       f"{'; '.join(identity.excessive)}\n  fix: {postgres_grants_fix(source.where.rsplit('/', 1)[-1])}")
    if needs.snowflake and not sources.connections.snowflake.allow_privileged:
        try:
            with sources.snowflake(timeout=TIMEOUT.total_seconds()) as sf:
                identity = sf.identity()
        except SourceError:
            return out
        if identity.privileged:
            out.append(f"refusing Snowflake connection ({sf.where}): {identity.describe()} "
                       f"{'; '.join(identity.excessive)}\n  fix: {snowflake_grants_fix()}")
    return out
