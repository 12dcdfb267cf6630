"""Shared pieces of the YAML specs: strict models (unknown keys are errors) and label matchers."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)]
RunbookName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]


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
