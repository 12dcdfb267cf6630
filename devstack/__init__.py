"""Local stand-ins for NovaPay's production systems, started by the project's own scripts.

Used by the pytest session fixtures (tests/plugins/*) and by `scripts/demo` (the README's first command).
Each module starts one real component on 127.0.0.1 with free ports and data under the cache directory:
postgres (Debian PostgreSQL), kafka (Apache Kafka KRaft + Connect from Maven Central jars), s3 (moto server),
snowflake (fakesnow server), dbt (dbt-core + dbt-duckdb in its own virtualenv), smtp (aiosmtpd).
A component that cannot start raises ServiceUnavailable with the reason; tests turn that into a failure, never a skip.
"""
