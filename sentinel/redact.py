"""Last line of defence for secrets: every result text passes through a Redactor built from every SecretStr
in Settings before it is stored, logged or sent. Sources scrub their own errors too; this catches the rest
(a driver that echoes a DSN, a check that formats a URL with a token)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from urllib.parse import quote

from pydantic import BaseModel, SecretStr

from sentinel.model import CheckResult, Finding

MASK = "[redacted]"
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words


# Credentials Sentinel was never told about (a DSN pasted into a check's params, a token in a query's output)
# are masked by their shape: the password of a URL, Slack tokens, AWS key ids.
_URL_PASSWORD = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+(@)")
_TOKENS = re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}")


def mask_credential_shapes(value: str) -> str:
    return _TOKENS.sub(MASK, _URL_PASSWORD.sub(rf"\1{MASK}\2", value))


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for s in secrets:
            if s and len(s) >= _MIN_SECRET_LEN:
                variants.update({s, quote(s, safe=""), quote(s)})
                # A DSN's password is the secret that drivers echo; mask it alone too.
                match = re.match(r"^[a-z0-9+]+://[^:/@]+:([^@]+)@", s)
                if match and len(match.group(1)) >= _MIN_SECRET_LEN:
                    variants.add(match.group(1))
        self._pattern = re.compile("|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))) if variants else None

    @staticmethod
    def from_settings(settings: BaseModel) -> Redactor:
        found: list[str] = []

        def walk(value: object) -> None:
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, Mapping):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list | tuple):
                for v in value:
                    walk(v)

        for name in type(settings).model_fields:
            walk(getattr(settings, name))
        return Redactor(found)

    def text(self, value: str) -> str:
        value = self._pattern.sub(MASK, value) if self._pattern else value
        return mask_credential_shapes(value)

    def mapping(self, values: Mapping[str, str]) -> dict[str, str]:
        return {k: self.text(str(v)) for k, v in values.items()}

    def result(self, result: CheckResult) -> CheckResult:
        findings = tuple(
            replace(f, summary=self.text(f.summary), details=self.mapping(f.details), labels=self.mapping(f.labels))
            for f in result.findings
        )
        return replace(
            result,
            summary=self.text(result.summary),
            details=self.mapping(result.details),
            labels=self.mapping(result.labels),
            findings=findings,
        )

    def finding(self, finding: Finding) -> Finding:
        return replace(finding, summary=self.text(finding.summary), details=self.mapping(finding.details))


class RedactingLogFilter(logging.Filter):
    """Masks secrets in every log line a handler writes (third-party libraries log URLs and errors too)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.redactor.text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def redact_logs(redactor: Redactor) -> None:
    """Put `redactor` on every root handler, replacing one installed before (settings can be reloaded)."""
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingLogFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingLogFilter(redactor))
