"""SqliteStateStore's alerting tables (mixed into SqliteStateStore). Portable SQL with `?` placeholders;
ids come from MAX(seq)+1 inside the write transaction rather than engine-specific autoincrement."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sentinel.alerting.types import AlertState, Delivery, DeliveryStatus, Silence
from sentinel.store.alerts import OutboxRow, PendingEntry, iter_chunks


def ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class SqliteAlertsMixin:
    """Needs `transaction()` (a context manager yielding a connection) and `query(sql, params)`."""

    def transaction(self) -> AbstractContextManager[Any]:  # provided by the store class
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    @contextmanager
    def _tx(self, tx: Any) -> Iterator[Any]:
        if tx is not None:
            yield tx
        else:
            with self.transaction() as conn:
                yield conn

    # -- alert states ---------------------------------------------------------------------------------------
    def alert_states(self, fingerprints: Sequence[str] | None = None, *, active_only: bool = False,
                     check_id: str | None = None) -> dict[str, AlertState]:
        where, params = [], []
        if active_only:
            where.append("phase IN ('pending', 'firing')")
        if check_id is not None:
            where.append("check_id = ?")
            params.append(check_id)
        rows: list[tuple[Any, ...]] = []
        base = "SELECT payload FROM alert_state" + (" WHERE " + " AND ".join(where) if where else "")
        if fingerprints is None:
            rows = self.query(base, tuple(params))
        else:
            for chunk in iter_chunks(list(fingerprints)):
                marks = ",".join("?" * len(chunk))
                sql = base + (" AND " if where else " WHERE ") + f"fingerprint IN ({marks})"
                rows.extend(self.query(sql, (*params, *chunk)))
        out = {}
        for (payload,) in rows:
            state = AlertState.from_json(json.loads(payload))
            out[state.fingerprint] = state
        return out

    def alert_states_save(self, states: Sequence[AlertState], at: datetime, tx: Any = None) -> None:
        with self._tx(tx) as conn:
            conn.executemany(
                "INSERT INTO alert_state (fingerprint, rule_id, check_id, phase, severity, updated_at, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET phase = excluded.phase,"
                " severity = excluded.severity, updated_at = excluded.updated_at, payload = excluded.payload",
                [(s.fingerprint, s.rule_id, s.check_id, s.phase.value, s.severity.value, ts(at),
                  json.dumps(s.to_json())) for s in states],
            )

    def alert_states_prune(self, resolved_before: datetime, tx: Any = None) -> int:
        with self._tx(tx) as conn:
            cur = conn.execute("DELETE FROM alert_state WHERE phase IN ('resolved', 'inactive') AND updated_at < ?",
                               (ts(resolved_before),))
            return int(cur.rowcount)

    # -- group buffer ---------------------------------------------------------------------------------------
    def pending_add(self, route: str, group_key: str, fingerprint: str, event: str, event_at: datetime,
                    payload: dict[str, Any], tx: Any = None) -> None:
        with self._tx(tx) as conn:
            conn.execute(
                "INSERT INTO alert_pending (seq, route, group_key, fingerprint, event, event_at, payload)"
                " VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM alert_pending), ?, ?, ?, ?, ?, ?)",
                (route, group_key, fingerprint, event, ts(event_at), json.dumps(payload)),
            )

    def pending_groups(self) -> list[tuple[str, str, datetime]]:
        rows = self.query("SELECT route, group_key, MIN(event_at) FROM alert_pending GROUP BY route, group_key"
                          " ORDER BY MIN(seq)")
        return [(r, g, parse_ts(at)) for r, g, at in rows]

    def pending_take(self, route: str, group_key: str, tx: Any) -> list[PendingEntry]:
        rows = tx.execute(
            "SELECT seq, route, group_key, fingerprint, event, event_at, payload FROM alert_pending"
            " WHERE route = ? AND group_key = ? ORDER BY seq", (route, group_key)).fetchall()
        tx.execute("DELETE FROM alert_pending WHERE route = ? AND group_key = ?", (route, group_key))
        return [PendingEntry(seq, r, g, fp, ev, parse_ts(at), json.loads(p)) for seq, r, g, fp, ev, at, p in rows]

    def group_flushed_at(self, route: str, group_key: str) -> datetime | None:
        rows = self.query("SELECT last_flushed_at FROM alert_groups WHERE route = ? AND group_key = ?",
                          (route, group_key))
        return parse_ts(rows[0][0]) if rows else None

    def group_mark_flushed(self, route: str, group_key: str, at: datetime, tx: Any) -> None:
        tx.execute(
            "INSERT INTO alert_groups (route, group_key, last_flushed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (route, group_key) DO UPDATE SET last_flushed_at = excluded.last_flushed_at",
            (route, group_key, ts(at)),
        )

    # -- threads --------------------------------------------------------------------------------------------
    def thread_of(self, route: str, fingerprint: str) -> str | None:
        rows = self.query("SELECT thread_key FROM alert_threads WHERE route = ? AND fingerprint = ?",
                          (route, fingerprint))
        return str(rows[0][0]) if rows else None

    def thread_set(self, route: str, fingerprint: str, thread_key: str, at: datetime, tx: Any = None) -> None:
        with self._tx(tx) as conn:
            conn.execute(
                "INSERT INTO alert_threads (route, fingerprint, thread_key, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (route, fingerprint) DO UPDATE SET thread_key = excluded.thread_key,"
                " created_at = excluded.created_at",
                (route, fingerprint, thread_key, ts(at)),
            )

    def threads_set(self, route: str, fingerprints: Sequence[str], thread_key: str, at: datetime,
                    tx: Any = None) -> None:
        with self._tx(tx) as conn:
            conn.executemany(
                "INSERT INTO alert_threads (route, fingerprint, thread_key, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (route, fingerprint) DO UPDATE SET thread_key = excluded.thread_key,"
                " created_at = excluded.created_at",
                [(route, fp, thread_key, ts(at)) for fp in fingerprints],
            )

    def threads_of(self, route: str, fingerprints: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in iter_chunks(list(fingerprints)):
            marks = ",".join("?" * len(chunk))
            rows = self.query(f"SELECT fingerprint, thread_key FROM alert_threads WHERE route = ? AND fingerprint IN ({marks})",
                              (route, *chunk))
            out.update({str(fp): str(t) for fp, t in rows})
        return out

    def threads_forget(self, fingerprints: Sequence[str], tx: Any = None) -> None:
        if not fingerprints:
            return
        with self._tx(tx) as conn:
            for chunk in iter_chunks(list(fingerprints)):
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM alert_threads WHERE fingerprint IN ({marks})", tuple(chunk))

    def thread_members(self, route: str, thread_key: str) -> list[str]:
        rows = self.query("SELECT fingerprint FROM alert_threads WHERE route = ? AND thread_key = ? ORDER BY created_at",
                          (route, thread_key))
        return [str(r[0]) for r in rows]

    # -- outbox -------------------------------------------------------------------------------------------
    def outbox_add(self, receiver: str, message_key: str, dedup_id: str, event: str, payload: dict[str, Any],
                   at: datetime, tx: Any = None) -> bool:
        """False when a message with this dedup id was already queued (dedup against the delivery log)."""
        with self._tx(tx) as conn:
            seen = conn.execute("SELECT 1 FROM outbox WHERE dedup_id = ?", (dedup_id,)).fetchone()
            if seen:
                return False
            conn.execute(
                "INSERT INTO outbox (seq, receiver, message_key, dedup_id, event, created_at, next_attempt_at,"
                " attempts, status, last_error, payload)"
                " VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox), ?, ?, ?, ?, ?, ?, 0, 'pending', '', ?)",
                (receiver, message_key, dedup_id, event, ts(at), ts(at), json.dumps(payload)),
            )
            return True

    _OUTBOX_COLUMNS = ("seq, receiver, message_key, event, created_at, next_attempt_at, attempts, status, last_error,"
                       " payload")

    @staticmethod
    def _outbox_row(row: tuple[Any, ...]) -> OutboxRow:
        seq, receiver, key, event, created, next_at, attempts, status, error, payload = row
        return OutboxRow(int(seq), receiver, key, event, parse_ts(created), parse_ts(next_at), int(attempts), status,
                         error, json.loads(payload))

    def outbox_pending(self, receiver: str | None = None) -> list[OutboxRow]:
        if receiver is None:
            rows = self.query(f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' ORDER BY seq")
        else:
            rows = self.query(f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' AND receiver = ?"
                              " ORDER BY seq", (receiver,))
        return [self._outbox_row(r) for r in rows]

    def outbox_pending_count(self) -> int:
        return int(self.query("SELECT count(*) FROM outbox WHERE status = 'pending'")[0][0])

    def firing_count(self) -> int:
        return int(self.query("SELECT count(*) FROM alert_state WHERE phase = 'firing'")[0][0])

    def outbox_rows(self, limit: int = 100) -> list[OutboxRow]:
        rows = self.query(f"SELECT {self._OUTBOX_COLUMNS} FROM outbox ORDER BY seq DESC LIMIT ?", (limit,))
        return [self._outbox_row(r) for r in rows]

    def outbox_update(self, seq: int, *, status: str, attempts: int, next_attempt_at: datetime, last_error: str,
                      tx: Any = None) -> None:
        with self._tx(tx) as conn:
            conn.execute("UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?"
                         " WHERE seq = ?", (status, attempts, ts(next_attempt_at), last_error, seq))

    def outbox_prune(self, older_than: datetime, tx: Any = None) -> int:
        with self._tx(tx) as conn:
            cur = conn.execute("DELETE FROM outbox WHERE status <> 'pending' AND created_at < ?", (ts(older_than),))
            return int(cur.rowcount)

    # -- deliveries and receiver references -----------------------------------------------------------------
    def delivery_add(self, delivery: Delivery, tx: Any = None) -> None:
        with self._tx(tx) as conn:
            conn.execute(
                "INSERT INTO deliveries (outbox_seq, receiver, message_key, event, status, attempt, at, latency_ms,"
                " error, remote_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (delivery.outbox_id, delivery.receiver, delivery.message_key, delivery.event, delivery.status.value,
                 delivery.attempt, ts(delivery.at), delivery.latency.total_seconds() * 1000.0, delivery.error,
                 delivery.remote_ref),
            )

    def deliveries_between(self, start: datetime, end: datetime) -> list[Delivery]:
        rows = self.query(
            "SELECT outbox_seq, receiver, message_key, event, status, attempt, at, latency_ms, error, remote_ref"
            " FROM deliveries WHERE at >= ? AND at < ? ORDER BY at", (ts(start), ts(end)))
        return [
            Delivery(int(seq), rcv, key, ev, DeliveryStatus(st), int(att), parse_ts(at),
                     timedelta(milliseconds=float(lat)), err, ref)
            for seq, rcv, key, ev, st, att, at, lat, err, ref in rows
        ]

    def ref_get(self, receiver: str, message_key: str) -> str | None:
        rows = self.query("SELECT ref FROM receiver_refs WHERE receiver = ? AND message_key = ?",
                          (receiver, message_key))
        return str(rows[0][0]) if rows else None

    def ref_set(self, receiver: str, message_key: str, ref: str, at: datetime, tx: Any = None) -> None:
        with self._tx(tx) as conn:
            conn.execute(
                "INSERT INTO receiver_refs (receiver, message_key, ref, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (receiver, message_key) DO UPDATE SET ref = excluded.ref,"
                " updated_at = excluded.updated_at",
                (receiver, message_key, ref, ts(at)),
            )

    # -- silences -------------------------------------------------------------------------------------------
    def silence_add(self, silence: Silence) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (silence.id, json.dumps(dict(silence.matchers), sort_keys=True), ts(silence.starts_at),
                 ts(silence.ends_at), silence.created_by, silence.comment, ts(silence.created_at or silence.starts_at)),
            )

    def silences(self, *, include_expired: bool = False, now: datetime | None = None) -> list[Silence]:
        sql = "SELECT id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at FROM silences"
        params: tuple[Any, ...] = ()
        if not include_expired and now is not None:
            sql += " WHERE ends_at > ? AND expired_at IS NULL"
            params = (ts(now),)
        rows = self.query(sql + " ORDER BY starts_at", params)
        return [
            Silence(sid, json.loads(m), parse_ts(s), parse_ts(e), by, comment, parse_ts(created),
                    parse_ts(expired) if expired else None)
            for sid, m, s, e, by, comment, created, expired in rows
        ]

    def silence_expire(self, silence_id: str, at: datetime) -> bool:
        with self.transaction() as conn:
            cur = conn.execute("UPDATE silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL",
                               (ts(at), silence_id))
            return bool(cur.rowcount)
