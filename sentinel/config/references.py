"""Checks across sections of alert_rules.yaml: duplicate ids, names that point nowhere (checks, routes,
receivers, notifier kinds, runbooks), and an empty file.

They read the raw YAML data, not the validated spec, so they run even when a schema error elsewhere makes the
spec unbuildable: `sentinel validate` lists every problem at once. Each id list becomes a set first, so a file
with 25,000 checks costs one pass per section (benchmarks/validate.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import yaml

from sentinel.config.yaml_source import node_line, yaml_path
from sentinel.errors import ConfigProblem
from sentinel.plugins import suggest

# Section -> the key that names its items; those names must be unique within the section.
_NAMED_SECTIONS = {"checks": "id", "rules": "id", "notifiers": "name", "routes": "name", "slas": "id"}
# Receivers built from settings (SENTINEL_SLACK_TOKEN, SENTINEL_PAGER_BACKEND); the alerting pipeline reports a
# route that names one of them while it is not configured.
_BUILT_IN_RECEIVERS = ("console", "slack", "pager")

Loc = tuple[str | int, ...]


class _Reporter:
    """Collects problems with the line of their YAML path."""

    def __init__(self, file: str, root: yaml.Node | None) -> None:
        self.file, self.root = file, root
        self.problems: list[ConfigProblem] = []

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, yaml_path(loc), message, node_line(self.root, loc)))


def _items(data: dict[str, Any], section: str) -> Iterator[tuple[int, dict[str, Any]]]:
    value = data.get(section)
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def _names(data: dict[str, Any], section: str) -> list[str]:
    key = _NAMED_SECTIONS[section]
    return [str(item[key]) for _, item in _items(data, section) if isinstance(item.get(key), str)]


def cross_references(data: dict[str, Any], file: str, root: yaml.Node | None, *,
                     notifier_kinds: list[str], runbooks: list[str] | None) -> list[ConfigProblem]:
    """Every cross-section problem. `runbooks` is None when no runbooks directory was found (names then only
    have to look like runbook names, which the schema checks)."""
    report = _Reporter(file, root)
    _watches_something(data, report)
    for section in _NAMED_SECTIONS:
        _duplicates(data, section, report)
    check_ids = _names(data, "checks")
    _rule_references(data, report, check_ids, _names(data, "routes"))
    receivers = [*_names(data, "notifiers"), *_BUILT_IN_RECEIVERS]
    _route_references(data, report, receivers)
    _notifier_kinds(data, report, notifier_kinds)
    _sla_references(data, report, check_ids)
    if runbooks is not None:
        _runbook_references(data, report, runbooks)
    return report.problems


def _watches_something(data: dict[str, Any], report: _Reporter) -> None:
    if not data:
        # An empty file or one with only comments: never what anyone meant, and `check --once` would report
        # "0 checks" with exit 0, so a monitor that watches nothing would look healthy. (`checks: []` with a
        # `report:` section is a report-only daemon, which is allowed; `check --once` refuses to run nothing.)
        report.add((), "the file is empty (or only comments): add a `checks:` list (see the shipped alert_rules.yaml)")


def _duplicates(data: dict[str, Any], section: str, report: _Reporter) -> None:
    key = _NAMED_SECTIONS[section]
    first: dict[str, int] = {}
    for index, item in _items(data, section):
        name = item.get(key)
        if not isinstance(name, str):
            continue
        if name in first:
            where = node_line(report.root, (section, first[name], key))
            report.add((section, index, key), f"duplicate {section} {key} {name!r} (first defined at "
                                              f"{section}[{first[name]}], line {where}); {key}s must be unique")
        else:
            first[name] = index


def _unknown(report: _Reporter, loc: Loc, what: str, name: str, known: list[str], known_set: set[str],
             listing: Callable[[], str] | None = None) -> None:
    if name in known_set:
        return
    message = f"unknown {what} {name!r}{suggest(name, known)}"
    if listing is not None:
        message += f"; {listing()}"
    report.add(loc, message)


def _rule_references(data: dict[str, Any], report: _Reporter, check_ids: list[str], routes: list[str]) -> None:
    check_set, route_set = set(check_ids), set(routes)
    for i, rule in _items(data, "rules"):
        checks = rule.get("checks")
        for j, cid in enumerate(checks if isinstance(checks, list) else []):
            if isinstance(cid, str):
                _unknown(report, ("rules", i, "checks", j), "check id", cid, check_ids, check_set)
        route = rule.get("route")
        if isinstance(route, str):
            _unknown(report, ("rules", i, "route"), "route", route, routes, route_set,
                     lambda: f"routes: {', '.join(routes) or 'none'}")


def _route_references(data: dict[str, Any], report: _Reporter, receivers: list[str]) -> None:
    receiver_set = set(receivers)
    for i, route in _items(data, "routes"):
        names = route.get("receivers")
        for j, receiver in enumerate(names if isinstance(names, list) else []):
            if isinstance(receiver, str):
                _unknown(report, ("routes", i, "receivers", j), "receiver", receiver, receivers, receiver_set,
                         lambda: f"notifiers: {', '.join(receivers)}")


def _notifier_kinds(data: dict[str, Any], report: _Reporter, kinds: list[str]) -> None:
    """A misspelt kind (`slak`) would otherwise fail only when the daemon builds its notifiers."""
    kind_set = set(kinds)
    for i, notifier in _items(data, "notifiers"):
        kind = notifier.get("kind")
        if isinstance(kind, str):
            _unknown(report, ("notifiers", i, "kind"), "notifier kind", kind, kinds, kind_set,
                     lambda: f"known kinds: {', '.join(kinds)}")


def _sla_references(data: dict[str, Any], report: _Reporter, check_ids: list[str]) -> None:
    check_set = set(check_ids)
    for i, sla in _items(data, "slas"):
        cid = sla.get("check")
        if isinstance(cid, str):
            _unknown(report, ("slas", i, "check"), "check id", cid, check_ids, check_set)


def _runbook_references(data: dict[str, Any], report: _Reporter, runbooks: list[str]) -> None:
    """A runbook that does not exist would put a dead link in every alert of that check or rule."""
    runbook_set = set(runbooks)
    for section in ("checks", "rules"):
        for i, item in _items(data, section):
            name = item.get("runbook")
            if isinstance(name, str) and _looks_like_name(name):
                _unknown(report, (section, i, "runbook"), "runbook", name, runbooks, runbook_set,
                         lambda: f"runbooks: {', '.join(runbooks)} (add runbooks/<name>.md for a new one)")


def _looks_like_name(name: str) -> bool:
    """Paths and other shapes are refused by the schema with their own message; do not report them twice."""
    from sentinel.config.base import RUNBOOK_NAME

    return RUNBOOK_NAME.fullmatch(name) is not None
