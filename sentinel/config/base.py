"""Shared pieces of the YAML specs: strict models (unknown keys are errors) and label matchers."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,79}")


def _identifier(value: str) -> str:
    # Ids become metric labels, alert keys and Slack text: a tight alphabet keeps them safe everywhere.
    if IDENTIFIER.fullmatch(value) is None:
        suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_")
        hint = f", e.g. {suggestion!r}" if IDENTIFIER.fullmatch(suggestion) else ""
        raise ValueError(f"an id is lowercase letters, digits and '_', starting with a letter, at most 80 characters"
                         f"{hint}")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
RUNBOOK_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")


def _runbook_name(value: str) -> str:
    # Alerts link to runbook_base_url + name + ".md": a path here would become a link outside the runbooks.
    if RUNBOOK_NAME.fullmatch(value) is None:
        stem = value.rsplit("/", 1)[-1].removesuffix(".md")
        example = stem if RUNBOOK_NAME.fullmatch(stem) else "sql-threshold"
        raise ValueError(f"a runbook is the name of a file in runbooks/ without '.md' (lowercase letters, digits and"
                         f" '-', e.g. {example!r}), not a path or URL")
    return value


RunbookName = Annotated[str, AfterValidator(_runbook_name)]


def matcher_problem(key: str, want: str) -> str | None:
    """Why a label matcher can never work, or None. A `~regex` that does not compile would raise each time an
    alert is matched against it (in the daemon, not here), so it is refused where it is written."""
    if want.startswith("~"):
        try:
            re.compile(want[1:])
        except re.error as exc:
            return f"matcher {key}={want!r}: not a valid regular expression ({exc}); escape special characters with \\"
    return None


def _matchers(matchers: dict[str, str]) -> dict[str, str]:
    problems = [p for key, want in matchers.items() if (p := matcher_problem(key, want))]
    if problems:
        raise ValueError("; ".join(problems))
    return matchers


# `key: value` equality, `key: "~regex"` full match, `key: "!value"` inequality (see label_matches).
Matchers = Annotated[dict[str, str], AfterValidator(_matchers)]


class Spec(BaseModel):
    """Base of every parsed YAML type: unknown keys are errors, values are immutable, and numbers are finite
    (a threshold of .nan is never crossed, so it would silently never alert)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def label_matches(matchers: dict[str, str], labels: dict[str, str] | object) -> bool:
    """`key: value` is equality; `key: "~regex"` is a full-match regex; `key: "!value"` is inequality."""
    get = labels.get if isinstance(labels, dict) else getattr(labels, "get")  # noqa: B009
    for key, want in matchers.items():
        have = get(key)
        if want.startswith("~"):
            if have is None or re.fullmatch(want[1:], str(have)) is None:
                return False
        elif want.startswith("!"):
            if have == want[1:]:
                return False
        elif have != want:
            return False
    return True
