"""A TCP proxy that cuts the line like a network partition, for tests where one replica loses the database.

`cut()` stops bytes in both directions without closing a socket: neither end sees a FIN or RST, and the server's
TCP keepalives are answered by this host's kernel, exactly as for a peer behind a dead switch or a frozen VM.
(A separate network namespace via `unshare` needs privileges CI does not have; killing a proxy would close the
sockets, which is a clean disconnect, not a partition.) `heal()` drops the connections that lived through the cut,
as a NAT or firewall that lost their state does, and forwards new ones again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class CuttableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, name="net-cut-accept", daemon=True).start()

    def cut(self) -> None:
        self._cut.set()

    def heal(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                _close(s)
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        _close(self._listener)
        self.heal()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():  # a cut line does not answer new connections either: the SYN is not dropped
                threading.Thread(target=self._hold, args=(client,), daemon=True).start()  # here, but nothing flows
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _hold(self, client: socket.socket) -> None:
        while self._cut.is_set() and not self._closed.is_set():
            time.sleep(0.05)
        _close(client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self._cut.is_set():  # hold the bytes: the line is dead, but nobody is told
                    time.sleep(0.05)
                    if src.fileno() < 0:
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not self._cut.is_set():
                _close(src)
                _close(dst)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()
