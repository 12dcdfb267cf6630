"""Parsing dbt artifacts: run_results.json (v6), manifest.json (v12), sources.json (v3).

Only the fields Sentinel needs are read, with `.get` so unknown or new fields are ignored. The version
is taken from `metadata.dbt_schema_version` (".../run-results/v6.json"); any other version, a missing
version, or malformed JSON raises ArtifactError naming the file and what was found.

Speed: a 5,000-node manifest is ~20 MB. The stdlib JSON decoder is the main cost (~0.3 s); manifest
nodes are kept as the decoded dicts and turned into ManifestNode only when asked for (the check asks
for the few nodes that failed, not for all of them). See benchmarks/dbt_parse.py.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable, Mapping
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


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _datetime(value: Any) -> datetime | None:
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


def _load(raw: bytes, file: str, kind: str) -> dict[str, Any]:
    """Decode JSON and check `metadata.dbt_schema_version` against SUPPORTED_VERSIONS[kind]."""
    try:
        data = _decode(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(file, f"malformed JSON ({exc}); version: unknown",
                            hint="the upload may be truncated; check the dbt job's artifact upload step") from None
    if not isinstance(data, dict):
        raise ArtifactError(file, f"expected a JSON object, found {type(data).__name__}; version: unknown")
    metadata = _obj(data.get("metadata"))
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


def parse_run_results(raw: bytes, file: str) -> RunResults:
    data = _load(raw, file, "run-results")
    meta = _obj(data.get("metadata"))
    generated_at = _datetime(meta.get("generated_at"))
    if generated_at is None:
        raise ArtifactError(file, f"metadata.generated_at is missing or not a timestamp: {meta.get('generated_at')!r}")
    results = []
    for item in data.get("results") or ():
        if not isinstance(item, dict) or not isinstance(item.get("unique_id"), str):
            continue
        failures = item.get("failures")
        results.append(NodeResult(
            unique_id=item["unique_id"],
            status=str(item.get("status") or "unknown"),
            message=item.get("message") if isinstance(item.get("message"), str) else None,
            failures=int(failures) if isinstance(failures, int | float) else None,
            execution_seconds=float(item.get("execution_time") or 0.0),
            compiled_code=item.get("compiled_code") if isinstance(item.get("compiled_code"), str) else None,
            relation_name=item.get("relation_name") if isinstance(item.get("relation_name"), str) else None,
        ))
    args = _obj(data.get("args"))
    return RunResults(
        file=file,
        schema_version=data["_schema_version"],
        dbt_version=str(meta.get("dbt_version") or "unknown"),
        generated_at=generated_at,
        invocation_id=str(meta.get("invocation_id") or ""),
        elapsed_seconds=float(data.get("elapsed_time") or 0.0),
        command=str(args["which"]) if args.get("which") else None,
        results=tuple(results),
    )


# ---------------------------------------------------------------- manifest.json


@dataclass(frozen=True, slots=True)
class ManifestNode:
    unique_id: str
    name: str
    resource_type: str
    schema: str | None
    alias: str | None
    relation_name: str | None
    original_file_path: str | None
    owner: str | None  # meta.owner as set in dbt
    group: str | None
    group_owner: str | None  # the owner of `group` (groups: in the manifest)
    tags: tuple[str, ...]
    severity: str | None  # tests: "error" / "warn" as configured
    warn_if: str | None
    error_if: str | None
    attached_node: str | None  # tests: the model a generic test is attached to
    depends_on: tuple[str, ...]
    compiled_code: str | None
    description: str | None
    source_name: str | None = None


@dataclass(frozen=True, slots=True)
class Exposure:
    unique_id: str
    name: str
    label: str
    type: str
    url: str | None
    owner: str | None
    maturity: str | None
    depends_on: tuple[str, ...]


def _owner_text(owner: Any) -> str | None:
    if not isinstance(owner, dict):
        return owner if isinstance(owner, str) and owner else None
    name, email = owner.get("name"), owner.get("email")
    if name and email:
        return f"{name} <{email}>"
    return str(name or email) if (name or email) else None


class Manifest:
    """The parts of manifest.json a check needs. Nodes are converted on first access."""

    def __init__(self, file: str, data: dict[str, Any]) -> None:
        meta = _obj(data.get("metadata"))
        self.file = file
        self.schema_version: int = data["_schema_version"]
        self.dbt_version = str(meta.get("dbt_version") or "unknown")
        self.project_name: str | None = meta.get("project_name")
        self.generated_at = _datetime(meta.get("generated_at"))
        self.invocation_id = str(meta.get("invocation_id") or "")
        self._raw_nodes: dict[str, Any] = data.get("nodes") or {}
        self._raw_sources: dict[str, Any] = data.get("sources") or {}
        self._raw_unit_tests: dict[str, Any] = data.get("unit_tests") or {}
        self._parent_map: dict[str, list[str]] = data.get("parent_map") or {}
        self._child_map: dict[str, list[str]] = data.get("child_map") or {}
        self._cache: dict[str, ManifestNode | None] = {}
        self._fed_by: dict[str, set[str]] | None = None
        self._sources_of: dict[str, frozenset[str]] = {}
        self.groups: dict[str, str | None] = {}
        for group in (data.get("groups") or {}).values():
            if isinstance(group, dict) and group.get("name"):
                self.groups[str(group["name"])] = _owner_text(group.get("owner"))
        self.exposures: dict[str, Exposure] = {}
        for uid, exp in (data.get("exposures") or {}).items():
            if isinstance(exp, dict):
                self.exposures[uid] = Exposure(
                    unique_id=uid, name=str(exp.get("name") or uid), label=str(exp.get("label") or exp.get("name") or uid),
                    type=str(exp.get("type") or "exposure"), url=exp.get("url"), owner=_owner_text(exp.get("owner")),
                    maturity=exp.get("maturity"), depends_on=tuple((exp.get("depends_on") or {}).get("nodes") or ()),
                )

    def __contains__(self, unique_id: str) -> bool:
        return unique_id in self._raw_nodes or unique_id in self._raw_sources or unique_id in self._raw_unit_tests

    def __len__(self) -> int:
        return len(self._raw_nodes) + len(self._raw_sources)

    def node(self, unique_id: str) -> ManifestNode | None:
        if unique_id not in self._cache:
            raw = self._raw_nodes.get(unique_id) or self._raw_sources.get(unique_id) or self._raw_unit_tests.get(unique_id)
            self._cache[unique_id] = self._convert(unique_id, raw) if isinstance(raw, dict) else None
        return self._cache[unique_id]

    def _convert(self, uid: str, raw: dict[str, Any]) -> ManifestNode:
        config = _obj(raw.get("config"))
        meta = {**(raw.get("meta") or {}), **(config.get("meta") or {})}
        group = raw.get("group") or config.get("group")
        owner = meta.get("owner")
        tags = raw.get("tags") or config.get("tags") or ()
        attached = raw.get("attached_node") or (raw.get("model") if raw.get("resource_type") == "unit_test" else None)
        if isinstance(attached, str) and not attached.startswith(("model.", "seed.", "snapshot.", "source.")):
            attached = None  # unit tests name their model by name; resolve through depends_on instead
        return ManifestNode(
            unique_id=uid,
            name=str(raw.get("name") or uid.rsplit(".", 1)[-1]),
            resource_type=str(raw.get("resource_type") or uid.split(".", 1)[0]),
            schema=raw.get("schema"),
            alias=raw.get("alias") or raw.get("identifier"),
            relation_name=raw.get("relation_name"),
            original_file_path=raw.get("original_file_path"),
            owner=_owner_text(owner),
            group=str(group) if group else None,
            group_owner=self.groups.get(str(group)) if group else None,
            tags=tuple(str(t) for t in tags) if isinstance(tags, list | tuple) else (),
            severity=(str(config["severity"]).lower() if config.get("severity") else None),
            warn_if=config.get("warn_if"),
            error_if=config.get("error_if"),
            attached_node=attached if isinstance(attached, str) else None,
            depends_on=tuple(self.parents(uid)),
            compiled_code=raw.get("compiled_code") if isinstance(raw.get("compiled_code"), str) else None,
            description=raw.get("description") or None,
            source_name=raw.get("source_name"),
        )

    def parents(self, unique_id: str) -> list[str]:
        if unique_id in self._parent_map:
            return list(self._parent_map[unique_id])
        raw = self._raw_nodes.get(unique_id) or self._raw_unit_tests.get(unique_id) or {}
        return list(((raw.get("depends_on") or {}).get("nodes")) or ())

    def children(self, unique_id: str) -> list[str]:
        if not self._child_map:  # an older or trimmed manifest: derive it from depends_on once
            derived: dict[str, list[str]] = {}
            for uid in [*self._raw_nodes, *self._raw_unit_tests]:
                for parent in self.parents(uid):
                    derived.setdefault(parent, []).append(uid)
            for exp in self.exposures.values():
                for parent in exp.depends_on:
                    derived.setdefault(parent, []).append(exp.unique_id)
            self._child_map = derived or {"": []}
        return list(self._child_map.get(unique_id) or ())

    def tested_models(self, test: ManifestNode) -> list[str]:
        """The model(s) a test checks: its attached node, else the models/seeds/snapshots/sources it reads."""
        if test.attached_node:
            return [test.attached_node]
        read = [p for p in test.depends_on if p.startswith(("model.", "seed.", "snapshot.", "source."))]
        if len(read) < 2:
            return read
        # A singular test reading several models tests the most downstream one(s) (fct_daily_volume, not the
        # fct_transactions it reconciles against): drop any model that is an ancestor of another one it reads.
        ancestors: set[str] = set()
        for uid in read:
            stack, seen = self.parents(uid), set[str]()
            while stack and len(seen) < 20_000:
                parent = stack.pop()
                if parent not in seen:
                    seen.add(parent)
                    stack.extend(self.parents(parent))
            ancestors |= seen
        return [uid for uid in read if uid not in ancestors] or read

    def upstream_sources(self, unique_id: str) -> frozenset[str]:
        """The dbt sources a node reads, directly or through other models (memoised per manifest)."""
        memo = self._sources_of
        if unique_id in memo:
            return memo[unique_id]
        stack: list[tuple[str, bool]] = [(unique_id, False)]
        on_path: set[str] = set()
        while stack:
            uid, expanded = stack.pop()
            if uid in memo:
                continue
            parents = self.parents(uid)
            if not expanded:
                on_path.add(uid)
                stack.append((uid, True))
                stack.extend((p, False) for p in parents if p not in memo and p not in on_path)
                continue
            found: set[str] = {uid} if uid.startswith("source.") else set()
            for parent in parents:
                found |= memo.get(parent, frozenset())
            memo[uid] = frozenset(found)
            on_path.discard(uid)
        return memo[unique_id]

    def downstream_exposures(self, start: Iterable[str]) -> list[Exposure]:
        """Exposures (dashboards...) fed directly or transitively by any of `start`."""
        if self._fed_by is None:
            # Once per manifest: walk up from each exposure and remember every ancestor it depends on.
            fed_by: dict[str, set[str]] = {}
            for exp in self.exposures.values():
                seen: set[str] = set()
                stack = list(exp.depends_on)
                while stack:
                    uid = stack.pop()
                    if uid not in seen:
                        seen.add(uid)
                        stack.extend(self.parents(uid))
                for uid in seen:
                    fed_by.setdefault(uid, set()).add(exp.unique_id)
            self._fed_by = fed_by
        found = set().union(*(self._fed_by.get(uid, set()) for uid in start))
        return sorted((self.exposures[uid] for uid in found), key=lambda e: e.label)


def parse_manifest(raw: bytes, file: str) -> Manifest:
    return Manifest(file, _load(raw, file, "manifest"))


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


def _threshold(value: Any) -> timedelta | None:
    if not isinstance(value, dict) or not value.get("count") or value.get("period") not in _PERIOD_SECONDS:
        return None
    return timedelta(seconds=float(value["count"]) * _PERIOD_SECONDS[value["period"]])


def parse_sources(raw: bytes, file: str) -> SourcesResults:
    data = _load(raw, file, "sources")
    meta = _obj(data.get("metadata"))
    generated_at = _datetime(meta.get("generated_at"))
    if generated_at is None:
        raise ArtifactError(file, f"metadata.generated_at is missing or not a timestamp: {meta.get('generated_at')!r}")
    results = []
    for item in data.get("results") or ():
        if not isinstance(item, dict) or not isinstance(item.get("unique_id"), str):
            continue
        criteria = _obj(item.get("criteria"))
        age = item.get("max_loaded_at_time_ago_in_s")
        results.append(FreshnessResult(
            unique_id=item["unique_id"],
            status=str(item.get("status") or "unknown"),
            max_loaded_at=_datetime(item.get("max_loaded_at")),
            snapshotted_at=_datetime(item.get("snapshotted_at")),
            age_seconds=float(age) if isinstance(age, int | float) else None,
            warn_after=_threshold(criteria.get("warn_after")),
            error_after=_threshold(criteria.get("error_after")),
            filter=criteria.get("filter"),
            error=item.get("error") if isinstance(item.get("error"), str) else None,
        ))
    return SourcesResults(file, data["_schema_version"], generated_at, str(meta.get("invocation_id") or ""),
                          tuple(results))
