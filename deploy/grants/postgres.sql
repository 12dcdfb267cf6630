-- Sentinel's PostgreSQL role: enough to monitor, nothing that can change the database.
--
-- Run as an admin (RDS: the master user) once in every monitored database. Idempotent:
--
--   psql "$ADMIN_DSN" -v ON_ERROR_STOP=1 \
--        -v password="$SENTINEL_MONITOR_PASSWORD" \
--        -v schemas=payments,users \
--        -v tables=payments.transactions,payments.refunds,users.merchants,users.api_keys \
--        -f deploy/grants/postgres.sql
--
-- then SENTINEL_POSTGRES_DSN=postgresql://sentinel_monitor:<password>@<host>:5432/<db>?sslmode=verify-full
--
-- What each check needs:
--   postgres_replication_slot  pg_replication_slots, pg_current_wal_lsn()           -> pg_monitor
--   sql_threshold              whatever its SELECT reads                             -> SELECT on those tables/views
--   warehouse_freshness (pg)   SELECT max(<column>) FROM <table>                     -> SELECT on the table
--   row_reconciliation         per-bucket counts and hashes of key/time/version cols -> SELECT on the reconciled tables
-- `sentinel doctor` checks this role has these and nothing more; the integration tests run every check as it.
--
-- Not granted, on purpose (Sentinel refuses to run as a role that has them, unless allow_privileged):
-- SUPERUSER, REPLICATION (could drop the Debezium slot), BYPASSRLS, CREATEROLE, pg_signal_backend (kill sessions),
-- pg_execute_server_program / pg_write_server_files / pg_read_server_files (shell and files), pg_write_all_data.
-- users.api_keys holds secrets: if you reconcile it, prefer column grants, e.g.
--   GRANT SELECT (id, created_at, updated_at) ON users.api_keys TO sentinel_monitor;

SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sentinel_monitor') AS sentinel_role_missing \gset
\if :sentinel_role_missing
CREATE ROLE sentinel_monitor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
\endif
\if :{?password}
ALTER ROLE sentinel_monitor PASSWORD :'password';
\endif

-- Belt and braces: even a statement that got past Sentinel's SQL check runs read-only and is cut short.
ALTER ROLE sentinel_monitor SET default_transaction_read_only = on;
ALTER ROLE sentinel_monitor SET statement_timeout = '60s';
ALTER ROLE sentinel_monitor SET lock_timeout = '5s';
ALTER ROLE sentinel_monitor CONNECTION LIMIT 20;

-- Replication slots, WAL positions and pg_stat_* (pg_monitor = pg_read_all_settings + pg_read_all_stats
-- + pg_stat_scan_tables; RDS has it too).
GRANT pg_monitor TO sentinel_monitor;

GRANT CONNECT ON DATABASE :"DBNAME" TO sentinel_monitor;
\if :{?schemas}
GRANT USAGE ON SCHEMA :schemas TO sentinel_monitor;
\endif
\if :{?tables}
GRANT SELECT ON :tables TO sentinel_monitor;
\endif
