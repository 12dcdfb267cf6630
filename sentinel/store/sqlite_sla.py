"""SqliteStateStore's SLA tables (mixed into SqliteStateStore): the observation ledger and the report send log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sentinel.sla import ObsState, SlaObservation
from sentinel.store.sla import ReportLogEntry, SentMessage
from sentinel.store.sqlite_alerts import parse_ts, ts


def _fast_ts(value: str) -> datetime:
    """parse_ts for the hot path (burn rates read hours of observations on every result)."""
    return datetime.fromisoformat(value)


class SqliteSlaMixin:
    """Needs `transaction()` and `query(sql, params)` from the store class."""

    def transaction(self) -> AbstractContextManager[Any]:  # provided by the store class
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # -- observations -------------------------------------------------------------------------------------
    def sla_observations_add(self, observations: Sequence[SlaObservation]) -> None:
        if not observations:
            return
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO sla_observations (sla_id, observed_at, state, value, check_id, summary)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(o.sla_id, ts(o.observed_at), o.state.value, o.value, o.check_id, o.summary) for o in observations],
            )

    @staticmethod
    def _observation(row: tuple[Any, ...]) -> SlaObservation:
        sla_id, at, state, value, check_id, summary = row
        return SlaObservation(sla_id, _fast_ts(at), ObsState(state), None if value is None else float(value),
                              check_id, summary)

    def sla_observations(self, sla_id: str, start: datetime, end: datetime) -> list[SlaObservation]:
        rows = self.query(
            "SELECT sla_id, observed_at, state, value, check_id, summary FROM sla_observations"
            " WHERE sla_id = ? AND observed_at >= ? AND observed_at < ? ORDER BY observed_at",
            (sla_id, ts(start), ts(end)))
        return [self._observation(r) for r in rows]

    def sla_observation_before(self, sla_id: str, moment: datetime) -> SlaObservation | None:
        rows = self.query(
            "SELECT sla_id, observed_at, state, value, check_id, summary FROM sla_observations"
            " WHERE sla_id = ? AND observed_at < ? ORDER BY observed_at DESC LIMIT 1", (sla_id, ts(moment)))
        return self._observation(rows[0]) if rows else None

    # -- report send log ----------------------------------------------------------------------------------
    def report_claim(self, week: str, at: datetime, recipients: str) -> bool:
        with self.transaction() as conn:
            row = conn.execute("SELECT status FROM sla_reports WHERE week = ?", (week,)).fetchone()
            if row is not None and row[0] != "failed":
                return False  # sent, or a send was started (maybe it went out before a crash): never twice
            conn.execute(
                "INSERT INTO sla_reports (week, status, claimed_at, sent_at, recipients, detail)"
                " VALUES (?, 'sending', ?, NULL, ?, '') ON CONFLICT (week) DO UPDATE SET status = 'sending',"
                " claimed_at = excluded.claimed_at, recipients = excluded.recipients, detail = ''",
                (week, ts(at), recipients))
            return True

    def report_mark(self, week: str, status: str, at: datetime, detail: str = "") -> None:
        with self.transaction() as conn:
            if status == "sent":
                # The first send time stays: a deliberate re-send is appended to `detail`, it does not rewrite history.
                conn.execute("UPDATE sla_reports SET status = ?, sent_at = COALESCE(sent_at, ?), detail = ?"
                             " WHERE week = ?",
                             (status, ts(at), detail[:500], week))
            else:
                conn.execute("UPDATE sla_reports SET status = ?, detail = ? WHERE week = ?",
                             (status, detail[:500], week))

    def report_log(self, week: str | None = None) -> list[ReportLogEntry]:
        sql = "SELECT week, status, claimed_at, sent_at, recipients, detail FROM sla_reports"
        rows = self.query(sql + " WHERE week = ?" if week else sql + " ORDER BY week", (week,) if week else ())
        return [ReportLogEntry(w, s, parse_ts(c), parse_ts(t) if t else None, r, d) for w, s, c, t, r, d in rows]

    # -- alert history (read-only view of the alerting helper's outbox) -------------------------------------
    def messages_between(self, start: datetime, end: datetime) -> list[SentMessage]:
        rows = self.query(
            "SELECT seq, receiver, event, status, created_at, payload FROM outbox"
            " WHERE created_at >= ? AND created_at < ? ORDER BY seq", (ts(start), ts(end)))
        return [SentMessage(int(seq), rcv, ev, st, parse_ts(at), json.loads(p)) for seq, rcv, ev, st, at, p in rows]

    def result_status_counts(self, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
        """check_id -> status -> number of results in [start, end) (the report's noisiest checks)."""
        rows = self.query("SELECT check_id, status, COUNT(*) FROM check_results WHERE observed_at >= ?"
                          " AND observed_at < ? GROUP BY check_id, status", (ts(start), ts(end)))
        out: dict[str, dict[str, int]] = {}
        for check_id, status, n in rows:
            out.setdefault(check_id, {})[status] = int(n)
        return out
