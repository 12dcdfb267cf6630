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

from sentinel.api import Params
from sentinel.config.references import cross_references
from sentinel.config.secret_literals import find_secret_literals, shown
from sentinel.config.spec import SentinelConfig
from sentinel.config.yaml_source import gc_paused, node_line, read_yaml, read_yaml_fast, yaml_path
from sentinel.errors import ConfigErrors, ConfigProblem, PluginError
from sentinel.plugins import Registry, notifier_registry, suggest
from sentinel.runbooks import available, runbooks_dir


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config: the spec plus each enabled check's validated params model."""

    path: Path
    spec: SentinelConfig
    params: dict[str, BaseModel]


def load_config(path: Path, registry: Registry) -> LoadedConfig:
    """Raise ConfigErrors listing every problem; never a partial config."""
    with gc_paused():
        return _load(path, registry)


def _load(path: Path, registry: Registry, *, fast: bool = True) -> LoadedConfig:
    file = str(path)
    # A valid file is read without its node tree; a file with a problem is read again with it, for the lines.
    document = (read_yaml_fast(path) if fast else None) or read_yaml(path)
    data, root = document.data, document.root
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigErrors([ConfigProblem(file, "", f"the top level must be a mapping (checks:, rules:, ...), got "
                                                    f"{type(data).__name__}", 1)])

    problems: list[ConfigProblem] = find_secret_literals(root, file, document.secrets)
    try:
        spec: SentinelConfig | None = SentinelConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems(exc, file, root, SentinelConfig, prefix=()))
        spec = None
    params = _check_params(data, file, root, registry, problems)
    problems.extend(_check_references(data, file, root, params))
    problems.extend(cross_references(data, file, root, notifier_kinds=notifier_registry().kinds(),
                                     runbooks=_known_runbooks()))
    if problems:
        if not document.has_lines:
            return _load(path, registry, fast=False)
        problems.sort(key=lambda p: (p.line or 0, p.path))
        raise ConfigErrors(problems)
    assert spec is not None
    enabled = {c.id for c in spec.checks if c.enabled}
    return LoadedConfig(path, spec, {k: v for k, v in params.items() if k in enabled})


def _check_params(data: dict[str, Any], file: str, root: yaml.Node | None, registry: Registry,
                  problems: list[ConfigProblem]) -> dict[str, BaseModel]:
    """Each check's params validated by its kind's own model; problems are appended with their lines."""
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
            problems.append(ConfigProblem(file, yaml_path((*loc, "kind")), str(exc), node_line(root, (*loc, "kind"))))
            continue
        raw_params = raw.get("params") or {}
        try:
            params[check_id] = cls.Params.model_validate(raw_params)
        except ValidationError as exc:
            problems.extend(_problems(exc, file, root, cls.Params, prefix=(*loc, "params"), context=f"check {check_id!r}"))
    return params


def _check_references(data: dict[str, Any], file: str, root: yaml.Node | None,
                      params: dict[str, BaseModel]) -> list[ConfigProblem]:
    """A check's params that name another check (Params.check_references) must name one of the right kind."""
    raw_checks: list[Any] = data["checks"] if isinstance(data.get("checks"), list) else []
    kinds = {str(c.get("id")): c.get("kind") for c in raw_checks if isinstance(c, dict)}
    problems = []
    for index, raw in enumerate(raw_checks):
        model = params.get(str(raw.get("id"))) if isinstance(raw, dict) else None
        if not isinstance(model, Params):
            continue
        for ref in model.check_references():
            loc = ("checks", index, "params", *ref.loc)
            if ref.check_id not in kinds:
                message = f"unknown check id {ref.check_id!r}{suggest(ref.check_id, list(kinds))}"
            elif kinds[ref.check_id] != ref.kind:
                message = f"check {ref.check_id!r} is a {kinds[ref.check_id]}, not a {ref.kind}"
            else:
                continue
            problems.append(ConfigProblem(file, yaml_path(loc), message, node_line(root, loc)))
    return problems


def _known_runbooks() -> list[str] | None:
    """Runbook names alerts may link to, or None when no runbooks directory exists to check against."""
    directory = runbooks_dir()
    return available(directory) if directory.is_dir() else None


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
        elif "input" in err and err["type"] not in ("model_type",) and not isinstance(err["input"], dict | list) \
                and "got " not in message:  # validators that already quote the value
            message = f"{message} (got {shown(err['input'])})"
        if context:
            message = f"{context}: {message}"
        out.append(ConfigProblem(file, yaml_path(full), message, node_line(root, full)))
    return out


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
        return node_line(read_yaml(path).root, loc)
    except ConfigErrors:
        return None
