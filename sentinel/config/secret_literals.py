"""Secrets do not belong in alert_rules.yaml: it is committed, reviewed, printed by `validate` and `list`.

`find_secret_literals` flags every value that looks like a credential, with its file:line, and says where it
belongs; `looks_secret` lets error messages decline to echo such a value. The value itself is never repeated.
"""

from __future__ import annotations

import functools
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


def _could_be_secret(value: str) -> bool:
    """A pre-filter on text each pattern above cannot match without (`://` and `@` for a URL with a password, `=`
    for a DSN, `xox`, ...). A config has hundreds of thousands of values and almost none is a credential: substring
    tests in C keep a 25,000-check `validate` from spending most of a second in the regular expressions."""
    return ("@" in value and "://" in value) or "=" in value or "xox" in value or "hooks.slack.com" in value \
        or "AKIA" in value or "ASIA" in value or "PRIVATE KEY" in value or ("gh" in value and "_" in value)


def looks_secret(value: object) -> str | None:
    """What kind of credential `value` looks like, or None."""
    if not isinstance(value, str) or not _could_be_secret(value):
        return None
    return next((what for what, pattern in SECRET_PATTERNS if pattern.search(value)), None)


@functools.lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    # Cached: the same few key names (id, kind, params...) repeat on every check.
    return SECRET_KEY.search(name) is not None


def shown(value: object) -> str:
    """repr(value) for an error message, unless it looks like a credential."""
    what = looks_secret(value)
    return f"<{what}, not shown>" if what else repr(value)


def find_secret_literals(root: yaml.Node | None, file: str) -> list[ConfigProblem]:
    return [ConfigProblem(file, path, f"this value looks like {what}; {WHERE_IT_BELONGS}", line)
            for path, line, what in _walk(root, "")]


def _walk(root: yaml.Node | None, path: str) -> Iterator[tuple[str, int, str]]:
    """Every credential-looking value with its YAML path. Iterative, each node once: a generator per level
    (yield from ...) made a 25,000-check file cost ~0.7 s here."""
    stack: list[tuple[yaml.Node | None, str]] = [(root, path)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = str(key.value)
                child = f"{path}.{name}" if path else name
                if isinstance(value, yaml.ScalarNode) and value.value and _secret_key(name):
                    yield child, value.start_mark.line + 1, f"a credential (key {name!r})"
                else:
                    stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
        elif isinstance(node, yaml.ScalarNode):
            what = looks_secret(node.value)
            if what:
                yield path, node.start_mark.line + 1, what
