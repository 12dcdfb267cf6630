"""The SLA tables of SqlStateStore (the SlaStore protocol): the observation ledger and the report send log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sentinel.sla import ObsState, SlaObservation
from sentinel.store.sla import ReportLogEntry, SentMessage
from sentinel.store.sql import StoreTables, parse_ts, parse_ts_fast, sql, ts

_OBS_COLUMNS = "sla_id, observed_at, state, value, check_id, summary"
_OBS_ADD = sql(f"INSERT INTO sla_observations ({_OBS_COLUMNS})"
               " VALUES (:sla_id, :observed_at, :state, :value, :check_id, :summary)")
_OBS_BETWEEN = sql(f"SELECT {_OBS_COLUMNS} FROM sla_observations"
                   " WHERE sla_id = :sla_id AND observed_at >= :start AND observed_at < :end ORDER BY observed_at")
_OBS_BEFORE = sql(f"SELECT {_OBS_COLUMNS} FROM sla_observations"
                  " WHERE sla_id = :sla_id AND observed_at < :moment ORDER BY observed_at DESC LIMIT 1")

_REPORT_STATUS = sql("SELECT status FROM sla_reports WHERE week = :week")
_REPORT_CLAIM = sql(
    "INSERT INTO sla_reports (week, status, claimed_at, sent_at, recipients, detail)"
    " VALUES (:week, 'sending', :at, NULL, :recipients, '') ON CONFLICT (week) DO UPDATE SET status = 'sending',"
    " claimed_at = excluded.claimed_at, recipients = excluded.recipients, detail = ''")
# The first send time stays: a deliberate re-send is appended to `detail`, it does not rewrite history.
_REPORT_SENT = sql("UPDATE sla_reports SET status = :status, sent_at = COALESCE(sent_at, :at), detail = :detail"
                   " WHERE week = :week")
_REPORT_MARK = sql("UPDATE sla_reports SET status = :status, detail = :detail WHERE week = :week")
_REPORT_LOG = "SELECT week, status, claimed_at, sent_at, recipients, detail FROM sla_reports"
_REPORT_LOG_ALL = sql(_REPORT_LOG + " ORDER BY week")
_REPORT_LOG_WEEK = sql(_REPORT_LOG + " WHERE week = :week")

_MESSAGES = sql("SELECT seq, receiver, event, status, created_at, payload FROM outbox"
                " WHERE created_at >= :start AND created_at < :end ORDER BY seq")
_STATUS_COUNTS = sql("SELECT check_id, status, COUNT(*) FROM check_results WHERE observed_at >= :start"
                     " AND observed_at < :end GROUP BY check_id, status")


def _observation(row: tuple[Any, ...]) -> SlaObservation:
    sla_id, at, state, value, check_id, summary = row
    return SlaObservation(sla_id, parse_ts_fast(at), ObsState(state), None if value is None else float(value),
                          check_id, summary)


class SlaTables(StoreTables):
    # -- observations -------------------------------------------------------------------------------------
    def sla_observations_add(self, observations: Sequence[SlaObservation]) -> None:
        if not observations:
            return
        with self._tx(None) as conn:
            conn.executemany(_OBS_ADD, (
                {"sla_id": o.sla_id, "observed_at": ts(o.observed_at), "state": o.state.value, "value": o.value,
                 "check_id": o.check_id, "summary": o.summary} for o in observations))

    def sla_observations(self, sla_id: str, start: datetime, end: datetime) -> list[SlaObservation]:
        rows = self._query(_OBS_BETWEEN, {"sla_id": sla_id, "start": ts(start), "end": ts(end)})
        return [_observation(r) for r in rows]

    def sla_observation_before(self, sla_id: str, moment: datetime) -> SlaObservation | None:
        rows = self._query(_OBS_BEFORE, {"sla_id": sla_id, "moment": ts(moment)})
        return _observation(rows[0]) if rows else None

    # -- report send log ----------------------------------------------------------------------------------
    def report_claim(self, week: str, at: datetime, recipients: str) -> bool:
        with self._tx(None) as conn:
            row = conn.execute(_REPORT_STATUS, {"week": week}).fetchone()
            if row is not None and row[0] != "failed":
                return False  # sent, or a send was started (maybe it went out before a crash): never twice
            conn.execute(_REPORT_CLAIM, {"week": week, "at": ts(at), "recipients": recipients})
            return True

    def report_mark(self, week: str, status: str, at: datetime, detail: str = "") -> None:
        with self._tx(None) as conn:
            params = {"status": status, "detail": detail[:500], "week": week}
            if status == "sent":
                conn.execute(_REPORT_SENT, {**params, "at": ts(at)})
            else:
                conn.execute(_REPORT_MARK, params)

    def report_log(self, week: str | None = None) -> list[ReportLogEntry]:
        rows = self._query(_REPORT_LOG_WEEK, {"week": week}) if week else self._query(_REPORT_LOG_ALL)
        return [ReportLogEntry(w, s, parse_ts(c), parse_ts(t) if t else None, r, d) for w, s, c, t, r, d in rows]

    # -- alert history (read-only view of the alerting helper's outbox) -------------------------------------
    def messages_between(self, start: datetime, end: datetime) -> list[SentMessage]:
        rows = self._query(_MESSAGES, {"start": ts(start), "end": ts(end)})
        return [SentMessage(int(seq), rcv, ev, st, parse_ts(at), json.loads(p)) for seq, rcv, ev, st, at, p in rows]

    def result_status_counts(self, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
        """check_id -> status -> number of results in [start, end) (the report's noisiest checks)."""
        out: dict[str, dict[str, int]] = {}
        for check_id, status, n in self._query(_STATUS_COUNTS, {"start": ts(start), "end": ts(end)}):
            out.setdefault(check_id, {})[status] = int(n)
        return out
