-- Sentinel's Snowflake role: read the monitored tables, see load history and pipe status; own nothing.
-- Run as SECURITYADMIN (roles, grants) once; replace NOVAPAY / RAW / ANALYTICS / MONITORING_WH with yours.
-- Then SENTINEL_SNOWFLAKE_ROLE=SENTINEL_MONITOR. `sentinel doctor` and every Snowflake session refuse
-- ACCOUNTADMIN, SECURITYADMIN, SYSADMIN, ORGADMIN and USERADMIN, and any role that owns a table or view in the
-- session's database (INFORMATION_SCHEMA.TABLES.TABLE_OWNER; ownership allows DROP), unless
-- connections.snowflake.allow_privileged.
--
-- What each check runs (see tests/unit/test_snowflake_sql_contract.py and
-- tests/integration/test_snowflake_sql_recorded.py for the exact statements):
--   snowpipe_load_history  SELECT ... FROM TABLE(<db>.INFORMATION_SCHEMA.COPY_HISTORY(TABLE_NAME => ..., START_TIME => ...))
--                          SELECT SYSTEM$PIPE_STATUS('<db>.<schema>.<pipe>')
--   warehouse_freshness    SELECT MAX(<column>) FROM <db>.<schema>.<table>
--   row_reconciliation     per-bucket COUNT / SUM / HASH_AGG over key, time and version columns
--   volume_anomaly         SELECT FLOOR(DATE_PART(EPOCH_SECOND, <ts>) / 3600), COUNT(*) ... GROUP BY 1 over one table
--   schema_drift           SELECT ... FROM <db>.INFORMATION_SCHEMA.COLUMNS (shows only tables the role can access)
--   sentinel discover      SHOW PIPES IN ACCOUNT (lists pipes the role has MONITOR on: each pipe's COPY INTO) and
--   pipeline_coverage      SHOW STAGES IN ACCOUNT (lists stages the role has USAGE on: each stage's URL)
--
-- COPY_HISTORY returns rows only for tables the role has a privilege on (SELECT is enough, per Snowflake's
-- COPY_HISTORY docs: "Returns results only for ... tables ... the role has access to"); SYSTEM$PIPE_STATUS needs
-- OWNERSHIP or MONITOR on the pipe (MONITOR here: ownership would allow DROP PIPE).

USE ROLE SECURITYADMIN;
CREATE ROLE IF NOT EXISTS SENTINEL_MONITOR COMMENT = 'Sentinel monitoring agent: read-only';

GRANT USAGE ON WAREHOUSE MONITORING_WH TO ROLE SENTINEL_MONITOR;          -- an x-small warehouse of its own
GRANT USAGE ON DATABASE NOVAPAY TO ROLE SENTINEL_MONITOR;
GRANT USAGE ON SCHEMA NOVAPAY.RAW TO ROLE SENTINEL_MONITOR;
GRANT USAGE ON SCHEMA NOVAPAY.ANALYTICS TO ROLE SENTINEL_MONITOR;

-- Raw tables loaded by Snowpipe (COPY_HISTORY, reconciliation) and the analytics models (freshness).
GRANT SELECT ON ALL TABLES IN SCHEMA NOVAPAY.RAW TO ROLE SENTINEL_MONITOR;
GRANT SELECT ON FUTURE TABLES IN SCHEMA NOVAPAY.RAW TO ROLE SENTINEL_MONITOR;
GRANT SELECT ON ALL TABLES IN SCHEMA NOVAPAY.ANALYTICS TO ROLE SENTINEL_MONITOR;
GRANT SELECT ON ALL VIEWS IN SCHEMA NOVAPAY.ANALYTICS TO ROLE SENTINEL_MONITOR;
GRANT SELECT ON FUTURE TABLES IN SCHEMA NOVAPAY.ANALYTICS TO ROLE SENTINEL_MONITOR;

-- SYSTEM$PIPE_STATUS, one line per pipe Sentinel watches.
GRANT MONITOR ON PIPE NOVAPAY.RAW.TRANSACTIONS_PIPE TO ROLE SENTINEL_MONITOR;
GRANT MONITOR ON PIPE NOVAPAY.RAW.REFUNDS_PIPE TO ROLE SENTINEL_MONITOR;
GRANT MONITOR ON PIPE NOVAPAY.RAW.MERCHANTS_PIPE TO ROLE SENTINEL_MONITOR;
GRANT MONITOR ON PIPE NOVAPAY.RAW.API_KEYS_PIPE TO ROLE SENTINEL_MONITOR;

-- SHOW STAGES, for discovery: the external stage the pipes read (its URL). USAGE on an external stage also lets the
-- role list and read its files (read-only, like the S3 policy); leave it out and discovery reports the hop unresolved.
GRANT USAGE ON STAGE NOVAPAY.RAW.LAKE_STAGE TO ROLE SENTINEL_MONITOR;

GRANT ROLE SENTINEL_MONITOR TO USER SENTINEL_SVC;
ALTER USER SENTINEL_SVC SET DEFAULT_ROLE = SENTINEL_MONITOR DEFAULT_WAREHOUSE = MONITORING_WH;
-- Sentinel also sets STATEMENT_TIMEOUT_IN_SECONDS and QUERY_TAG = 'sentinel:<check id>' on its sessions; a
-- resource monitor on MONITORING_WH caps what a runaway query can cost.
