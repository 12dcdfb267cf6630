"""Last line of defence for secrets: every result text passes through a Redactor built from every SecretStr
in Settings before it is stored, logged or sent. Sources scrub their own errors too; this catches the rest
(a driver that echoes a DSN, a check that formats a URL with a token)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from urllib.parse import quote

from pydantic import BaseModel, SecretStr

from sentinel.model import CheckResult, Finding

MASK = "[redacted]"
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words


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
        return self._pattern.sub(MASK, value) if self._pattern else value

    def mapping(self, values: Mapping[str, str]) -> dict[str, str]:
        return {k: self.text(str(v)) for k, v in values.items()}

    def result(self, result: CheckResult) -> CheckResult:
        if self._pattern is None:
            return result
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
