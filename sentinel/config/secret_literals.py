"""Secrets do not belong in alert_rules.yaml: it is committed, reviewed, printed by `validate` and `list`.

`find_secret_literals` flags every value that looks like a credential, with its file:line, and says where it
belongs; `looks_secret` lets error messages decline to echo such a value. The value itself is never repeated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import yaml

from sentinel.errors import ConfigProblem

# What a credential looks like, whatever key it sits under.
SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a connection URL with a password", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)),
    ("a libpq DSN with a password", re.compile(r"(^|\s)password\s*=\s*\S", re.IGNORECASE)),
    ("a Slack token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}")),
    ("a Slack webhook URL", re.compile(r"hooks\.slack\.com/(services|workflows)/\S+")),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
)
# Keys whose value is a credential by its name (an Opsgenie key is just a UUID, a PagerDuty key 32 hex digits).
SECRET_KEY = re.compile(r"(^|_)(password|passwd|secret|token|api_?key|routing_key|integration_key|private_key|"
                        r"credentials?)$", re.IGNORECASE)

WHERE_IT_BELONGS = (
    "secrets do not belong in alert_rules.yaml (it is committed and printed): put it in the SENTINEL_* "
    "environment variable or a file in SENTINEL_SECRETS_DIR (e.g. postgres_dsns, slack_token, opsgenie_api_key) "
    "and refer to the connection by its name"
)


def looks_secret(value: object) -> str | None:
    """What kind of credential `value` looks like, or None."""
    if not isinstance(value, str):
        return None
    return next((what for what, pattern in SECRET_PATTERNS if pattern.search(value)), None)


def shown(value: object) -> str:
    """repr(value) for an error message, unless it looks like a credential."""
    what = looks_secret(value)
    return f"<{what}, not shown>" if what else repr(value)


def find_secret_literals(root: yaml.Node | None, file: str) -> list[ConfigProblem]:
    return [ConfigProblem(file, path, f"this value looks like {what}; {WHERE_IT_BELONGS}", line)
            for path, line, what in _walk(root, "")]


def _walk(node: yaml.Node | None, path: str) -> Iterator[tuple[str, int, str]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            if isinstance(value, yaml.ScalarNode) and value.value and SECRET_KEY.search(name):
                yield child, value.start_mark.line + 1, f"a credential (key {name!r})"
            else:
                yield from _walk(value, child)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, f"{path}[{i}]")
    elif isinstance(node, yaml.ScalarNode):
        what = looks_secret(node.value)
        if what:
            yield path, node.start_mark.line + 1, what
