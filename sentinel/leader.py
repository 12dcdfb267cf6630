"""One leader among replicas: a session-level PostgreSQL advisory lock held on a dedicated connection.

Only the leader runs checks and sends alerts; a follower keeps trying every `retry` seconds. The lock belongs
to the leader's database session, so it is released by PostgreSQL itself when that session ends:

- the leader exits or is killed (kill -9, OOM): the kernel closes its socket, the backend ends at once;
- the leader's host or network vanishes: the server's TCP keepalives (set per session below) end the backend
  within about idle + interval * count seconds.

The leader checks its own connection every `retry` seconds with a bounded query; when that fails it steps
down at once, before the server could have handed the lock to another replica, so two leaders never send.

    elector = LeaderElector(dsn, on_change=...)
    elector.start()          # background thread
    elector.is_leader        # read by the scheduler before every job
    elector.stop()           # releases the lock (graceful shutdown = fast failover)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

LOCK_KEY = 0x5E471E02  # "sentinel leader"; one lock per state database
RETRY_SECONDS = 3.0

_SESSION_OPTIONS = (
    "-c statement_timeout=5000 -c lock_timeout=5000"
    " -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
)


class LeaderElector:
    def __init__(self, dsn: str, *, key: int = LOCK_KEY, retry_seconds: float = RETRY_SECONDS,
                 on_change: Callable[[bool], None] | None = None, name: str = "") -> None:
        self._dsn = dsn
        self._key = key
        self._retry = retry_seconds
        self._on_change = on_change
        self._name = name
        self._conn: Any = None
        self._leader = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sentinel-leader", daemon=True)
        self._conn_lock = threading.Lock()  # the loop and confirm() (scheduler threads) share the connection
        self.last_error = ""

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set()

    @property
    def role(self) -> str:
        return "leader" if self.is_leader else "follower"

    def start(self) -> None:
        self.step()
        self._thread.start()

    def wait_leader(self, timeout: float) -> bool:
        return self._leader.wait(timeout)

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
        """Is this replica still the leader, checked now on its session (before sending anything)?"""
        return self.is_leader and self.step()

    def step(self) -> bool:
        """One round: a follower tries to take the lock, a leader proves it still holds its session."""
        with self._conn_lock:
            return self._step()

    def _step(self) -> bool:
        try:
            if self.is_leader:
                self._conn.execute("SELECT 1").fetchone()
            elif self._try_acquire():
                self._set(True)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}"
            if self.is_leader:
                log.error("leader lost its database session (%s); stepping down", type(exc).__name__)
            else:
                log.warning("leader election: cannot reach the state database (%s); retrying in %.0fs",
                            type(exc).__name__, self._retry)
            self._set(False)
            self._drop_connection()
        return self.is_leader

    def _try_acquire(self) -> bool:
        import psycopg

        from sentinel.store.postgres import CONNECT_KWARGS

        if self._conn is None or self._conn.closed or self._conn.broken:
            kwargs = {**CONNECT_KWARGS, "application_name": f"sentinel-leader {self._name}".strip()}
            self._conn = psycopg.connect(self._dsn, autocommit=True, options=_SESSION_OPTIONS, **kwargs)
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        return bool(row and row[0])

    def _set(self, leader: bool) -> None:
        changed = leader != self.is_leader
        if leader:
            self._leader.set()
        else:
            self._leader.clear()
        if changed:
            log.info("this replica is now the %s", "leader" if leader else "follower")
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
        if self._conn is not None and self.is_leader:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
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
    return gauge
