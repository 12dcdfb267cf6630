"""Pipeline discovery: the lineage as the systems themselves describe it.

    read.py        reads Kafka Connect, PostgreSQL, Snowflake (SHOW PIPES/STAGES), the dbt manifest and Looker
                   through the checks' own sources; every failure becomes an unresolved hop with its reason
    connectors.py  Debezium and S3 sink connector configs -> captured tables, topics and lake prefixes (pure)
    stitch.py      joins the hops into one lineage per table (pure)
    render.py      the per-table, per-hop text and JSON
    coverage.py    discovered vs configured lineage -> findings (pure); the pipeline_coverage check reports them
    write.py       `--write`: adds what is missing to alert_rules.yaml, round-trip, never rewriting a person's lines
"""
