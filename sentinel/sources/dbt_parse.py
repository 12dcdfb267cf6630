"""Parsing dbt artifacts: run_results.json (v6) and sources.json (v3) here, manifest.json (v12) in dbt_manifest.

Only the fields Sentinel needs are read, with `.get` so unknown or new fields are ignored. The version
is taken from `metadata.dbt_schema_version` (".../run-results/v6.json"); any other version, a missing
version, or malformed JSON raises ArtifactError naming the file and what was found.

Speed: a 5,000-node manifest is ~20 MB. JSON decoding is the main cost (~0.3 s, less with the cyclic GC paused);
manifest nodes are kept as the decoded dicts and converted only when asked for. See benchmarks/dbt_parse.py.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sentinel.errors import SourceError

SUPPORTED_VERSIONS: Mapping[str, tuple[int, ...]] = {"run-results": (6,), "manifest": (12,), "sources": (3,)}
_DBT_RELEASES = {"run-results": "dbt 1.8+", "manifest": "dbt 1.8+", "sources": "dbt 1.5+"}
_VERSION_RE = re.compile(r"/(run-results|manifest|sources)/v(\d+)\.json$")
_PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ArtifactError(SourceError):
    """A dbt artifact Sentinel cannot read: malformed JSON or a schema version it does not support."""

    def __init__(self, file: str, problem: str, *, hint: str = "") -> None:
        self.file = file
        super().__init__(f"dbt artifact {file}: {problem}", hint=hint)


def as_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# Typed reads of the fields a decision depends on. A wrong type is an ArtifactError naming the file and the JSON
# path, never an AttributeError or ValueError from deep inside the check; optional text fields of another type are
# read as absent (they only decorate a message).


def object_field(data: dict[str, Any], key: str, file: str) -> dict[str, Any]:
    """data[key] as an object keyed by unique_id ({} when absent)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArtifactError(file, f"`{key}` is a JSON {_json_type(value)}, expected an object keyed by unique_id",
                            hint="the file was not written by dbt, or was edited or truncated")
    return value


