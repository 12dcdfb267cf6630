"""A throwaway PostgreSQL cluster: Debian's `postgresql` binaries, initdb/pg_ctl as the `postgres` user,
127.0.0.1 only, a free port, data under the devstack cache, wal_level=logical so Debezium-style slots work."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack import procs
from devstack.base import ServiceUnavailable, cache_dir, free_port, port_open, wait_until

PG_USER = "postgres"
# The role deploy/grants/postgres.sql creates; the password is for these throwaway clusters only.
MONITOR_ROLE = "sentinel_monitor"
MONITOR_PASSWORD = "sentinel-monitor-test-pw"
GRANTS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "grants" / "postgres.sql"


def _bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for c in candidates:
        if (c / "initdb").exists() and (c / "postgres").exists():
            return c
    _install_postgres()
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if not candidates:
        raise ServiceUnavailable("PostgreSQL binaries not found under /usr/lib/postgresql after apt-get install postgresql")
    return candidates[0]


def _install_postgres() -> None:
    """Install Debian's postgresql when its binaries are missing (fresh machine). Needs root."""
    if os.geteuid() != 0:
        raise ServiceUnavailable("PostgreSQL binaries are missing and we are not root: run `apt-get install postgresql`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise ServiceUnavailable(f"`{' '.join(argv)}` failed: {proc.stderr.strip()[-800:]}")


def _as_postgres(argv: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    user = PG_USER if os.geteuid() == 0 else None
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, user=user,
                          cwd="/tmp")


@dataclass
class PostgresService:
    host: str
    port: int
    data_dir: Path
    bin_dir: Path
    password: str = "sentinel-test-pw"
    log: Path | None = None
    record: procs.ProcRecord | None = field(default=None, repr=False)

    def dsn(self, dbname: str = "postgres", user: str = PG_USER, password: str | None = None) -> str:
        return f"postgresql://{user}:{password or self.password}@{self.host}:{self.port}/{dbname}?connect_timeout=5"

    def create_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def monitor_dsn(self, dbname: str, tables: Sequence[str] = (), schemas: Sequence[str] = ("public",)) -> str:
        """Apply deploy/grants/postgres.sql with psql, exactly as an operator would, and return the DSN of the
        least-privilege role it creates: checks run as this role, so the shipped grants are proven sufficient."""
        psql = self.bin_dir / "psql" if (self.bin_dir / "psql").exists() else Path(shutil.which("psql") or "psql")
        argv = [str(psql), self.dsn(dbname), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-v", f"password={MONITOR_PASSWORD}", "-f", str(GRANTS_FILE)]
        # psql variables, as the file's header shows; an unset one skips its GRANT
        if schemas:
            argv[-2:-2] = ["-v", f"schemas={','.join(schemas)}"]
        if tables:
            argv[-2:-2] = ["-v", f"tables={','.join(tables)}"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise ServiceUnavailable(f"{GRANTS_FILE} failed on {dbname}: {proc.stderr.strip()[-800:]}")
        return self.dsn(dbname, user=MONITOR_ROLE, password=MONITOR_PASSWORD)

    def stop(self) -> None:
        _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], timeout=60)
        procs.forget(self.record)
        if self.record is not None and self.record.remove_dir:
            procs.remove_throwaway(Path(self.record.remove_dir))

    def running(self) -> bool:
        return port_open(self.host, self.port)

    def restart(self) -> None:
        """pg_ctl restart -m fast, as an operator or a failover does: every session is cut mid-statement."""
        log = ["-l", str(self.log)] if self.log else []  # else the server would hold our output pipe open
        done = _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *log, "-m", "fast", "-w",
                             "-t", "60", "restart"], timeout=90)
        if done.returncode != 0:
            raise ServiceUnavailable(f"pg_ctl restart failed ({self.data_dir}): {done.stderr.strip()}")


def _postgres_can_use(root: Path) -> bool:
    probe = _as_postgres(["test", "-d", str(root), "-a", "-w", str(root), "-a", "-x", str(root)], timeout=10)
    return probe.returncode == 0


def cluster_root() -> Path:
    """Where clusters live: <cache>/postgres when the `postgres` user can reach it, else a folder of this checkout's
    own under the system temp dir. As root, initdb and the server run as `postgres`, which cannot enter a checkout
    under a 0700 home (root's, for one)."""
    root = cache_dir("postgres")
    if os.geteuid() != 0:
        return root  # the server runs as us
    shutil.chown(root, PG_USER)
    if _postgres_can_use(root):
        return root
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]  # one folder per devstack cache
    outside = Path(tempfile.gettempdir()) / f"sentinel-devstack-{digest}" / "postgres"
    outside.mkdir(parents=True, exist_ok=True)
    os.chmod(outside.parent, 0o755)  # noqa: S103 - traversable by `postgres`; the cluster dir itself is 0700
    shutil.chown(outside, PG_USER)
    os.chmod(outside, 0o700)
    return outside


def start_postgres(name: str = "pg", *, fresh: bool = True, throwaway: bool = False) -> PostgresService:
    """Start a cluster named `name` under `cluster_root()`. `fresh` wipes an older data dir first; a `throwaway`
    cluster's data is deleted when it is stopped or reaped. Recorded in a PID file until stopped
    (devstack/procs.py), so an interrupted run does not leave it running."""
    bin_dir = _bin_dir()
    root = cluster_root()
    data_dir = root / name
    log = data_dir / "server.log" if throwaway else root / f"{name}.log"  # a throwaway leaves no file beside it
    if fresh and data_dir.exists():
        pid = data_dir / "postmaster.pid"
        if pid.exists():
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop"], timeout=30)
        shutil.rmtree(data_dir)
    service = PostgresService("127.0.0.1", free_port(), data_dir, bin_dir, log=log)
    service.record = procs.record(f"postgres-{name}", os.getpid(), service.stop, kind="postgres", data_dir=data_dir,
                                  bin_dir=bin_dir, remove_dir=data_dir if throwaway else None)
    if os.geteuid() == 0 and log.exists():
        shutil.chown(log, PG_USER)
    if not data_dir.exists():
        pwfile = root / f"{name}.pw"
        pwfile.write_text(service.password)
        if os.geteuid() == 0:
            shutil.chown(pwfile, PG_USER)
        init = _as_postgres([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", PG_USER, "--auth=scram-sha-256",
                             f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"])
        pwfile.unlink()
        if init.returncode != 0:
            raise ServiceUnavailable(f"initdb failed for {data_dir}: {init.stderr.strip()[-800:]}")
    opts = (f"-c listen_addresses=127.0.0.1 -c port={service.port} -c unix_socket_directories={root} "
            "-c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB -c max_connections=200 "
            "-c timezone=UTC")
    started = _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log), "-o", opts, "-w", "-t", "60",
                            "start"])
    if started.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        raise ServiceUnavailable(f"pg_ctl start failed ({data_dir}): {started.stderr.strip()} {started.stdout.strip()}\n{tail}")

    def ready() -> bool:
        import psycopg

        with psycopg.connect(service.dsn(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    wait_until(ready, what=f"PostgreSQL on port {service.port}", timeout=60, log=log)
    return service
