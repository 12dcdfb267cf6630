"""Thin clients for the systems Sentinel watches, each with timeouts on every remote call.

`Sources` is what a check sees as `ctx.sources`: one typed factory method per system. Driver modules are
imported lazily inside each method so `sentinel --help` and checks that do not need a driver stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel.config.settings import Settings
from sentinel.errors import SourceError

if TYPE_CHECKING:
    from sentinel.sources.postgres import PostgresSource


class Sources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def postgres(self, name: str = "default") -> PostgresSource:
        from sentinel.sources.postgres import PostgresSource

        dsn = self.settings.postgres_dsn if name == "default" else self.settings.postgres_dsns.get(name)
        if dsn is None:
            known = ["default"] if self.settings.postgres_dsn else []
            known += sorted(self.settings.postgres_dsns)
            env = "SENTINEL_POSTGRES_DSN" if name == "default" else "SENTINEL_POSTGRES_DSNS"
            raise SourceError(
                f"no PostgreSQL connection named {name!r} (configured: {', '.join(known) or 'none'})",
                hint=f"set {env}",
            )
        return PostgresSource(name, dsn)