def list_field(data: dict[str, Any], key: str, file: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArtifactError(file, f"`{key}` is a JSON {_json_type(value)}, expected a list",
                            hint="the file was not written by dbt, or was edited or truncated")
    return value


def number_field(item: dict[str, Any], key: str, file: str, where: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArtifactError(file, f"{where}.{key} is {_preview(value)}, expected a number",
                            hint="the file was not written by dbt, or was edited")
    return float(value)


def text_field(item: dict[str, Any], key: str, file: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ArtifactError(file, f"{where}.{key} is {_preview(value)}, expected a non-empty string",
                            hint="the file was not written by dbt, or was edited")
    return value


def optional_text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _preview(value: Any) -> str:
    text = "missing" if value is None else f"{value!r}"
    return text if len(text) <= 40 else text[:39] + "…"


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _decode(raw: bytes) -> Any:
    """json.loads with the cyclic GC paused: decoding builds millions of acyclic objects, and the collections
    they would trigger cost ~20% of the parse time of a large manifest for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(raw)
    finally:
        if enabled:
            gc.enable()


def load_artifact(raw: bytes, file: str, kind: str) -> dict[str, Any]:
    """Decode JSON and check `metadata.dbt_schema_version` against SUPPORTED_VERSIONS[kind]."""
    try:
        data = _decode(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(file, f"malformed JSON ({exc}); version: unknown",
                            hint="the upload may be truncated; check the dbt job's artifact upload step") from None
    if not isinstance(data, dict):
        raise ArtifactError(file, f"expected a JSON object, found {type(data).__name__}; version: unknown")
    metadata = as_object(data.get("metadata"))
    schema = str(metadata.get("dbt_schema_version") or "")
    dbt_version = metadata.get("dbt_version") or "unknown"
    match = _VERSION_RE.search(schema)
    wanted = ", ".join(f"{kind} v{v}" for v in SUPPORTED_VERSIONS[kind])
    if match is None or match.group(1) != kind:
        found = schema or "no metadata.dbt_schema_version"
        raise ArtifactError(file, f"is not a dbt {kind} artifact (found {found}, dbt {dbt_version}); "
                                  f"Sentinel reads {wanted}")
    version = int(match.group(2))
    if version not in SUPPORTED_VERSIONS[kind]:
        raise ArtifactError(
            file, f"unsupported version {kind} v{version} (dbt {dbt_version}); Sentinel reads {wanted}",
            hint=f"run the job with {_DBT_RELEASES[kind]} (dbt-core 1.11 writes {wanted})",
        )
    data["_schema_version"] = version
    return data


# ---------------------------------------------------------------- run_results.json


@dataclass(frozen=True, slots=True)
class NodeResult:
    unique_id: str
    status: str  # model: success/error/skipped; test: pass/fail/warn/error/skipped; ...
    message: str | None
    failures: int | None
    execution_seconds: float
    compiled_code: str | None
    relation_name: str | None

    @property
    def resource_type(self) -> str:
        return self.unique_id.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class RunResults:
    file: str
    schema_version: int
    dbt_version: str
    generated_at: datetime
    invocation_id: str
    elapsed_seconds: float
    command: str | None
    results: tuple[NodeResult, ...]

    def by_id(self) -> dict[str, NodeResult]:
        return {r.unique_id: r for r in self.results}


def _metadata(data: dict[str, Any], file: str) -> tuple[dict[str, Any], datetime]:
    """An artifact's metadata block and its generated_at, which every freshness judgement needs."""
    meta = as_object(data.get("metadata"))
    generated_at = parse_timestamp(meta.get("generated_at"))
    if generated_at is None:
        raise ArtifactError(file, f"metadata.generated_at is missing or not a timestamp: {meta.get('generated_at')!r}")
    return meta, generated_at


def parse_run_results(raw: bytes, file: str) -> RunResults:
    data = load_artifact(raw, file, "run-results")
    meta, generated_at = _metadata(data, file)
    results = [_node_result(item, file, f"results[{i}]") for i, item in enumerate(list_field(data, "results", file))]
    args = as_object(data.get("args"))
    return RunResults(
        file=file,
        schema_version=data["_schema_version"],
        dbt_version=str(meta.get("dbt_version") or "unknown"),
        generated_at=generated_at,
        invocation_id=str(meta.get("invocation_id") or ""),
        elapsed_seconds=number_field(data, "elapsed_time", file, "run") or 0.0,
        command=str(args["which"]) if args.get("which") else None,
        results=tuple(results),
    )


def _node_result(item: Any, file: str, where: str) -> NodeResult:
    if not isinstance(item, dict):
        raise ArtifactError(file, f"{where} is a JSON {_json_type(item)}, expected an object",
                            hint="the file was not written by dbt, or was edited")
    failures = number_field(item, "failures", file, where)
    return NodeResult(
        unique_id=text_field(item, "unique_id", file, where),
        status=text_field(item, "status", file, where),
        message=optional_text(item, "message"),
        failures=int(failures) if failures is not None else None,
        execution_seconds=number_field(item, "execution_time", file, where) or 0.0,
        compiled_code=optional_text(item, "compiled_code"),
        relation_name=optional_text(item, "relation_name"),
    )


# ---------------------------------------------------------------- sources.json


@dataclass(frozen=True, slots=True)
class FreshnessResult:
    unique_id: str
    status: str  # pass / warn / error / runtime error
    max_loaded_at: datetime | None
    snapshotted_at: datetime | None
    age_seconds: float | None
    warn_after: timedelta | None
    error_after: timedelta | None
    filter: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class SourcesResults:
    file: str
    schema_version: int
    generated_at: datetime
    invocation_id: str
    results: tuple[FreshnessResult, ...]


def _threshold(value: Any, file: str, where: str) -> timedelta | None:
    """{"count": 30, "period": "minute"}; dbt writes nulls for a threshold that is not set."""
    if not isinstance(value, dict) or not isinstance(value.get("period"), str) or value["period"] not in _PERIOD_SECONDS:
        return None
    count = number_field(value, "count", file, where)
    return timedelta(seconds=count * _PERIOD_SECONDS[value["period"]]) if count else None


def parse_sources(raw: bytes, file: str) -> SourcesResults:
    data = load_artifact(raw, file, "sources")
    meta, generated_at = _metadata(data, file)
    results = [_freshness_result(item, file, f"results[{i}]")
               for i, item in enumerate(list_field(data, "results", file))]
    return SourcesResults(file, data["_schema_version"], generated_at, str(meta.get("invocation_id") or ""),
                          tuple(results))


def _freshness_result(item: Any, file: str, where: str) -> FreshnessResult:
    if not isinstance(item, dict):
        raise ArtifactError(file, f"{where} is a JSON {_json_type(item)}, expected an object",
                            hint="the file was not written by dbt, or was edited")
    criteria = as_object(item.get("criteria"))
    return FreshnessResult(
        unique_id=text_field(item, "unique_id", file, where),
        status=text_field(item, "status", file, where),
        max_loaded_at=parse_timestamp(item.get("max_loaded_at")),
        snapshotted_at=parse_timestamp(item.get("snapshotted_at")),
        age_seconds=number_field(item, "max_loaded_at_time_ago_in_s", file, where),
        warn_after=_threshold(criteria.get("warn_after"), file, f"{where}.criteria.warn_after"),
        error_after=_threshold(criteria.get("error_after"), file, f"{where}.criteria.error_after"),
        filter=optional_text(criteria, "filter"),
        error=optional_text(item, "error"),
    )
