"""The state store contract as one script of calls, shared by the tests that run it on both engines, and the
data written into the old-format fixtures (tests/fixtures/state_store/) by the code of that time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from devstack.postgres import PostgresService
from sentinel.alerting.types import AlertState, Delivery, DeliveryStatus, Phase, Silence
from sentinel.model import CheckResult, Finding, Severity, Status
from sentinel.sla import ObsState, SlaObservation

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def fresh_dsn(postgres: PostgresService, name: str) -> str:
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return postgres.create_database(name)


def state(fp: str, phase: Phase, check_id: str = "lag", severity: Severity = Severity.CRITICAL) -> AlertState:
    return AlertState(fp, "r1", check_id, "kafka_consumer_lag", {"stage": "s3_sink", "table": "payments.transactions"},
                      phase=phase, severity=severity, summary=f"{fp} is 100% late", fired_at=T0)


def script(store: Any) -> dict[str, Any]:
    """Every contract method, with edge cases (dedup, ON CONFLICT updates, IN lists, % in values)."""
    out: dict[str, Any] = {}
    for i in range(3):
        store.save_result(CheckResult(
            "lag", "kafka_consumer_lag", Status.WARN if i == 2 else Status.OK, T0 + timedelta(minutes=i),
            "lag 50% over", values={"lag_seconds": float(i)}, labels={"stage": "s3_sink"},
            findings=(Finding("p0", Status.OK, "ok", values={"n": 1.0}),)))
    store.save_result(CheckResult("fresh", "warehouse_freshness", Status.CRITICAL, T0, "old"))
    out["latest"] = {k: v.to_json() for k, v in store.latest_results().items()}
    out["between"] = [r.observed_at for r in store.results_between("lag", T0, T0 + timedelta(minutes=2))]
    out["recent"] = [r.observed_at for r in store.recent_results("lag", 2)]
    store.memory_save("lag", "offsets", {"p0": [1, 2]}, T0)
    store.memory_save("lag", "offsets", {"p0": [3]}, T0 + timedelta(seconds=1))
    out["memory"] = (store.memory_load("lag", "offsets"), store.memory_load("lag", "nothing"))

    store.alert_states_save([state("fa", Phase.FIRING), state("fb", Phase.RESOLVED), state("fc", Phase.PENDING, "x")], T0)
    store.alert_states_save([state("fb", Phase.FIRING)], T0 + timedelta(minutes=1))
    out["states_all"] = sorted(store.alert_states())
    out["states_active"] = sorted(store.alert_states(active_only=True))
    out["states_some"] = sorted(store.alert_states(["fa", "fc", "nope"], check_id="x"))
    out["state_fb"] = store.alert_states(["fb"])["fb"].phase

    with store.transaction() as tx:
        store.pending_add("page", "stage=s3_sink", "fa", "fired", T0, {"k": 1}, tx)
        store.pending_add("page", "stage=s3_sink", "fb", "fired", T0 + timedelta(seconds=5), {}, tx)
        store.pending_add("chat", "stage=dbt", "fc", "fired", T0, {}, tx)
    out["groups"] = store.pending_groups()
    with store.transaction() as tx:
        taken = store.pending_take("page", "stage=s3_sink", tx)
        store.group_mark_flushed("page", "stage=s3_sink", T0, tx)
        store.group_mark_flushed("page", "stage=s3_sink", T0 + timedelta(minutes=1), tx)
    out["taken"] = [(e.fingerprint, e.event, e.payload) for e in taken]
    out["groups_after"] = store.pending_groups()
    out["flushed"] = store.group_flushed_at("page", "stage=s3_sink")

    store.thread_set("page", "fa", "t1", T0)
    store.thread_set("page", "fb", "t1", T0 + timedelta(seconds=1))
    out["thread"] = (store.thread_of("page", "fa"), store.thread_of("page", "zz"), store.thread_members("page", "t1"))
    if hasattr(store, "threads_of"):
        out["threads_of"] = store.threads_of("page", ["fa", "fb", "zz"])

    out["outbox_first"] = store.outbox_add("pager", "fa", "d1", "fired", {"text": "50% late"}, T0)
    out["outbox_dup"] = store.outbox_add("pager", "fa", "d1", "fired", {"text": "50% late"}, T0)
    store.outbox_add("slack", "fa", "d2", "fired", {}, T0)
    pending = store.outbox_pending()
    store.outbox_update(pending[0].seq, status="sent", attempts=1, next_attempt_at=T0, last_error="")
    out["outbox_pending"] = [(r.seq, r.receiver, r.payload) for r in store.outbox_pending()]
    out["outbox_rows"] = [(r.seq, r.status, r.attempts) for r in store.outbox_rows()]
    store.delivery_add(Delivery(1, "pager", "fa", "fired", DeliveryStatus.SENT, 1, T0, timedelta(milliseconds=12.5),
                                "", "pd-1"))
    out["deliveries"] = store.deliveries_between(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    store.ref_set("slack", "fa", "1700.01", T0)
    store.ref_set("slack", "fa", "1700.02", T0)
    out["ref"] = (store.ref_get("slack", "fa"), store.ref_get("slack", "zz"))

    store.silence_add(Silence("s1", {"stage": "dbt"}, T0, T0 + timedelta(hours=2), "ana", "deploy", T0))
    store.silence_add(Silence("s2", {"check": "~lag.*"}, T0 + timedelta(seconds=1), T0 + timedelta(minutes=5), "bo", "", T0))
    out["silences_now"] = [s.id for s in store.silences(now=T0 + timedelta(minutes=10))]
    out["expire"] = (store.silence_expire("s1", T0 + timedelta(minutes=1)), store.silence_expire("s1", T0))
    out["silences_all"] = [(s.id, s.expired_at) for s in store.silences(include_expired=True)]
    out["pruned"] = store.prune_results(T0 + timedelta(minutes=1))
    out["schema"] = store.schema_version()
    return out


def fill(store: Any) -> dict[str, Any]:
    """script() plus the SLA ledger, the report log and the shared config: every table gets rows."""
    out = script(store)
    store.sla_observations_add([
        SlaObservation("txn_fresh", T0 + timedelta(minutes=i), ObsState.MET if i % 2 == 0 else ObsState.BREACH,
                       60.0 * i, "lag", f"lag {i} min") for i in range(4)])
    store.sla_observations_add([SlaObservation("txn_fresh", T0 + timedelta(minutes=9), ObsState.UNKNOWN, None, "lag",
                                               "no data")])
    out["claim"] = store.report_claim("2026-W47", T0, "oncall@example.com")
    store.report_mark("2026-W47", "sent", T0 + timedelta(minutes=1), "ok")
    out["claim_again"] = store.report_claim("2026-W47", T0, "oncall@example.com")
    out["config_v1"] = store.shared_config_publish("h1", "checks: []\n", "replica-a", T0)
    out["config_v2"] = store.shared_config_publish("h2", "checks: [] # 50%\n", "replica-b", T0 + timedelta(minutes=1))
    return out


def snapshot(store: Any) -> dict[str, Any]:
    """What every read method answers about a store made by fill(): the same for any store holding that data."""
    day = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    return {
        "latest": {k: v.to_json() for k, v in store.latest_results().items()},
        "latest_as_of": sorted(store.latest_results(as_of=T0)),
        "between": [r.to_json() for r in store.results_between("lag", *day)],
        "recent": [r.observed_at for r in store.recent_results("lag", 5)],
        "memory": store.memory_load("lag", "offsets"),
        "states": {fp: s.to_json() for fp, s in store.alert_states().items()},
        "groups": store.pending_groups(),
        "flushed": store.group_flushed_at("page", "stage=s3_sink"),
        "threads": (store.thread_members("page", "t1"), store.threads_of("page", ["fa", "fb"])),
        "outbox": store.outbox_rows(),
        "outbox_pending": store.outbox_pending("slack"),
        "counts": (store.outbox_pending_count(), store.firing_count()),
        "deliveries": store.deliveries_between(*day),
        "ref": store.ref_get("slack", "fa"),
        "silences": store.silences(include_expired=True),
        "observations": store.sla_observations("txn_fresh", *day),
        "before": store.sla_observation_before("txn_fresh", T0 + timedelta(minutes=5)),
        "reports": store.report_log(),
        "messages": store.messages_between(*day),
        "status_counts": store.result_status_counts(*day),
        "config": store.shared_config(),
        "schema": store.schema_version(),
    }
