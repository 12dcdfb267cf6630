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
        self._positions: dict[str, dict[str, int]] = {}

    def order(self, table: str | None) -> list[str]:
        stages: list[str] = list(self.pipeline.stages)
        if table and table in self.pipeline.tables and self.pipeline.tables[table].stages:
            stages = list(self.pipeline.tables[table].stages)
        return stages

    def position(self, state: AlertState) -> int | None:
        stage, table = state.labels.get("stage"), state.labels.get("table")
        if not stage or not table:
            return None
        positions = self._positions.get(table)
        if positions is None:
            positions = {s: i for i, s in enumerate(self.order(table))}
            self._positions[table] = positions
        return positions.get(stage)

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
    """Built from the alerts firing now; answers "is this alert a symptom, and of which root?" in O(1)."""

    def __init__(self, lineage: Lineage, firing: Iterable[AlertState]) -> None:
        self.lineage = lineage
        self._root: dict[str, tuple[int, AlertState]] = {}  # table -> most upstream firing alert
        entries: list[tuple[int, AlertState]] = []
        for state in firing:
            if state.phase is not Phase.FIRING or state.broken:
                continue
            pos = lineage.position(state)
            if pos is None:
                continue
            entries.append((pos, state))
            table = state.labels["table"]
            best = self._root.get(table)
            if best is None or (pos, state.fired_at or state.pending_since, state.fingerprint) < (
                    best[0], best[1].fired_at or best[1].pending_since, best[1].fingerprint):
                self._root[table] = (pos, state)
        self._symptoms: dict[str, list[AlertState]] = defaultdict(list)
        for pos, state in sorted(entries, key=lambda e: (e[0], e[1].check_id)):
            root = self.root_of(state, pos)
            if root is not None:
                self._symptoms[root.fingerprint].append(state)

    def root_of(self, state: AlertState, pos: int | None = None) -> AlertState | None:
        """The most upstream firing alert of the same table, strictly upstream of `state`."""
        if state.broken:
            return None
        pos = self.lineage.position(state) if pos is None else pos
        if pos is None:
            return None
        best = self._root.get(state.labels["table"])
        if best is None or best[0] >= pos or best[1].fingerprint == state.fingerprint:
            return None
        return best[1]

    def symptoms_of(self, root: AlertState) -> list[AlertState]:
        return list(self._symptoms.get(root.fingerprint, ()))
