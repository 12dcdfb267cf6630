"""One leader among replicas: a PostgreSQL advisory lock held on a dedicated session, plus a lease with an epoch.

Only the leader runs checks and sends alerts. The lock belongs to the leader's database session, so PostgreSQL
frees it when that session ends (the leader exits or is killed: at once). Each leadership term has an epoch (one
more than the last) and a lease: a row in the store with a deadline that the leader renews every `renew`
seconds (see sentinel/store/lease.py). The lease covers what the lock cannot see:

- a frozen leader (SIGSTOP, a stuck VM) or one cut off from the database keeps its session open, because the
  kernel still answers TCP keepalives; when its lease expires, a follower ends that session and takes over;
- the leader fences itself: it counts itself leader only until `last successful renewal + ttl - margin` on its own
  monotonic clock, which ends before the server's deadline, so two replicas never both believe they lead;
- every outbox row is claimed with the term's epoch on the lock session, in the transaction that checks the term
  is current (`claim`): a replica whose session or term ended cannot send another row.

    elector = LeaderElector(dsn, on_change=...)
    elector.start()          # background thread
    elector.is_leader        # read by the scheduler before every job
    elector.claim(seq)       # by the outbox, right before sending a row
    elector.stop()           # releases the lock (graceful shutdown = fast failover)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sentinel.store.lease import (
    Claim,
    claim_outbox_row,
    end_session,
    read_lease,
    release,
    renew,
    stale_lock_holder,
    take_lead,
)

log = logging.getLogger(__name__)

LOCK_KEY = 0x5E471E02  # "sentinel leader"; one lock per state database
RENEW_SECONDS = 2.0  # a leader renews its lease, a follower looks for a free lock or an expired lease
LEASE_SECONDS = 8.0  # frozen or cut-off leader replaced within LEASE + RENEW (+ ending its session) = ~10 s
SELF_FENCE_MARGIN = 1.0  # the leader stops this long before the server-side deadline
CLAIM_STALE_SECONDS = 30.0  # a row claimed by an ended term is re-sent after this (longer than a send may take)

# statement_timeout bounds every statement on the lock session; the server's TCP keepalives end the session of
# a vanished host within idle + interval * count = ~11 s even when no follower is there to end it.
_SESSION_OPTIONS = (
    "-c statement_timeout=5000 -c lock_timeout=5000 -c idle_in_transaction_session_timeout=10000"
    " -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
)


class LeaderElector:
    def __init__(self, dsn: str, *, key: int = LOCK_KEY, retry_seconds: float = RENEW_SECONDS,
                 lease_seconds: float = LEASE_SECONDS, claim_stale_seconds: float = CLAIM_STALE_SECONDS,
                 on_change: Callable[[bool], None] | None = None, name: str = "") -> None:
        self._dsn = dsn
        self._key = key
        self._retry = retry_seconds
        self._ttl = lease_seconds
        self._claim_stale = claim_stale_seconds
        self._on_change = on_change
        self._name = name
        self._conn: Any = None
        self._leader = threading.Event()
        self._deadline = 0.0  # monotonic: this replica leads until then unless it renews
        self.epoch = 0  # of the current (or last) term this replica led
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sentinel-leader", daemon=True)
        self._conn_lock = threading.Lock()  # the loop, confirm() and claim() share the connection
        self.last_error = ""
        self.takeovers = 0  # sessions of frozen or cut-off leaders this replica ended

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set() and time.monotonic() < self._deadline

    @property
    def role(self) -> str:
        return "leader" if self.is_leader else "follower"

    def start(self) -> None:
        self.step()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._retry + 6)
        self._release()

    # -- the loop ---------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self._retry):
            self.step()

    def confirm(self) -> bool:
        """Is this replica still the leader, checked now on its session (before a delivery round)?"""
        return self.is_leader and self.step()

    def claim(self, seq: int) -> Claim:
        """Claim outbox row `seq` for this term right before sending it; FENCED means stop sending at once."""
        with self._conn_lock:
            if not self.is_leader:  # a renewal overdue: send nothing until the loop renews (or steps down)
                return Claim.FENCED
            try:
                claim = claim_outbox_row(self._conn, seq, self.epoch, self._claim_stale)
            except Exception as exc:
                self.last_error = type(exc).__name__
                self._lost(f"its session failed while claiming a notification ({type(exc).__name__})")
                return Claim.FENCED
            if claim is Claim.FENCED:
                self._lost(f"term {self.epoch} is over (another replica leads, or the lease expired)")
            return claim

    def step(self) -> bool:
        """One round: a follower tries to take the lead, a leader renews its lease."""
        with self._conn_lock:
            return self._step()

    def _step(self) -> bool:
        try:
            if self._leader.is_set():
                started = time.monotonic()
                if renew(self._conn, self.epoch, self._ttl):
                    # late or not, the term is still ours: the server extended the lease, nobody else leads
                    self._deadline = started + self._ttl - SELF_FENCE_MARGIN
                else:
                    self._lost(f"term {self.epoch} was taken over by another replica")
            else:
                self._try_lead()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}"
            if self._leader.is_set():
                self._lost(f"its database session failed ({type(exc).__name__})")
            else:
                log.warning("leader election: cannot reach the state database (%s); retrying in %.0fs",
                            type(exc).__name__, self._retry)
                self._drop_connection()
        return self.is_leader

    def _try_lead(self) -> None:
        conn = self._connection()
        started = time.monotonic()
        epoch = take_lead(conn, self._key, self._name or "sentinel", self._ttl)
        if epoch is None:
            stale = stale_lock_holder(conn, self._key, self._ttl)
            if stale is None:
                return
            lease = read_lease(conn)
            log.warning("leader election: the leader (%s, session %d) has not renewed its lease for %.1fs;"
                        " ending its session to take over", lease.holder if lease else "?", stale,
                        self._ttl - (lease.expires_in_s if lease else 0.0))
            end_session(conn, stale)
            self.takeovers += 1
            started = time.monotonic()
            epoch = take_lead(conn, self._key, self._name or "sentinel", self._ttl)
            if epoch is None:
                return
        self.epoch = epoch
        self._deadline = started + self._ttl - SELF_FENCE_MARGIN
        self._set(True)

    def _connection(self) -> Any:
        import psycopg

        from sentinel.store.postgres import CONNECT_KWARGS

        if self._conn is None or self._conn.closed or self._conn.broken:
            kwargs = {**CONNECT_KWARGS, "application_name": f"sentinel-leader {self._name}".strip()}
            self._conn = psycopg.connect(self._dsn, autocommit=True, options=_SESSION_OPTIONS, **kwargs)
        return self._conn

    def _lost(self, why: str) -> None:
        """Step down: stop leading now and close the session, so the lock (if still ours) frees at once."""
        if self._leader.is_set() and why:
            log.error("this replica stops leading: %s", why)
        self._set(False)
        self._drop_connection()

    def _set(self, leader: bool) -> None:
        changed = leader != self._leader.is_set()
        if leader:
            self._leader.set()
        else:
            self._leader.clear()
        if changed:
            log.info("this replica is now the %s%s", "leader" if leader else "follower",
                     f" (term {self.epoch})" if leader else "")
            if self._on_change is not None:
                try:
                    self._on_change(leader)
                except Exception:
                    log.exception("leader change callback failed")

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing the leader connection failed", exc_info=True)

    def _release(self) -> None:
        with self._conn_lock:
            self._release_locked()

    def _release_locked(self) -> None:
        if self._conn is not None and self._leader.is_set():
            try:
                release(self._conn, self._key, self.epoch)
            except Exception:
                log.debug("unlock failed; closing the session releases it anyway", exc_info=True)
        self._set(False)
        self._drop_connection()


def leader_gauge(registry: Any, elector: LeaderElector) -> Any:
    """`sentinel_leader` 1 on the leader, 0 on a follower (in the app's metrics registry)."""
    from prometheus_client import Gauge

    gauge = Gauge("sentinel_leader", "1 when this replica holds the leader lock and runs checks, else 0",
                  registry=registry)
    gauge.set_function(lambda: 1.0 if elector.is_leader else 0.0)
    term = Gauge("sentinel_leader_term", "Epoch of the leadership term this replica leads or last led (0: never)",
                 registry=registry)
    term.set_function(lambda: float(elector.epoch))
    return gauge
