"""Thin clients for the systems Sentinel watches, each with timeouts on every remote call.

`Sources` is what a check sees as `ctx.sources`: one typed factory method per system. Driver modules are
imported lazily inside each method so `sentinel --help` and checks that do not need a driver stay fast.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from sentinel.config.connections_spec import ConnectionsSpec
from sentinel.config.settings import Settings
from sentinel.errors import SourceError
from sentinel.extras import require

if TYPE_CHECKING:
    from sentinel.sources.dbt_artifacts import DbtArtifactsSource
    from sentinel.sources.duckdb import DuckDBSource
    from sentinel.sources.kafka import KafkaSource
    from sentinel.sources.kafka_connect import KafkaConnectSource
    from sentinel.sources.looker import LookerSource
    from sentinel.sources.postgres import PostgresSource
    from sentinel.sources.s3 import S3Source
    from sentinel.sources.snowflake import SnowflakeSource


class Sources:
    def __init__(self, settings: Settings, connections: ConnectionsSpec | None = None) -> None:
        self.settings = settings
        # Which connections alert_rules.yaml allows to be privileged; none unless it says so.
        self.connections = connections or ConnectionsSpec()
        self.check_id: str | None = None
        # Shared by every per-check view (for_check) so long-lived clients are made once per process.
        self._cache: dict[str, Any] = {}

    def for_check(self, check_id: str) -> Sources:
        """This Sources as seen by one check: the same settings and clients, statements tagged with its id."""
        view = copy.copy(self)
        view.check_id = check_id
        return view

    @property
    def query_tag(self) -> str:
        """Snowflake QUERY_TAG: which check sent a statement, for the query history and for resource monitors."""
        return f"sentinel:{self.check_id}" if self.check_id else "sentinel"

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
        return PostgresSource(name, dsn, allow_privileged=self.connections.postgres_allows_privileged(name))

    def duckdb(self, path: str) -> DuckDBSource:
        """A DuckDB database file, opened read-only, statements interrupted at their deadline."""
        require("dbt")
        from sentinel.sources.duckdb import DuckDBSource

        return DuckDBSource(path)

    def s3(self) -> S3Source:
        """S3 client: standard retry mode, connect/read timeouts; endpoint override for local stand-ins."""
        require("s3")
        from sentinel.sources.s3 import S3Source

        st = self.settings
        return S3Source(
            region=st.aws_region,
            endpoint_url=st.aws_endpoint_url,
            access_key_id=st.aws_access_key_id,
            secret_access_key=st.aws_secret_access_key,
            connect_timeout=st.aws_connect_timeout_seconds,
            read_timeout=st.aws_read_timeout_seconds,
        )

    def snowflake(self, *, timeout: float | None = None) -> SnowflakeSource:
        """A Snowflake session (opened on first query); `timeout` caps login, network and each statement."""
        require("snowflake")
        from sentinel.sources.snowflake import SnowflakeConnectionSettings, SnowflakeSource, SnowpipeRelations

        st = self.settings
        if not st.snowflake_account or not st.snowflake_user:
            raise SourceError(
                "Snowflake is not configured (account and user are required)",
                hint="set SENTINEL_SNOWFLAKE_ACCOUNT, SENTINEL_SNOWFLAKE_USER and a password or private key secret",
            )
        limit = max(1.0, timeout) if timeout is not None else 60.0
        settings = SnowflakeConnectionSettings(
            account=st.snowflake_account,
            user=st.snowflake_user,
            password=st.snowflake_password,
            private_key_file=st.snowflake_private_key_file,
            private_key_passphrase=st.snowflake_private_key_passphrase,
            role=st.snowflake_role,
            warehouse=st.snowflake_warehouse,
            database=st.snowflake_database,
            schema=st.snowflake_schema,
            host=st.snowflake_host,
            port=st.snowflake_port,
            protocol=st.snowflake_protocol,
            login_timeout=min(limit, 20.0),
            network_timeout=limit,
            statement_timeout=limit,
            query_tag=self.query_tag,
        )
        relations = SnowpipeRelations(copy_history=st.snowflake_copy_history_relation,
                                      pipe_status=st.snowflake_pipe_status_relation,
                                      show_pipes=st.snowflake_show_pipes_relation)
        return SnowflakeSource(settings, relations=relations,
                               allow_privileged=self.connections.snowflake.allow_privileged)

    def kafka(self) -> KafkaSource:
        """The Kafka cluster client (admin + a probe consumer); one per Sources, reused across runs."""
        require("kafka")
        from sentinel.sources.kafka import KafkaSource

        cached = self._cache.get("kafka")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        st = self.settings
        if not st.kafka_bootstrap:
            raise SourceError("Kafka is not configured", hint="set SENTINEL_KAFKA_BOOTSTRAP (host:port[,host:port])")
        source = KafkaSource(
            st.kafka_bootstrap,
            security_protocol=st.kafka_security_protocol,
            sasl_mechanism=st.kafka_sasl_mechanism,
            sasl_username=st.kafka_sasl_username,
            sasl_password=st.kafka_sasl_password,
        )
        self._cache["kafka"] = source
        return source

    def kafka_connect(self) -> KafkaConnectSource:
        """The Kafka Connect REST client (basic auth when a username is set)."""
        from sentinel.sources.kafka_connect import KafkaConnectSource

        st = self.settings
        if not st.kafka_connect_url:
            raise SourceError("Kafka Connect is not configured", hint="set SENTINEL_KAFKA_CONNECT_URL (http://host:8083)")
        return KafkaConnectSource(st.kafka_connect_url, username=st.kafka_connect_username,
                                  password=st.kafka_connect_password)

    def looker(self) -> LookerSource:
        """The Looker API client, kept across runs so its session (token) is reused, as a person's browser would."""
        require("looker")
        from sentinel.sources.looker import PERMISSIONS_HINT, LookerSource

        st = self.settings
        if not st.looker_base_url or st.looker_client_id is None or st.looker_client_secret is None:
            raise SourceError("Looker is not configured", hint="set SENTINEL_LOOKER_BASE_URL, SENTINEL_LOOKER_CLIENT_ID "
                              f"and SENTINEL_LOOKER_CLIENT_SECRET; {PERMISSIONS_HINT}")
        cached = self._cache.get("looker")
        if cached is None:
            cached = LookerSource(st.looker_base_url, st.looker_client_id, st.looker_client_secret,
                                  verify_ssl=st.looker_verify_ssl)
            self._cache["looker"] = cached
        source: LookerSource = cached
        return source

    def dbt_artifacts(self, location: str) -> DbtArtifactsSource:
        """dbt's run_results/manifest/sources JSON from a directory or s3://bucket/prefix/ (newest run)."""
        if location.startswith("s3://"):
            require("dbt")
        from sentinel.sources.dbt_artifacts import DbtArtifactsSource

        return DbtArtifactsSource(location, settings=self.settings)
