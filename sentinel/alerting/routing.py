"""Routes match alerts on labels and severity and name receivers; a route groups its alerts by labels so
200 checks failing because one database is down arrive as one message.

Without `routes:` in config the defaults apply: everything to Slack `#data-pipeline-alerts` (or the console
when Slack is not configured), and critical alerts also to the pager when one is configured.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sentinel.alerting.silences import alert_labels
from sentinel.alerting.types import AlertState
from sentinel.config.base import label_matches
from sentinel.errors import ConfigProblem
from sentinel.model import Severity
from sentinel.rules import Rule


@dataclass(frozen=True)
class Route:
    name: str
    receivers: tuple[str, ...]
    match: dict[str, str] = field(default_factory=dict)
    min_severity: Severity = Severity.WARNING
    group_by: tuple[str, ...] = ("stage",)
    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    continue_: bool = True

    def matches(self, state: AlertState, severity: Severity | None = None) -> bool:
        sev = severity or state.severity
        return sev.rank >= self.min_severity.rank and label_matches(self.match, alert_labels(state))

    def group_key(self, state: AlertState) -> str:
        return ",".join(f"{k}={state.labels.get(k, '')}" for k in self.group_by) or "all"


def compile_routes(specs: Sequence[object], receivers: Sequence[str], *, slack: bool, pager: bool) -> list[Route]:
    if specs:
        return [
            Route(
                name=s.name, receivers=tuple(s.receivers), match=dict(s.match),  # type: ignore[attr-defined]
                min_severity=Severity(s.min_severity), group_by=tuple(s.group_by),  # type: ignore[attr-defined]
                group_wait=s.group_wait, group_interval=s.group_interval,  # type: ignore[attr-defined]
                continue_=s.continue_,  # type: ignore[attr-defined]
            )
            for s in specs
        ]
    chat = "slack" if slack and "slack" in receivers else "console"
    routes = [Route(name="default", receivers=(chat,))]
    if pager and "pager" in receivers:
        routes.append(Route(name="page", receivers=("pager",), min_severity=Severity.CRITICAL))
    return routes


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        self.by_name = {r.name: r for r in self.routes}

    def routes_for(self, state: AlertState) -> list[Route]:
        """Routes an alert is sent to at its current severity (a rule may pin one route by name)."""
        if state.route and state.route in self.by_name:
            route = self.by_name[state.route]
            return [route] if route.matches(state) else []
        chosen = []
        for route in self.routes:
            if route.matches(state):
                chosen.append(route)
                if not route.continue_:
                    break
        return chosen

    def routes_for_any_severity(self, state: AlertState) -> list[Route]:
        """Routes that may have announced this alert (for resolves): label match only."""
        if state.route and state.route in self.by_name:
            return [self.by_name[state.route]]
        return [r for r in self.routes if label_matches(r.match, alert_labels(state))]


_RECEIVER_HINTS = {"slack": " (set SENTINEL_SLACK_TOKEN to enable the built-in `slack` receiver)",
                   "pager": " (set SENTINEL_PAGER_BACKEND and its key to enable the built-in `pager`)"}


def route_problems(router: Router, notifiers: Collection[str], rules: Sequence[Rule],
                   config_file: str) -> list[ConfigProblem]:
    """Receivers a route names that are not configured, and routes a rule names that do not exist."""
    problems = [
        ConfigProblem(config_file, f"routes[{i}].receivers",
                      f"route {route.name!r} names receiver {name!r}, but the notifiers are: "
                      f"{', '.join(sorted(notifiers)) or 'none'}{_RECEIVER_HINTS.get(name, '')}")
        for i, route in enumerate(router.routes) for name in route.receivers if name not in notifiers]
    problems += [ConfigProblem(config_file, f"rules.{rule.id}.route",
                               f"unknown route {rule.route!r}; routes: {sorted(router.by_name)}")
                 for rule in rules if rule.route and rule.route not in router.by_name]
    return problems


def group_thread_key(route: str, group_key: str, first_fingerprint: str, at_iso: str) -> str:
    payload = json.dumps([route, group_key, first_fingerprint, at_iso])
    return "sentinel-grp-" + hashlib.sha256(payload.encode()).hexdigest()[:20]
