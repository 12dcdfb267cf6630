"""Pipeline-aware inhibition. While an upstream stage of a table fires, downstream alerts for the same table
are symptoms of that incident: they attach to it instead of paging. The root-cause message lists the SLAs
and dashboards at risk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sentinel.alerting.types import AlertState, Phase


class Lineage:
    def __init__(self, pipeline: Any, slas: Sequence[Any] = ()) -> None:
        self.pipeline = pipeline
        self._slas = slas

    def order(self, table: str | None) -> list[str]:
        stages: list[str] = list(self.pipeline.stages)
        if table and table in self.pipeline.tables and self.pipeline.tables[table].stages:
            stages = list(self.pipeline.tables[table].stages)
        return stages

    def position(self, state: AlertState) -> int | None:
        stage, table = state.labels.get("stage"), state.labels.get("table")
        if not stage or not table:
            return None
        order = self.order(table)
        return order.index(stage) if stage in order else None

    def at_risk(self, tables: Iterable[str]) -> list[str]:
        out: list[str] = []
        for table in sorted(set(tables)):
            lineage = self.pipeline.tables.get(table)
            if lineage is not None:
                out += [f"SLA {s}" for s in lineage.slas] + [f"dashboard {d}" for d in lineage.dashboards]
            for sla in self._slas:
                if getattr(sla, "table", None) == table and f"SLA {sla.id}" not in out:
                    out.append(f"SLA {sla.id}")
        return out


class Inhibitor:
    """Built from the alerts firing now; answers "is this alert a symptom, and of which root?"."""

    def __init__(self, lineage: Lineage, firing: Iterable[AlertState]) -> None:
        self.lineage = lineage
        self._by_table: dict[str, list[tuple[int, AlertState]]] = defaultdict(list)
        for state in firing:
            if state.phase is not Phase.FIRING or state.broken:
                continue
            pos = lineage.position(state)
            if pos is not None:
                self._by_table[state.labels["table"]].append((pos, state))
        for entries in self._by_table.values():
            entries.sort(key=lambda e: (e[0], e[1].fired_at or e[1].pending_since, e[1].fingerprint))

    def root_of(self, state: AlertState) -> AlertState | None:
        """The most upstream firing alert of the same table, strictly upstream of `state`."""
        if state.broken:
            return None
        pos = self.lineage.position(state)
        if pos is None:
            return None
        for upstream_pos, candidate in self._by_table.get(state.labels["table"], []):
            if upstream_pos < pos and candidate.fingerprint != state.fingerprint:
                return candidate
        return None

    def symptoms_of(self, root: AlertState) -> list[AlertState]:
        table = root.labels.get("table")
        if not table:
            return []
        return [s for _, s in self._by_table.get(table, []) if s.fingerprint != root.fingerprint
                and (r := self.root_of(s)) is not None and r.fingerprint == root.fingerprint]
