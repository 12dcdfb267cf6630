"""manifest.json (v12): the nodes, sources, groups and exposures a dbt_results finding needs, and the graph.

Nodes stay the decoded dicts until asked for (`node(uid)` converts and caches one), so a 5,000-node manifest costs
little more than its JSON decoding. Unknown fields are ignored; the version check is in dbt_parse.load_artifact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sentinel.sources.dbt_parse import (
    ArtifactError,
    as_object,
    load_artifact,
    object_field,
    optional_text,
    parse_timestamp,
)


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
    loaded_at_field: str | None = None  # sources: the column dbt source freshness reads
    freshness_warn_after: str | None = None  # sources: dbt's freshness warn_after as a duration ("30m")
    freshness_error_after: str | None = None  # sources: dbt's error_after ("2h")


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


_PERIODS = {"minute": "m", "hour": "h", "day": "d"}


def _freshness(raw: dict[str, Any], config: dict[str, Any], key: str) -> str | None:
    """A source's freshness threshold ({count: 30, period: minute}) as a duration ("30m"); None when dbt declares
    none (dbt writes {count: null, period: null} then) or the period is not one dbt knows."""
    threshold = as_object(as_object(raw.get("freshness") or config.get("freshness")).get(key))
    count, period = threshold.get("count"), threshold.get("period")
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0 or period not in _PERIODS:
        return None
    return f"{count}{_PERIODS[period]}"


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
        meta = as_object(data.get("metadata"))
        self.file = file
        self.schema_version: int = data["_schema_version"]
        self.dbt_version = str(meta.get("dbt_version") or "unknown")
        self.project_name: str | None = meta.get("project_name")
        self.generated_at = parse_timestamp(meta.get("generated_at"))
        self.invocation_id = str(meta.get("invocation_id") or "")
        self._raw_nodes: dict[str, Any] = object_field(data, "nodes", file)
        self._raw_sources: dict[str, Any] = object_field(data, "sources", file)
        self._raw_unit_tests: dict[str, Any] = object_field(data, "unit_tests", file)
        self._parent_map: dict[str, list[str]] = _graph(data, "parent_map", file)
        self._child_map: dict[str, list[str]] = _graph(data, "child_map", file)
        self._cache: dict[str, ManifestNode | None] = {}
        self._fed_by: dict[str, set[str]] | None = None
        self._sources_of: dict[str, frozenset[str]] = {}
        self.groups: dict[str, str | None] = {}
        for group in object_field(data, "groups", file).values():
            if isinstance(group, dict) and group.get("name"):
                self.groups[str(group["name"])] = _owner_text(group.get("owner"))
        self.exposures: dict[str, Exposure] = {}
        for uid, exp in object_field(data, "exposures", file).items():
            if isinstance(exp, dict):
                name = optional_text(exp, "name") or uid
                self.exposures[uid] = Exposure(
                    unique_id=uid, name=name, label=optional_text(exp, "label") or name,
                    type=optional_text(exp, "type") or "exposure", url=optional_text(exp, "url"),
                    owner=_owner_text(exp.get("owner")), maturity=optional_text(exp, "maturity"),
                    depends_on=_node_ids(as_object(exp.get("depends_on")).get("nodes")),
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
        config = as_object(raw.get("config"))
        meta = {**as_object(raw.get("meta")), **as_object(config.get("meta"))}
        group = raw.get("group") or config.get("group")
        owner = meta.get("owner")
        tags = raw.get("tags") or config.get("tags") or ()
        attached = raw.get("attached_node") or (raw.get("model") if raw.get("resource_type") == "unit_test" else None)
        if isinstance(attached, str) and not attached.startswith(("model.", "seed.", "snapshot.", "source.")):
            attached = None  # unit tests name their model by name; resolve through depends_on instead
        # Text fields of another JSON type are read as absent: they only label and describe a finding.
        return ManifestNode(
            unique_id=uid,
            name=optional_text(raw, "name") or uid.rsplit(".", 1)[-1],
            resource_type=optional_text(raw, "resource_type") or uid.split(".", 1)[0],
            schema=optional_text(raw, "schema"),
            alias=optional_text(raw, "alias") or optional_text(raw, "identifier"),
            relation_name=optional_text(raw, "relation_name"),
            original_file_path=optional_text(raw, "original_file_path"),
            owner=_owner_text(owner),
            group=str(group) if isinstance(group, str) and group else None,
            group_owner=self.groups.get(group) if isinstance(group, str) and group else None,
            tags=tuple(str(t) for t in tags) if isinstance(tags, list | tuple) else (),
            severity=(str(config["severity"]).lower() if isinstance(config.get("severity"), str) else None),
            warn_if=optional_text(config, "warn_if"),
            error_if=optional_text(config, "error_if"),
            attached_node=attached if isinstance(attached, str) else None,
            depends_on=tuple(self.parents(uid)),
            compiled_code=optional_text(raw, "compiled_code"),
            description=optional_text(raw, "description") or None,
            source_name=optional_text(raw, "source_name"),
            loaded_at_field=optional_text(raw, "loaded_at_field") or optional_text(config, "loaded_at_field"),
            freshness_warn_after=_freshness(raw, config, "warn_after"),
            freshness_error_after=_freshness(raw, config, "error_after"),
        )

    def unique_ids(self, resource_type: str) -> list[str]:
        """Every node of one type ("model", "seed", "source", ...), in manifest order."""
        if resource_type == "source":
            return list(self._raw_sources)
        return [uid for uid, raw in self._raw_nodes.items()
                if isinstance(raw, dict) and raw.get("resource_type", uid.split(".", 1)[0]) == resource_type]

    def source_columns(self, source_name: str, table: str) -> dict[str, str | None] | None:
        """Columns a dbt source table declares (name -> data_type or None), or None when no such source exists.

        dbt only knows the columns written in its YAML: an empty dict means "declares none", not "has none".
        """
        for raw in self._raw_sources.values():
            if isinstance(raw, dict) and raw.get("source_name") == source_name and raw.get("name") == table:
                columns = as_object(raw.get("columns"))
                return {str(c.get("name") or k): (c.get("data_type") or None)
                        for k, c in columns.items() if isinstance(c, dict)}
        return None

    def parents(self, unique_id: str) -> list[str]:
        if unique_id in self._parent_map:
            return list(self._parent_map[unique_id])
        raw = as_object(self._raw_nodes.get(unique_id) or self._raw_unit_tests.get(unique_id))
        return list(_node_ids(as_object(raw.get("depends_on")).get("nodes")))

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


def _graph(data: dict[str, Any], key: str, file: str) -> dict[str, list[str]]:
    """parent_map / child_map: unique_id -> list of unique_ids, checked once so walks never meet another type."""
    graph = object_field(data, key, file)
    for uid, linked in graph.items():
        if not isinstance(linked, list) or not all(isinstance(x, str) for x in linked):
            raise ArtifactError(file, f"`{key}[{uid!r}]` must be a list of unique_ids",
                                hint="the file was not written by dbt, or was edited or truncated")
    return graph


def _node_ids(value: Any) -> tuple[str, ...]:
    return tuple(x for x in value if isinstance(x, str)) if isinstance(value, list) else ()


def parse_manifest(raw: bytes, file: str) -> Manifest:
    return Manifest(file, load_artifact(raw, file, "manifest"))
