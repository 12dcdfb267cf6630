"""kafka_connect_status: are the Connect connectors (Debezium source, S3 sink) and all their tasks RUNNING?

One finding per connector (its own alert). FAILED puts the root cause (the last `Caused by:`) of the failing trace
in the summary and the whole trace in details; an unreachable worker is an ERROR result naming the URL (never
credentials).

    kind: kafka_connect_status
    params: {connectors: [debezium-payments, s3-sink]}     # empty = every connector on the cluster
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from sentinel.api import Check, CheckContext, CheckResult, Finding, Params, Regex, Status
from sentinel.sources.kafka_connect import ConnectorState

StatusName = Literal["ok", "warn", "critical"]
_LITERAL = re.compile(r"^[A-Za-z0-9_.\-]+$")


class KafkaConnectStatusParams(Params):
    connectors: list[Regex] = Field(default_factory=list, description="names or regexes (full match); empty = all")
    on_failed: StatusName = "critical"
    on_unassigned: StatusName = "warn"
    on_paused: StatusName = Field("warn", description="PAUSED or STOPPED by an operator")
    on_restarting: StatusName = "warn"
    on_missing: StatusName = Field("critical", description="a named connector does not exist on the cluster")
    min_tasks: int = Field(1, ge=0, description="a RUNNING connector with fewer tasks than this is not working")
    table_labels: dict[str, str] = Field(default_factory=dict,
                                         description="connector name -> table label, for pipeline inhibition")


def _status(name: StatusName) -> Status:
    return {"ok": Status.OK, "warn": Status.WARN, "critical": Status.CRITICAL}[name]


def first_line(trace: str) -> str:
    """The exception line of a Java trace (e.g. `org.apache...DataException: Converting byte[] ... failed`)."""
    for line in trace.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def root_cause(trace: str) -> str:
    """What actually went wrong: the last `Caused by:` of a Java trace, else its first line. Connect wraps the real
    error (a DataException, a JsonParseException) in "ConnectException: Tolerance exceeded in error handler"."""
    causes = [line.strip()[len("Caused by:"):].strip() for line in trace.splitlines()
              if line.strip().startswith("Caused by:")]
    return causes[-1][:300] if causes else first_line(trace)


def judge_connector(conn: ConnectorState, params: KafkaConnectStatusParams) -> tuple[Status, str, dict[str, str]]:
    """Status, summary and details of one connector from its REST status. Pure."""
    state_status = {
        "RUNNING": Status.OK,
        "FAILED": _status(params.on_failed),
        "UNASSIGNED": _status(params.on_unassigned),
        "PAUSED": _status(params.on_paused),
        "STOPPED": _status(params.on_paused),
        "RESTARTING": _status(params.on_restarting),
    }
    statuses = [state_status.get(conn.state, Status.WARN)]
    problems: list[str] = []
    details: dict[str, str] = {}
    if conn.state != "RUNNING":
        problems.append(f"connector {conn.state}" + (f": {root_cause(conn.trace)}" if conn.trace else ""))
        if conn.trace:
            details["connector_trace"] = conn.trace
    for task in conn.tasks:
        statuses.append(state_status.get(task.state, Status.WARN))
        if task.state != "RUNNING":
            problems.append(f"task {task.id} {task.state}"
                            + (f" on {task.worker_id}" if task.worker_id else "")
                            + (f": {root_cause(task.trace)}" if task.trace else ""))
        if task.trace:
            details[f"task_{task.id}_trace"] = task.trace
    running = sum(1 for t in conn.tasks if t.state == "RUNNING")
    if conn.state == "RUNNING" and len(conn.tasks) < params.min_tasks:
        statuses.append(_status(params.on_unassigned))
        problems.append(f"only {len(conn.tasks)} task(s), expected at least {params.min_tasks}")
    status = Status.worst(statuses)
    tasks = f"{running}/{len(conn.tasks)} tasks running"
    if problems:
        # failed tasks first: their trace line is what on-call needs
        problems.sort(key=lambda p: 0 if "FAILED" in p else 1)
        summary = f"{conn.type} connector {conn.name}: " + "; ".join(problems[:3])
        if len(problems) > 3:
            summary += f"; +{len(problems) - 3} more"
        summary += f" ({tasks})"
    else:
        summary = f"{conn.type} connector {conn.name}: RUNNING, {tasks}"
    details["states"] = "\n".join([f"connector {conn.state} {conn.worker_id}".rstrip()]
                                  + [f"task {t.id} {t.state} {t.worker_id}".rstrip() for t in conn.tasks])
    return status, summary, details


class KafkaConnectStatusCheck(Check[KafkaConnectStatusParams]):
    kind = "kafka_connect_status"
    Params = KafkaConnectStatusParams
    runbook = "kafka-connect-task-failed"

    def describe(self) -> str:
        return "connectors " + (", ".join(self.params.connectors) or "all")

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        connect = ctx.sources.kafka_connect()
        with ctx.doing(f"Kafka Connect connector statuses at {connect.url}"):
            states: dict[str, ConnectorState] = connect.statuses(ctx.remaining_seconds())
        if p.connectors:
            chosen = sorted(n for n in states if any(re.fullmatch(pat, n) for pat in p.connectors))
            missing = sorted(n for n in p.connectors if _LITERAL.match(n) and n not in states)
        else:
            chosen, missing = sorted(states), []
        findings: list[Finding] = []
        for name in chosen:
            status, summary, details = judge_connector(states[name], p)
            labels = {"connector": name}
            if name in p.table_labels:
                labels["table"] = p.table_labels[name]
            conn = states[name]
            details["diagnose"] = f"curl -s $KAFKA_CONNECT_URL/connectors/{name}/status | jq"
            findings.append(Finding(
                key=f"connector/{name}", status=status, summary=summary, labels=labels, details=details,
                values={"tasks": float(len(conn.tasks)),
                        "tasks_running": float(sum(t.state == "RUNNING" for t in conn.tasks)),
                        "tasks_failed": float(sum(t.state == "FAILED" for t in conn.tasks))},
            ))
        for name in missing:
            labels = {"connector": name}
            if name in p.table_labels:
                labels["table"] = p.table_labels[name]
            findings.append(Finding(key=f"connector/{name}", status=_status(p.on_missing),
                                    summary=f"connector {name} does not exist on {connect.url}", labels=labels,
                                    details={"known_connectors": ", ".join(sorted(states)) or "(none)"}))
        values = {
            "tasks_failed": sum(f.values.get("tasks_failed", 0.0) for f in findings),
            "connectors": float(len(chosen)),
            "connectors_missing": float(len(missing)),
        }
        if not findings:
            text = (f"no connector matches {', '.join(p.connectors)} on {connect.url}" if p.connectors
                    else f"no connectors are deployed on {connect.url}")
            return ctx.result(self.kind, Status.WARN, text, values=values)
        status = Status.worst(f.status for f in findings)
        bad = sorted((f for f in findings if f.status is not Status.OK), key=lambda f: -f.status.rank)
        if len(findings) == 1:
            summary = findings[0].summary
        elif bad:
            more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            summary = f"{len(bad)} of {len(findings)} connectors not healthy: {bad[0].summary}{more}"
        else:
            summary = f"{len(findings)} connectors RUNNING with all tasks on {connect.url}"
        return ctx.result(self.kind, status, summary, values=values, findings=findings)
