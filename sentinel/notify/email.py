"""Email over SMTP (STARTTLS and login when configured). One email per message; follow-ups of the same alert
thread in mail clients through Message-ID / In-Reply-To derived from the alert key."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, ClassVar

from pydantic import SecretStr

from sentinel.config.settings import Settings
from sentinel.errors import NotifyError
from sentinel.notify.base import SendOutcome
from sentinel.notify.message import Message, plain_text


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand mail over (from the SENTINEL_SMTP_* settings)."""

    host: str
    port: int
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    timeout: float = 20.0

    @staticmethod
    def from_settings(settings: Settings) -> SmtpServer:
        if not settings.smtp_host:
            raise ValueError("SENTINEL_SMTP_HOST is not set")
        return SmtpServer(settings.smtp_host, settings.smtp_port, settings.smtp_starttls, settings.smtp_username,
                          settings.smtp_password, settings.smtp_timeout_seconds)


class EmailNotifier:
    channel: ClassVar[str] = "email"

    def __init__(self, name: str, server: SmtpServer, *, to: list[str], sender: str) -> None:
        if not to:
            raise ValueError(f"email notifier {name!r} needs options.to: [addresses]")
        self.name = name
        self.server, self.to, self.sender = server, list(to), sender

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> EmailNotifier:
        unknown = set(options) - {"to", "from"}
        if unknown:
            raise ValueError(f"email notifier {name!r}: unknown option(s) {sorted(unknown)}; known: to, from")
        if not settings.smtp_host:
            raise ValueError(f"email notifier {name!r} needs SENTINEL_SMTP_HOST")
        to = options.get("to", [])
        return cls(name, SmtpServer.from_settings(settings), to=[to] if isinstance(to, str) else list(to),
                   sender=str(options.get("from", settings.smtp_from)))

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        email = EmailMessage()
        email["Subject"] = f"[Sentinel] {message.title}"[:200]
        email["From"] = self.sender
        email["To"] = ", ".join(self.to)
        email["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
        thread_id = f"<{message.key}@sentinel>"
        if message.is_update:
            email["In-Reply-To"] = thread_id
            email["References"] = thread_id
        else:
            email["Message-ID"] = thread_id
        email["X-Sentinel-Key"] = message.key
        email.set_content(plain_text(message))
        server = self.server
        try:
            with smtplib.SMTP(server.host, server.port, timeout=server.timeout) as smtp:
                if server.starttls:
                    smtp.starttls()
                if server.username and server.password is not None:
                    smtp.login(server.username, server.password.get_secret_value())
                smtp.send_message(email)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise NotifyError(f"SMTP {server.host} refused the email: {type(exc).__name__}", retryable=False) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise NotifyError(f"SMTP {server.host}:{server.port} failed: {type(exc).__name__}", retryable=True) from None
        return SendOutcome(ref=message.key)
