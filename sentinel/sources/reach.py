"""Why a server cannot be reached, in words: unknown host, connection refused, or no answer to connect.

Client libraries often report all three as one timeout (librdkafka) or one "could not connect" (the Snowflake
connector). A short TCP probe tells them apart: it resolves the host and opens, then closes, one connection,
which no server minds. A server that accepts the connection but never answers is the caller's to name (hung).
"""

from __future__ import annotations

import errno
import socket


def probe(servers: str, timeout: float = 0.5) -> tuple[bool, str | None]:
    """`servers`: "host:port[,host:port]". (some server accepts TCP connections, why none does)."""
    problems: list[str] = []
    for server in (s.strip() for s in servers.split(",") if s.strip()):
        host, _, port_text = server.rpartition(":")
        host = host.strip("[]") or server
        try:
            port = int(port_text)
        except ValueError:
            problems.append(f"{server} has no port")
            continue
        why = _why_not(server, host, port, timeout)
        if why is None:
            return True, None
        problems.append(why)
    return False, "; ".join(problems) or "no server given"


def _why_not(server: str, host: str, port: int, timeout: float) -> str | None:
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"host {host} is unknown ({exc.strerror or exc})"
    family, kind, proto, _, address = addresses[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except ConnectionRefusedError:
            return f"{server} refused the connection (nothing listens there: server down?)"
        except TimeoutError:
            return f"{server} did not accept a connection within {timeout:g}s (host down or firewalled?)"
        except OSError as exc:
            unreachable = exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
            return f"{server}: {'unreachable' if unreachable else exc.strerror}"
    return None
