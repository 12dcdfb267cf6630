"""Leadership terms in the shared PostgreSQL store: a lease row next to the advisory lock, and outbox claims
fenced by the term's epoch.

Every function runs on the leader election's own session (the one that holds the advisory lock), so a statement
that succeeds also proves that session, and with it the lock, is still alive. Times are the database server's
clock (`clock_timestamp()`), so replicas whose clocks disagree still agree on when a lease ends.

- `take_lead`: lock and new term in one statement, so nobody ever sees the lock held under an older term's lease
  for longer than that statement.
- `renew`: the leader pushes its deadline forward; it fails once another term began.
- `stale_lock_holder`: a lock held under an expired lease belongs to a frozen or cut-off leader whose session the
  server still keeps open (its kernel answers TCP keepalives); the follower ends that session to free the lock.
- `claim_outbox_row`: the row is marked with this term's epoch in the transaction that checks the term is current.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sentinel.store.sql import POSTGRES, Params, Statement, sql

if TYPE_CHECKING:
    import psycopg

_NOW = "extract(epoch from clock_timestamp())"


class Claim(enum.Enum):
    CLAIMED = "claimed"  # this term may send the row now
    BUSY = "busy"  # another live term claimed it, or it is no longer pending: leave it
    FENCED = "fenced"  # this replica's term is over: send nothing more


@dataclass(frozen=True)
class Lease:
    epoch: int
    holder: str
    holder_pid: int
    expires_in_s: float  # from the server's now; negative once expired


_TAKE_LEAD = sql(f"""WITH got AS (SELECT pg_try_advisory_lock(:key) AS ok)
    INSERT INTO leader_lease (id, epoch, holder, holder_pid, renewed_at_s, expires_at_s)
    SELECT 1, 1, :holder, pg_backend_pid(), {_NOW}, {_NOW} + :ttl FROM got WHERE ok
    ON CONFLICT (id) DO UPDATE SET epoch = leader_lease.epoch + 1, holder = excluded.holder,
        holder_pid = excluded.holder_pid, renewed_at_s = excluded.renewed_at_s, expires_at_s = excluded.expires_at_s
    RETURNING epoch""")
_RENEW = sql(f"UPDATE leader_lease SET renewed_at_s = {_NOW}, expires_at_s = {_NOW} + :ttl"
             " WHERE id = 1 AND epoch = :epoch AND holder_pid = pg_backend_pid() RETURNING epoch")
_READ = sql(f"SELECT epoch, holder, holder_pid, expires_at_s - {_NOW} FROM leader_lease WHERE id = 1")
_STALE_HOLDER = sql(f"""SELECT l.pid FROM pg_locks l JOIN leader_lease e ON e.id = 1
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid::text::bigint = :classid
      AND l.objid::text::bigint = :objid AND l.objsubid = 1
      AND (e.expires_at_s < {_NOW} AND l.pid = e.holder_pid OR e.expires_at_s + :ttl < {_NOW})""")
_END_SESSION = sql("SELECT pg_terminate_backend(:pid, :wait_ms)")
_CLAIM = sql(f"""WITH term AS (
        SELECT 1 FROM leader_lease WHERE id = 1 AND epoch = :epoch AND holder_pid = pg_backend_pid()
          AND expires_at_s > {_NOW} FOR SHARE),
    claimed AS (
        UPDATE outbox SET claim_epoch = :epoch, claimed_at_s = {_NOW}
        WHERE seq = :seq AND status = 'pending' AND EXISTS (SELECT 1 FROM term)
          AND (claim_epoch IS NULL OR claim_epoch = :epoch OR claimed_at_s < {_NOW} - :stale)
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM term), EXISTS (SELECT 1 FROM claimed)""")
_END_LEASE = sql("UPDATE leader_lease SET expires_at_s = 0 WHERE id = 1 AND epoch = :epoch"
                 " AND holder_pid = pg_backend_pid()")
_UNLOCK = sql("SELECT pg_advisory_unlock(:key)")


def _run(conn: psycopg.Connection[Any], stmt: Statement, params: Params) -> psycopg.Cursor[Any]:
    """One statement on the election's own session (autocommit: each is its own transaction)."""
    return conn.execute(POSTGRES.render(stmt), POSTGRES.bind(stmt, params))


def _one(conn: psycopg.Connection[Any], stmt: Statement, params: Params) -> Any:
    return _run(conn, stmt, params).fetchone()


def _lock_parts(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits)."""
    return key >> 32, key & 0xFFFFFFFF


def take_lead(conn: psycopg.Connection[Any], key: int, holder: str, ttl_s: float) -> int | None:
    """Try the advisory lock; when it is ours, start the next term. Returns its epoch, or None (someone holds it)."""
    row = _one(conn, _TAKE_LEAD, {"key": key, "holder": holder, "ttl": ttl_s})
    return int(row[0]) if row else None


def renew(conn: psycopg.Connection[Any], epoch: int, ttl_s: float) -> bool:
    """Extend this term's lease. False when another term began (this session no longer leads)."""
    row = _one(conn, _RENEW, {"ttl": ttl_s, "epoch": epoch})
    return row is not None


def read_lease(conn: psycopg.Connection[Any]) -> Lease | None:
    row = _one(conn, _READ, {})
    return Lease(int(row[0]), str(row[1]), int(row[2]), float(row[3])) if row else None


def stale_lock_holder(conn: psycopg.Connection[Any], key: int, ttl_s: float) -> int | None:
    """The backend pid holding the lock although its lease expired, or None.

    The pid must be the lease's holder: a session that has just taken the lock writes its term in the same
    statement, and is never mistaken for a stale one. A holder that is not the lease's (a replica of an older
    Sentinel, or a term that never got written) counts as stale only after a second full lease period."""
    classid, objid = _lock_parts(key)
    row = _one(conn, _STALE_HOLDER, {"classid": classid, "objid": objid, "ttl": ttl_s})
    return int(row[0]) if row else None


def end_session(conn: psycopg.Connection[Any], pid: int, wait_ms: int = 3000) -> bool:
    """End a stale leader's session (its lock goes with it). Allowed for sessions of the same role."""
    row = _one(conn, _END_SESSION, {"pid": pid, "wait_ms": wait_ms})
    return bool(row and row[0])


def claim_outbox_row(conn: psycopg.Connection[Any], seq: int, epoch: int, stale_after_s: float) -> Claim:
    """Mark an outbox row as being sent by this term, in the transaction that checks the term is current.

    A row claimed by an earlier term is taken over only once that claim is `stale_after_s` old: by then the earlier
    sender finished (and recorded the row as sent) or died; what it may have half-sent is collapsed by the
    receiver's idempotency (the pager's dedup key, Slack's message reference)."""
    row = _one(conn, _CLAIM, {"epoch": epoch, "seq": seq, "stale": stale_after_s})
    if not row or not row[0]:
        return Claim.FENCED
    return Claim.CLAIMED if row[1] else Claim.BUSY


def release(conn: psycopg.Connection[Any], key: int, epoch: int) -> None:
    """End this term's lease with the lock, so nobody waits for it (and a follower need not end a session)."""
    _run(conn, _END_LEASE, {"epoch": epoch})
    _run(conn, _UNLOCK, {"key": key})
