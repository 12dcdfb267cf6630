"""Registry of check and notifier kinds over entry points ("sentinel.checks", "sentinel.notifiers").

Names are listed without importing anything; a kind's module is imported only when a config uses it,
so heavy clients (confluent-kafka, snowflake) load only for the checks that need them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from sentinel.errors import PluginError

CHECKS_GROUP = "sentinel.checks"
NOTIFIERS_GROUP = "sentinel.notifiers"


def suggest(word: str, choices: list[str]) -> str:
    """' (did you mean "x"?)' or ''."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class Registry:
    def __init__(
        self,
        group: str,
        validate: Callable[[str, Any], None],
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.group = group
        self._validate = validate
        self._entry_points: dict[str, EntryPoint] = {}
        self._loaded: dict[str, Any] = dict(extra or {})
        duplicates: dict[str, list[str]] = {}
        for ep in entry_points(group=group):
            if ep.name in self._entry_points and self._entry_points[ep.name].value != ep.value:
                duplicates.setdefault(ep.name, [self._entry_points[ep.name].value]).append(ep.value)
            self._entry_points[ep.name] = ep
        if duplicates:
            listed = "; ".join(f"{name}: {', '.join(values)}" for name, values in sorted(duplicates.items()))
            raise PluginError(f"duplicate {group} kinds registered by more than one package: {listed}")

    def kinds(self) -> list[str]:
        return sorted(set(self._entry_points) | set(self._loaded))

    def unknown_kind_message(self, kind: str) -> str:
        noun = "check" if self.group == CHECKS_GROUP else "notifier"
        return f"unknown {noun} kind {kind!r}{suggest(kind, self.kinds())}; known kinds: {', '.join(self.kinds())}"

    def load(self, kind: str) -> Any:
        if kind in self._loaded:
            return self._loaded[kind]
        ep = self._entry_points.get(kind)
        if ep is None:
            raise PluginError(self.unknown_kind_message(kind))
        try:
            obj = ep.load()
        except ModuleNotFoundError as exc:
            from sentinel.extras import extra_for_module, install_hint

            extra = extra_for_module(exc.name or "")
            if extra is None:
                raise PluginError(f"{self.group} kind {kind!r} ({ep.value}) failed to import: {exc}") from exc
            raise PluginError(f"{self.group} kind {kind!r} needs the optional package {exc.name!r}, which is not "
                              f"installed: {install_hint(extra)}") from exc
        except Exception as exc:
            raise PluginError(f"{self.group} kind {kind!r} ({ep.value}) failed to import: {exc}") from exc
        self._validate(kind, obj)
        self._loaded[kind] = obj
        return obj


def _validate_check(kind: str, cls: Any) -> None:
    from pydantic import BaseModel

    problems = []
    if not isinstance(cls, type):
        problems.append("is not a class")
    else:
        if getattr(cls, "kind", None) != kind:
            problems.append(f"has kind={getattr(cls, 'kind', None)!r}, expected {kind!r} (the entry-point name)")
        params = getattr(cls, "Params", None)
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            problems.append("has no pydantic `Params` model")
        if not callable(getattr(cls, "run", None)):
            problems.append("has no run(ctx) method")
        if not isinstance(getattr(cls, "runbook", None), str):
            problems.append("has no `runbook` name")
    if problems:
        raise PluginError(f"check plugin {kind!r} ({cls!r}) " + "; ".join(problems))


def _validate_notifier(kind: str, cls: Any) -> None:
    if not isinstance(cls, type) or not callable(getattr(cls, "send", None)):
        raise PluginError(f"notifier plugin {kind!r} ({cls!r}) must be a class with a send(message) method")


def check_registry(extra: Mapping[str, Any] | None = None) -> Registry:
    return Registry(CHECKS_GROUP, _validate_check, extra)


def notifier_registry(extra: Mapping[str, Any] | None = None) -> Registry:
    return Registry(NOTIFIERS_GROUP, _validate_notifier, extra)
