"""Builds the named notifiers: implicit ones from settings (`slack` when SENTINEL_SLACK_TOKEN is set, `pager`
when SENTINEL_PAGER_BACKEND is set, `console` always) plus every `notifiers:` entry of alert_rules.yaml, whose
`kind` is a "sentinel.notifiers" entry point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentinel.config.settings import Settings
from sentinel.errors import ConfigErrors, ConfigProblem, PluginError
from sentinel.notify.base import Notifier
from sentinel.plugins import notifier_registry


def build_notifiers(config: Any, settings: Settings, extra: Mapping[str, Notifier] | None = None) -> dict[str, Notifier]:
    spec = getattr(config, "spec", config)
    _load = notifier_registry().load
    out: dict[str, Notifier] = {}
    out["console"] = _load("console").create("console", {}, settings)
    if settings.slack_token is not None:
        out["slack"] = _load("slack").create("slack", {}, settings)
    if settings.pager_backend != "none":
        out["pager"] = _load(settings.pager_backend).create("pager", {}, settings)
    problems = []
    for i, n in enumerate(spec.notifiers):
        try:
            out[n.name] = _load(n.kind).create(n.name, dict(n.options), settings)
        except (PluginError, ValueError) as exc:
            problems.append(ConfigProblem(str(settings.config_file), f"notifiers[{i}] ({n.name})", str(exc)))
    if problems:
        raise ConfigErrors(problems)
    out.update(extra or {})
    return out
