"""Load alert_rules.yaml: parse safely, validate everything, and report every problem at once with its
YAML path and line, suggesting the closest known kind or field for a typo."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sentinel.config.secret_literals import find_secret_literals, shown
from sentinel.config.spec import SentinelConfig
from sentinel.errors import ConfigErrors, ConfigProblem, PluginError
from sentinel.plugins import Registry, suggest

# libyaml's SafeLoader when PyYAML was built with it: same safety, several times faster on big configs.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config: the spec plus each enabled check's validated params model."""

    path: Path
    spec: SentinelConfig
    params: dict[str, BaseModel]


def load_config(path: Path, registry: Registry) -> LoadedConfig:
    """Raise ConfigErrors listing every problem; never a partial config."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigErrors([ConfigProblem(file, "", "file not found (set SENTINEL_CONFIG_FILE or pass the path)")]) from None
    except OSError as exc:
        raise ConfigErrors([ConfigProblem(file, "", f"cannot read: {exc.strerror}")]) from None
    try:
        root = yaml.compose(text, Loader=_SafeLoader)
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader (libyaml's when built in)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigErrors([ConfigProblem(file, "", f"malformed YAML: {problem}", line)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigErrors([ConfigProblem(file, "", f"the top level must be a mapping, got {type(data).__name__}", 1)])

    problems: list[ConfigProblem] = find_secret_literals(root, file)
    try:
        spec = SentinelConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems(exc, file, root, SentinelConfig, prefix=()))
        spec = None

    params: dict[str, BaseModel] = {}
    raw_checks: list[Any] = data["checks"] if isinstance(data.get("checks"), list) else []
    for index, raw in enumerate(raw_checks):
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
            continue
        kind, check_id = raw["kind"], str(raw.get("id", f"#{index}"))
        loc: tuple[str | int, ...] = ("checks", index)
        try:
            cls = registry.load(kind)
        except PluginError as exc:
            problems.append(ConfigProblem(file, _path((*loc, "kind")), str(exc), _line(root, (*loc, "kind"))))
            continue
        raw_params = raw.get("params") or {}
        try:
            params[check_id] = cls.Params.model_validate(raw_params)
        except ValidationError as exc:
            problems.extend(_problems(exc, file, root, cls.Params, prefix=(*loc, "params"), context=f"check {check_id!r}"))

    if spec is not None:
        problems.extend(_cross_references(spec, file, root))
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.path))
        raise ConfigErrors(problems)
    assert spec is not None
    enabled = {c.id for c in spec.checks if c.enabled}
    return LoadedConfig(path, spec, {k: v for k, v in params.items() if k in enabled})


def _cross_references(spec: SentinelConfig, file: str, root: yaml.Node | None) -> list[ConfigProblem]:
    out: list[ConfigProblem] = []
    loc: tuple[str | int, ...]
    check_ids = [c.id for c in spec.checks]
    route_names = [r.name for r in spec.routes]
    # "slack" and "pager" are built from settings (SENTINEL_SLACK_TOKEN, SENTINEL_PAGER_BACKEND); the alerting
    # pipeline reports a route that names one of them while it is not configured.
    receiver_names = [n.name for n in spec.notifiers] + ["console", "slack", "pager"]
    for i, rule in enumerate(spec.rules):
        for j, cid in enumerate(rule.checks):
            if cid not in check_ids:
                loc = ("rules", i, "checks", j)
                msg = f"unknown check id {cid!r}{suggest(cid, check_ids)}"
                out.append(ConfigProblem(file, _path(loc), msg, _line(root, loc)))
        if rule.route is not None and rule.route not in route_names:
            loc = ("rules", i, "route")
            msg = f"unknown route {rule.route!r}{suggest(rule.route, route_names)}; routes: {', '.join(route_names) or 'none'}"
            out.append(ConfigProblem(file, _path(loc), msg, _line(root, loc)))
    for i, route in enumerate(spec.routes):
        for j, receiver in enumerate(route.receivers):
            if receiver not in receiver_names:
                loc = ("routes", i, "receivers", j)
                msg = f"unknown receiver {receiver!r}{suggest(receiver, receiver_names)}; notifiers: {', '.join(receiver_names)}"
                out.append(ConfigProblem(file, _path(loc), msg, _line(root, loc)))
    for i, sla in enumerate(spec.slas):
        if sla.check not in check_ids:
            loc = ("slas", i, "check")
            msg = f"unknown check id {sla.check!r}{suggest(sla.check, check_ids)}"
            out.append(ConfigProblem(file, _path(loc), msg, _line(root, loc)))
    return out


def _problems(
    exc: ValidationError,
    file: str,
    root: yaml.Node | None,
    model: type[BaseModel],
    prefix: tuple[str | int, ...],
    context: str = "",
) -> list[ConfigProblem]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        full = (*prefix, *loc)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc:
            known = _fields_at(model, loc[:-1])
            message = f"unknown key {loc[-1]!r}{suggest(str(loc[-1]), known)}"
            if known:
                message += f"; allowed: {', '.join(known)}"
        elif err["type"] == "missing":
            message = f"required key {loc[-1]!r} is missing" if loc else "required value is missing"
        elif "input" in err and err["type"] not in ("model_type",) and not isinstance(err["input"], dict | list):
            message = f"{message} (got {shown(err['input'])})"
        if context:
            message = f"{context}: {message}"
        out.append(ConfigProblem(file, _path(full), message, _line(root, full)))
    return out


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node that loc reaches (the key itself for a mapping entry)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    line = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names (aliases where set) of the model found by walking loc from `model`."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        current = _unwrap(current)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return []
        current = field.annotation
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(f.alias or name for name, f in current.model_fields.items())
    return []


def _unwrap(annotation: Any) -> Any:
    """list[X] / dict[str, X] / X | None -> X."""
    for _ in range(4):
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (list, tuple, set) and args:
            annotation = args[0]
        elif origin is dict and len(args) == 2:
            annotation = args[1]
        elif (origin in (typing.Union, types.UnionType) and len(args) == 1) or (origin is typing.Annotated and args):
            annotation = args[0]
        else:
            break
    return annotation


def line_of(path: Path, loc: tuple[str | int, ...]) -> int | None:
    """The line of `loc` (e.g. ("checks", 2, "params", "bucket")) in a config file, for messages that point there."""
    try:
        return _line(yaml.compose(path.read_text(encoding="utf-8"), Loader=_SafeLoader), loc)
    except (OSError, yaml.YAMLError):
        return None
