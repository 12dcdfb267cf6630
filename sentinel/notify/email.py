"""Email over SMTP (STARTTLS and login when configured). One email per message; follow-ups of the same alert
thread in mail clients through Message-ID / In-Reply-To derived from the alert key."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, ClassVar

from pydantic import SecretStr

from sentinel.config.settings import Settings
from sentinel.errors import NotifyError
from sentinel.notify.base import SendOutcome
from sentinel.notify.message import Message, plain_text


class EmailNotifier:
    channel: ClassVar[str] = "email"

    def __init__(self, name: str, *, host: str, port: int, to: list[str], sender: str, starttls: bool = True,
                 username: str | None = None, password: SecretStr | None = None, timeout: float = 20.0) -> None:
        if not to:
            raise ValueError(f"email notifier {name!r} needs options.to: [addresses]")
        self.name = name
        self.host, self.port, self.to, self.sender = host, port, list(to), sender
        self.starttls, self.username, self._password, self.timeout = starttls, username, password, timeout

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> EmailNotifier:
        unknown = set(options) - {"to", "from"}
        if unknown:
            raise ValueError(f"email notifier {name!r}: unknown option(s) {sorted(unknown)}; known: to, from")
        if not settings.smtp_host:
            raise ValueError(f"email notifier {name!r} needs SENTINEL_SMTP_HOST")
        to = options.get("to", [])
        return cls(name, host=settings.smtp_host, port=settings.smtp_port, to=[to] if isinstance(to, str) else list(to),
                   sender=str(options.get("from", settings.smtp_from)), starttls=settings.smtp_starttls,
                   username=settings.smtp_username, password=settings.smtp_password,
                   timeout=settings.smtp_timeout_seconds)

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
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username and self._password is not None:
                    smtp.login(self.username, self._password.get_secret_value())
                smtp.send_message(email)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise NotifyError(f"SMTP {self.host} refused the email: {type(exc).__name__}", retryable=False) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise NotifyError(f"SMTP {self.host}:{self.port} failed: {type(exc).__name__}", retryable=True) from None
        return SendOutcome(ref=message.key)
