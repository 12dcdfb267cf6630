"""The alerting tables of SqlStateStore (the AlertStore protocol), written once for both engines.
Ids come from MAX(seq)+1 inside the write transaction rather than engine-specific autoincrement."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sentinel.alerting.types import AlertState, Delivery, DeliveryStatus, Silence
from sentinel.store.alerts import OutboxRow, PendingEntry, iter_chunks
from sentinel.store.sql import StoreTables, Tx, in_list, numbered, parse_ts, sql, ts, upsert

_STATES = sql("SELECT payload FROM alert_state")
_SAVE_STATE = upsert("alert_state", ("fingerprint",), ("phase", "severity", "updated_at", "payload"),
                     set_once=("rule_id", "check_id"))
_PRUNE_STATES = sql("DELETE FROM alert_state WHERE phase IN ('resolved', 'inactive') AND updated_at < :before")

_PENDING_ADD = sql(
    "INSERT INTO alert_pending (seq, route, group_key, fingerprint, event, event_at, payload)"
    " VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM alert_pending), :route, :group_key, :fingerprint, :event,"
    " :event_at, :payload)")
_PENDING_GROUPS = sql("SELECT route, group_key, MIN(event_at) FROM alert_pending GROUP BY route, group_key"
                      " ORDER BY MIN(seq)")
_PENDING_OF_GROUP = sql("SELECT seq, route, group_key, fingerprint, event, event_at, payload FROM alert_pending"
                        " WHERE route = :route AND group_key = :group_key ORDER BY seq")
_PENDING_DROP = sql("DELETE FROM alert_pending WHERE route = :route AND group_key = :group_key")
_GROUP_FLUSHED = sql("SELECT last_flushed_at FROM alert_groups WHERE route = :route AND group_key = :group_key")
_GROUP_MARK = upsert("alert_groups", ("route", "group_key"), ("last_flushed_at",))

_THREAD_OF = sql("SELECT thread_key FROM alert_threads WHERE route = :route AND fingerprint = :fingerprint")
_THREAD_SET = upsert("alert_threads", ("route", "fingerprint"), ("thread_key", "created_at"))
_THREAD_MEMBERS = sql("SELECT fingerprint FROM alert_threads WHERE route = :route AND thread_key = :thread_key"
                      " ORDER BY created_at")

_OUTBOX_SEEN = sql("SELECT 1 FROM outbox WHERE dedup_id = :dedup_id")
_OUTBOX_ADD = sql(
    "INSERT INTO outbox (seq, receiver, message_key, dedup_id, event, created_at, next_attempt_at, attempts, status,"
    " last_error, payload) VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox), :receiver, :message_key,"
    " :dedup_id, :event, :at, :at, 0, 'pending', '', :payload)")
_OUTBOX_SELECT = ("SELECT seq, receiver, message_key, event, created_at, next_attempt_at, attempts, status, last_error,"
                  " payload FROM outbox")
_OUTBOX_PENDING = sql(_OUTBOX_SELECT + " WHERE status = 'pending' ORDER BY seq")
_OUTBOX_PENDING_OF = sql(_OUTBOX_SELECT + " WHERE status = 'pending' AND receiver = :receiver ORDER BY seq")
_OUTBOX_NEWEST = sql(_OUTBOX_SELECT + " ORDER BY seq DESC LIMIT :limit")
_OUTBOX_PENDING_COUNT = sql("SELECT count(*) FROM outbox WHERE status = 'pending'")
_FIRING_COUNT = sql("SELECT count(*) FROM alert_state WHERE phase = 'firing'")
_OUTBOX_UPDATE = sql("UPDATE outbox SET status = :status, attempts = :attempts, next_attempt_at = :next_attempt_at,"
                     " last_error = :last_error WHERE seq = :seq")
_OUTBOX_PRUNE = sql("DELETE FROM outbox WHERE status <> 'pending' AND created_at < :before")

_DELIVERY_ADD = sql(
    "INSERT INTO deliveries (outbox_seq, receiver, message_key, event, status, attempt, at, latency_ms, error,"
    " remote_ref) VALUES (:outbox_seq, :receiver, :message_key, :event, :status, :attempt, :at, :latency_ms,"
    " :error, :remote_ref)")
_DELIVERIES = sql("SELECT outbox_seq, receiver, message_key, event, status, attempt, at, latency_ms, error, remote_ref"
                  " FROM deliveries WHERE at >= :start AND at < :end ORDER BY at")
_REF_GET = sql("SELECT ref FROM receiver_refs WHERE receiver = :receiver AND message_key = :message_key")
_REF_SET = upsert("receiver_refs", ("receiver", "message_key"), ("ref", "updated_at"))

_SILENCE_ADD = sql(
    "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at)"
    " VALUES (:id, :matchers, :starts_at, :ends_at, :created_by, :comment, :created_at, NULL)")
_SILENCES = "SELECT id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at FROM silences"
_SILENCES_ALL = sql(_SILENCES + " ORDER BY starts_at")
_SILENCES_ACTIVE = sql(_SILENCES + " WHERE ends_at > :now AND expired_at IS NULL ORDER BY starts_at")
_SILENCE_EXPIRE = sql("UPDATE silences SET expired_at = :at WHERE id = :id AND expired_at IS NULL")


def _outbox_row(row: tuple[Any, ...]) -> OutboxRow:
    seq, receiver, key, event, created, next_at, attempts, status, error, payload = row
    return OutboxRow(int(seq), receiver, key, event, parse_ts(created), parse_ts(next_at), int(attempts), status,
                     error, json.loads(payload))


class AlertTables(StoreTables):
    # -- alert states ---------------------------------------------------------------------------------------
    def alert_states(self, fingerprints: Sequence[str] | None = None, *, active_only: bool = False,
                     check_id: str | None = None) -> dict[str, AlertState]:
        where = []
        params: dict[str, Any] = {}
        if active_only:
            where.append("phase IN ('pending', 'firing')")
        if check_id is not None:
            where.append("check_id = :check_id")
            params["check_id"] = check_id
        base = _STATES + sql(" WHERE " + " AND ".join(where) if where else "")
        rows: list[tuple[Any, ...]] = []
        if fingerprints is None:
            rows = self._query(base, params)
        else:
            for chunk in iter_chunks(list(fingerprints)):
                stmt = base + sql(" AND " if where else " WHERE ") + in_list("fingerprint", "fp", len(chunk))
                rows.extend(self._query(stmt, {**params, **numbered("fp", chunk)}))
        out = {}
        for (payload,) in rows:
            state = AlertState.from_json(json.loads(payload))
            out[state.fingerprint] = state
        return out

    def alert_states_save(self, states: Sequence[AlertState], at: datetime, tx: Tx | None = None) -> None:
        with self._tx(tx) as conn:
            conn.executemany(_SAVE_STATE, (
                {"fingerprint": s.fingerprint, "rule_id": s.rule_id, "check_id": s.check_id, "phase": s.phase.value,
                 "severity": s.severity.value, "updated_at": ts(at), "payload": json.dumps(s.to_json())}
                for s in states))

    def alert_states_prune(self, resolved_before: datetime, tx: Tx | None = None) -> int:
        with self._tx(tx) as conn:
            return int(conn.execute(_PRUNE_STATES, {"before": ts(resolved_before)}).rowcount)

    # -- group buffer ---------------------------------------------------------------------------------------
    def pending_add(self, route: str, group_key: str, fingerprint: str, event: str, event_at: datetime,
                    payload: dict[str, Any], tx: Tx | None = None) -> None:
        with self._tx(tx) as conn:
            conn.execute(_PENDING_ADD, {"route": route, "group_key": group_key, "fingerprint": fingerprint,
                                        "event": event, "event_at": ts(event_at), "payload": json.dumps(payload)})

    def pending_groups(self) -> list[tuple[str, str, datetime]]:
        return [(r, g, parse_ts(at)) for r, g, at in self._query(_PENDING_GROUPS)]

    def pending_take(self, route: str, group_key: str, tx: Tx) -> list[PendingEntry]:
        group = {"route": route, "group_key": group_key}
        rows = tx.execute(_PENDING_OF_GROUP, group).fetchall()
        tx.execute(_PENDING_DROP, group)
        return [PendingEntry(seq, r, g, fp, ev, parse_ts(at), json.loads(p)) for seq, r, g, fp, ev, at, p in rows]

    def group_flushed_at(self, route: str, group_key: str) -> datetime | None:
        rows = self._query(_GROUP_FLUSHED, {"route": route, "group_key": group_key})
        return parse_ts(rows[0][0]) if rows else None

    def group_mark_flushed(self, route: str, group_key: str, at: datetime, tx: Tx) -> None:
        tx.execute(_GROUP_MARK, {"route": route, "group_key": group_key, "last_flushed_at": ts(at)})

    # -- threads --------------------------------------------------------------------------------------------
    def thread_of(self, route: str, fingerprint: str) -> str | None:
        rows = self._query(_THREAD_OF, {"route": route, "fingerprint": fingerprint})
        return str(rows[0][0]) if rows else None

    def thread_set(self, route: str, fingerprint: str, thread_key: str, at: datetime, tx: Tx | None = None) -> None:
        self.threads_set(route, [fingerprint], thread_key, at, tx)

    def threads_set(self, route: str, fingerprints: Sequence[str], thread_key: str, at: datetime,
                    tx: Tx | None = None) -> None:
        with self._tx(tx) as conn:
            conn.executemany(_THREAD_SET, ({"route": route, "fingerprint": fp, "thread_key": thread_key,
                                            "created_at": ts(at)} for fp in fingerprints))

    def threads_of(self, route: str, fingerprints: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in iter_chunks(list(fingerprints)):
            stmt = (sql("SELECT fingerprint, thread_key FROM alert_threads WHERE route = :route AND ")
                    + in_list("fingerprint", "fp", len(chunk)))
            out.update({str(fp): str(t) for fp, t in self._query(stmt, {"route": route, **numbered("fp", chunk)})})
        return out

    def threads_forget(self, fingerprints: Sequence[str], tx: Tx | None = None) -> None:
        if not fingerprints:
            return
        with self._tx(tx) as conn:
            for chunk in iter_chunks(list(fingerprints)):
                conn.execute(sql("DELETE FROM alert_threads WHERE ") + in_list("fingerprint", "fp", len(chunk)),
                             numbered("fp", chunk))

    def thread_members(self, route: str, thread_key: str) -> list[str]:
        return [str(r[0]) for r in self._query(_THREAD_MEMBERS, {"route": route, "thread_key": thread_key})]

    # -- outbox -------------------------------------------------------------------------------------------
    def outbox_add(self, receiver: str, message_key: str, dedup_id: str, event: str, payload: dict[str, Any],
                   at: datetime, tx: Tx | None = None) -> bool:
        """False when a message with this dedup id was already queued (dedup against the delivery log)."""
        with self._tx(tx) as conn:
            if conn.execute(_OUTBOX_SEEN, {"dedup_id": dedup_id}).fetchone():
                return False
            conn.execute(_OUTBOX_ADD, {"receiver": receiver, "message_key": message_key, "dedup_id": dedup_id,
                                       "event": event, "at": ts(at), "payload": json.dumps(payload)})
            return True

    def outbox_pending(self, receiver: str | None = None) -> list[OutboxRow]:
        mine = {"receiver": receiver}
        rows = self._query(_OUTBOX_PENDING) if receiver is None else self._query(_OUTBOX_PENDING_OF, mine)
        return [_outbox_row(r) for r in rows]

    def outbox_pending_count(self) -> int:
        return int(self._query(_OUTBOX_PENDING_COUNT)[0][0])

    def firing_count(self) -> int:
        return int(self._query(_FIRING_COUNT)[0][0])

    def outbox_rows(self, limit: int = 100) -> list[OutboxRow]:
        return [_outbox_row(r) for r in self._query(_OUTBOX_NEWEST, {"limit": limit})]

    def outbox_update(self, seq: int, *, status: str, attempts: int, next_attempt_at: datetime, last_error: str,
                      tx: Tx | None = None) -> None:
        with self._tx(tx) as conn:
            conn.execute(_OUTBOX_UPDATE, {"status": status, "attempts": attempts,
                                          "next_attempt_at": ts(next_attempt_at), "last_error": last_error, "seq": seq})

    def outbox_prune(self, older_than: datetime, tx: Tx | None = None) -> int:
        with self._tx(tx) as conn:
            return int(conn.execute(_OUTBOX_PRUNE, {"before": ts(older_than)}).rowcount)

    # -- deliveries and receiver references -----------------------------------------------------------------
    def delivery_add(self, delivery: Delivery, tx: Tx | None = None) -> None:
        with self._tx(tx) as conn:
            conn.execute(_DELIVERY_ADD, {
                "outbox_seq": delivery.outbox_id, "receiver": delivery.receiver, "message_key": delivery.message_key,
                "event": delivery.event, "status": delivery.status.value, "attempt": delivery.attempt,
                "at": ts(delivery.at), "latency_ms": delivery.latency.total_seconds() * 1000.0,
                "error": delivery.error, "remote_ref": delivery.remote_ref})

    def deliveries_between(self, start: datetime, end: datetime) -> list[Delivery]:
        rows = self._query(_DELIVERIES, {"start": ts(start), "end": ts(end)})
        return [
            Delivery(int(seq), rcv, key, ev, DeliveryStatus(st), int(att), parse_ts(at),
                     timedelta(milliseconds=float(lat)), err, ref)
            for seq, rcv, key, ev, st, att, at, lat, err, ref in rows
        ]

    def ref_get(self, receiver: str, message_key: str) -> str | None:
        rows = self._query(_REF_GET, {"receiver": receiver, "message_key": message_key})
        return str(rows[0][0]) if rows else None

    def ref_set(self, receiver: str, message_key: str, ref: str, at: datetime, tx: Tx | None = None) -> None:
        with self._tx(tx) as conn:
            conn.execute(_REF_SET, {"receiver": receiver, "message_key": message_key, "ref": ref,
                                    "updated_at": ts(at)})

    # -- silences -------------------------------------------------------------------------------------------
    def silence_add(self, silence: Silence) -> None:
        with self._tx(None) as conn:
            conn.execute(_SILENCE_ADD, {
                "id": silence.id, "matchers": json.dumps(dict(silence.matchers), sort_keys=True),
                "starts_at": ts(silence.starts_at), "ends_at": ts(silence.ends_at), "created_by": silence.created_by,
                "comment": silence.comment, "created_at": ts(silence.created_at or silence.starts_at)})

    def silences(self, *, include_expired: bool = False, now: datetime | None = None) -> list[Silence]:
        if not include_expired and now is not None:
            rows = self._query(_SILENCES_ACTIVE, {"now": ts(now)})
        else:
            rows = self._query(_SILENCES_ALL)
        return [
            Silence(sid, json.loads(m), parse_ts(s), parse_ts(e), by, comment, parse_ts(created),
                    parse_ts(expired) if expired else None)
            for sid, m, s, e, by, comment, created, expired in rows
        ]

    def silence_expire(self, silence_id: str, at: datetime) -> bool:
        with self._tx(None) as conn:
            return bool(conn.execute(_SILENCE_EXPIRE, {"at": ts(at), "id": silence_id}).rowcount)
