"""Secrets do not belong in alert_rules.yaml: it is committed, reviewed, printed by `validate` and `list`.

`find_secret_literals` flags every value that looks like a credential, with its file:line, and says where it
belongs; `looks_secret` lets error messages decline to echo such a value. The value itself is never repeated.
"""

from __future__ import annotations

import functools
import re

import yaml

from sentinel.errors import ConfigProblem

# What a credential looks like, whatever key it sits under, each behind a substring test it cannot match without
# (`://` and `@` for a URL with a password, `xox` for a Slack token...). A config has hundreds of thousands of
# values and almost none is a credential: substring tests in C keep a 25,000-check `validate` out of the regexes.
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


def could_be_secret(v: str) -> bool:
    """One expression of substring tests, evaluated in C until one holds: a pattern above needs its substring."""
    return ("@" in v and "://" in v) or "xox" in v or "hooks.slack.com" in v or "AKIA" in v or "ASIA" in v \
        or "PRIVATE KEY" in v or ("gh" in v and "_" in v) or ("=" in v and "assword" in v.lower())


_GITHUB_PREFIX = re.compile(r"gh[pousr]_")


def text_could_hold_secret(text: str) -> bool:
    """False when no value parsed from `text` can pass `could_be_secret`: each substring it needs is absent from
    the whole file. A backslash (a double-quoted escape can spell any character) keeps every value in doubt, and
    'PRIVATE' stands alone because a folded line break becomes the space of 'PRIVATE KEY'. One scan of the file
    instead of a test per value."""
    return "\\" in text or ("@" in text and "://" in text) or "xox" in text or "hooks.slack.com" in text \
        or "AKIA" in text or "ASIA" in text or "PRIVATE" in text or _GITHUB_PREFIX.search(text) is not None \
        or ("=" in text and "assword" in text.lower())


def looks_secret(value: object) -> str | None:
    """What kind of credential `value` looks like, or None."""
    if not isinstance(value, str) or not could_be_secret(value):
        return None
    for what, pattern in SECRET_PATTERNS:
        if pattern.search(value):
            return what
    return None


@functools.lru_cache(maxsize=4096)
def secret_key(name: str) -> bool:
    # Cached: the same few key names (id, kind, params...) repeat on every check.
    return SECRET_KEY.search(name) is not None


def shown(value: object) -> str:
    """repr(value) for an error message, unless it looks like a credential."""
    what = looks_secret(value)
    return f"<{what}, not shown>" if what else repr(value)


def secret_value(key: object, node: yaml.ScalarNode) -> str | None:
    """What credential a scalar looks like, given the key it sits under (None for a list item or the root)."""
    if key is not None and node.value and secret_key(str(key)):
        return f"a credential (key {str(key)!r})"
    return looks_secret(node.value) if node.tag == "tag:yaml.org,2002:str" else None


def find_secret_literals(root: yaml.Node | None, file: str, hits: list[tuple[yaml.Node, str]]) -> list[ConfigProblem]:
    """The problems for `hits`, the credential-looking scalars the YAML reader found while building the data
    (sentinel/config/yaml_source.py judges each scalar with `secret_value` as it builds it). Paths are worked
    out by a walk that only a file with a secret in it pays for."""
    if not hits or root is None:
        return []
    paths = _value_paths(root, {id(node) for node, _ in hits})
    seen: set[int] = set()
    problems = []
    for node, what in hits:
        if id(node) not in seen:
            seen.add(id(node))
            problems.append(ConfigProblem(file, paths.get(id(node), ""), f"this value looks like {what}; "
                                          f"{WHERE_IT_BELONGS}", node.start_mark.line + 1))
    return problems


def _value_paths(root: yaml.Node, wanted: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in wanted:
            found[id(node)] = path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, f"{path}.{key.value}" if path else str(key.value)) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
    return found
