"""Session fixture: an aiosmtpd server on a free port that requires STARTTLS (a self-signed certificate made
here with `cryptography`) and AUTH LOGIN/PLAIN before it accepts mail, and keeps what it receives."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

SMTP_USER = "sentinel-reports"
SMTP_PASSWORD = "smtp-SECRET-pass-4b1e"


def make_self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sentinel-test-smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass
class Received:
    envelope_from: str
    envelope_to: list[str]
    login: str | None
    tls: bool
    message: EmailMessage
    raw: bytes = b""  # the DATA as sent, for tests that read it as a strict client would


@dataclass
class SmtpTlsServer:
    host: str
    port: int
    username: str
    password: str
    ca_file: Path
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def settings(self) -> dict[str, Any]:
        """SENTINEL_* settings that point Sentinel at this server."""
        return {"smtp_host": self.host, "smtp_port": self.port, "smtp_username": self.username,
                "smtp_password": self.password, "smtp_starttls": True, "smtp_ca_file": self.ca_file}

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages()
            if len(got) >= count:
                return got
            time.sleep(0.1)
        return self.messages()


class _Handler:
    def __init__(self, server: SmtpTlsServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        login = session.auth_data.login.decode() if getattr(session, "auth_data", None) else None
        with self.server.lock:
            self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), login,
                                                 session.ssl is not None, msg, envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def smtp_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpTlsServer]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from devstack.base import free_port

    cert_file, key_file = make_self_signed(tmp_path_factory.mktemp("smtp-tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = SmtpTlsServer("127.0.0.1", free_port(), SMTP_USER, SMTP_PASSWORD, cert_file)

    def authenticator(_server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER \
            and auth_data.password.decode() == SMTP_PASSWORD
        return AuthResult(success=ok, auth_data=auth_data)

    controller = Controller(_Handler(server), hostname=server.host, port=server.port, tls_context=context,
                            require_starttls=True, authenticator=authenticator, auth_required=True,
                            auth_require_tls=True, server_hostname="localhost", ready_timeout=10)
    try:
        controller.start()
    except Exception as exc:
        pytest.fail(f"aiosmtpd with STARTTLS could not start on {server.host}:{server.port}: {exc}")
    yield server
    controller.stop()
