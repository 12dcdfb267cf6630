"""`sentinel doctor` for row_reconciliation pairs: both tables are introspected exactly as the check does, and a
decimal compared at a scale one side does not declare is a warning, before it shows up as stale rows.

A target that keeps fewer digits than the source (numeric(18,8) -> NUMBER(38,4)) makes every row whose value needs
the lost digits differ; that is right (the warehouse lost data), but on-call should know why before the first page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from sentinel.config.loader import LoadedConfig
from sentinel.doctor.needs import Need
from sentinel.doctor.report import DoctorLine
from sentinel.errors import CheckError, SourceError
from sentinel.sources import Sources
from sentinel.sources.reconcile import ReconcileMode, Side, dialect_for
from sentinel.sources.reconcile.engine import DeletedFilter, Execute, ReconcileOptions, SideSpec, prepare_pair
from sentinel.sources.reconcile.sides import duckdb_execute, postgres_execute, snowflake_execute

ConfigAt = Callable[[Need], str]
TIMEOUT = timedelta(seconds=10)
KIND = "row_reconciliation"


def probe_reconciliation(sources: Sources, config: LoadedConfig, config_at: ConfigAt) -> list[DoctorLine]:
    lines: list[DoctorLine] = []
    for index, spec in enumerate(config.spec.checks):
        model = config.params.get(spec.id)
        if not spec.enabled or spec.kind != KIND or model is None:
            continue
        params = model.model_dump()
        for i, pair in enumerate(params["pairs"]):
            at = Need("table", str(pair["source"]["table"]), spec.id, ("checks", index, "params", "pairs", i))
            lines += _probe_pair(sources, spec.id, params, pair, config_at(at))
    return lines


def _probe_pair(sources: Sources, check_id: str, params: Mapping[str, Any], pair: Mapping[str, Any],
                where: str) -> list[DoctorLine]:
    label = pair.get("name") or pair["source"]["table"]
    component = f"reconcile {label}"
    options = ReconcileOptions(mode=ReconcileMode(params["mode"]), numeric_scale=int(params["numeric_scale"]))
    source_spec, target_spec = _specs(pair)
    try:
        with _execute(sources, pair["source"]) as src_exec, _execute(sources, pair["target"]) as tgt_exec:
            source = Side(source_spec, dialect_for(pair["source"]["engine"]), src_exec, _where(pair["source"]))
            target = Side(target_spec, dialect_for(pair["target"]["engine"]), tgt_exec, _where(pair["target"]))
            notes = prepare_pair(source, target, options, column_map=pair.get("column_map") or {},
                                 exclude=tuple(pair.get("exclude_columns") or ()))
    except CheckError as exc:  # SourceError included: a missing table or column, a key type it cannot compare
        hint = exc.hint if isinstance(exc, SourceError) and exc.hint else ""
        return [DoctorLine("problem", component, f"{check_id} cannot compare this pair: {str(exc).split(' (hint:')[0]}",
                           f"fix the pair at {where}" + (f" ({hint})" if hint else ""))]
    if not notes:
        return [DoctorLine("ok", component, f"{check_id}: both sides introspected, "
                                            f"{options.mode.value} mode compares like with like")]
    return [DoctorLine("warning", component,
                       f"{check_id}: {note}; rows whose values need digits one side does not keep will show as stale",
                       f"declare the same scale on both sides, or leave the column out (exclude_columns at {where})")
            for note in notes]


def _specs(pair: Mapping[str, Any]) -> tuple[SideSpec, SideSpec]:
    """The two sides as the check builds them: target names through column_map."""
    mapping: Mapping[str, str] = pair.get("column_map") or {}

    def t(name: str) -> str:
        return mapping.get(name, name)

    columns = tuple(pair.get("columns") or ())
    keys, time_column, version = tuple(pair["key"]), pair["time_column"], pair.get("version_column")
    deleted = pair.get("target_deleted")
    source = SideSpec("source", tuple(pair["source"]["table"].split(".")), keys, time_column, version, None, columns)
    target = SideSpec("target", tuple(pair["target"]["table"].split(".")), tuple(t(k) for k in keys), t(time_column),
                      t(version) if version else None,
                      DeletedFilter(deleted["column"], tuple(deleted["values"])) if deleted else None,
                      tuple(t(c) for c in columns))
    return source, target


def _where(table: Mapping[str, Any]) -> str:
    if table["engine"] == "postgres":
        return f"postgres connection {table.get('connection', 'default')!r}"
    return f"duckdb {table.get('path')}" if table["engine"] == "duckdb" else "snowflake"


@contextlib.contextmanager
def _execute(sources: Sources, table: Mapping[str, Any]) -> Iterator[Execute]:
    def remaining() -> timedelta:
        return TIMEOUT

    if table["engine"] == "postgres":
        with postgres_execute(sources.postgres(str(table.get("connection", "default"))), remaining) as ex:
            yield ex
    elif table["engine"] == "duckdb":
        with duckdb_execute(sources.duckdb(str(table["path"])), remaining) as ex:
            yield ex
    else:
        with sources.snowflake(timeout=TIMEOUT.total_seconds()) as sf, snowflake_execute(sf, remaining) as ex:
            yield ex
