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


class Spec(BaseModel):
    """Base of every parsed YAML type: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
