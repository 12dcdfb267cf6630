"""The runner turns anything a check does into a CheckResult, under a deadline, concurrently."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, ClassVar

from sentinel.api import Check, CheckContext, CheckResult, DictMemory, Finding, Params, SourceError, Status
from sentinel.clock import FakeClock, SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck


class NoParams(Params):
    pass


class FnCheck(Check[NoParams]):
    """A test plugin whose run() is the function given (a plugin written for the test, not a stand-in for a system)."""

    kind = "fn"
    Params = NoParams
    runbook = "check-broken"
    fn: ClassVar[Any]

    def __init__(self, fn: Any) -> None:
        super().__init__(NoParams())
        self._fn = fn

    def run(self, ctx: CheckContext) -> CheckResult:
        return self._fn(ctx)  # type: ignore[no-any-return]


def planned(check_id: str, fn: Any, timeout: float = 5.0, labels: dict[str, str] | None = None) -> PlannedCheck:
    spec = CheckSpec(id=check_id, kind="fn", timeout=timedelta(seconds=timeout), labels=labels or {})
    return PlannedCheck(spec=spec, check=FnCheck(fn), runbook="check-broken")


def make_runner(secrets: tuple[str, ...] = (), workers: int = 8) -> CheckRunner:
    return CheckRunner(sources=None, memory_for=lambda _id: DictMemory(), clock=FakeClock(), redactor=Redactor(secrets),
                       max_workers=workers)


def test_ok_result_passes_through_with_labels_from_config() -> None:
    result = make_runner().run_one(planned("a", lambda ctx: ctx.result("fn", Status.OK, "fine"), labels={"stage": "kafka"}))
    assert result.status is Status.OK
    assert result.labels["stage"] == "kafka"
    assert result.check_id == "a"


def test_exception_becomes_error_with_the_reason() -> None:
    def boom(ctx: CheckContext) -> CheckResult:
        raise SourceError("cannot connect to PostgreSQL 'default' at db:5432/app", hint="check the DSN")

    result = make_runner().run_one(planned("a", boom))
    assert result.status is Status.ERROR
    assert "cannot connect to PostgreSQL 'default'" in result.summary and "hint: check the DSN" in result.summary


def test_a_hung_check_is_cut_at_its_deadline() -> None:
    release = threading.Event()

    def hang(ctx: CheckContext) -> CheckResult:
        release.wait(30)
        return ctx.result("fn", Status.OK, "late")

    runner = make_runner()
    started = time.monotonic()
    result = runner.run_one(planned("slow", hang, timeout=0.3))
    elapsed = time.monotonic() - started
    assert result.status is Status.ERROR
    assert "did not finish within its 0.3s deadline" in result.summary
    assert elapsed < 5  # generous: proves it did not wait for the 30 s hang
    assert "slow" in runner.stuck()
    # the next run of a check whose previous run still hangs is refused, not stacked
    again = runner.run_one(planned("slow", hang, timeout=0.3))
    assert "previous run is still running" in again.summary
    release.set()


def test_checks_run_concurrently() -> None:
    barrier = threading.Barrier(4, timeout=5)

    def meet(ctx: CheckContext) -> CheckResult:
        barrier.wait()  # only returns if all four run at the same time
        return ctx.result("fn", Status.OK, "met")

    results = make_runner(workers=4).run_many([planned(f"c{i}", meet) for i in range(4)])
    assert [r.status for r in results] == [Status.OK] * 4


def test_worst_finding_sets_the_status() -> None:
    def mixed(ctx: CheckContext) -> CheckResult:
        return ctx.result("fn", Status.OK, "two findings", findings=[
            Finding("t1", Status.OK, "fine"), Finding("t2", Status.CRITICAL, "broken"),
        ])

    assert make_runner().run_one(planned("a", mixed)).status is Status.CRITICAL


def test_a_secret_in_an_exception_never_reaches_the_result() -> None:
    secret = "postgresql://svc:hunter2-very-secret@db.internal:5432/app"

    def leaky(ctx: CheckContext) -> CheckResult:
        raise RuntimeError(f"driver said: could not connect using {secret}")

    result = make_runner(secrets=(secret,)).run_one(planned("a", leaky))
    text = repr(result.to_json())
    assert "hunter2-very-secret" not in text
    assert "[redacted]" in result.summary


def test_a_plugin_returning_garbage_is_an_error_not_a_crash() -> None:
    result = make_runner().run_one(planned("a", lambda ctx: {"status": "ok"}))
    assert result.status is Status.ERROR and "not a CheckResult" in result.summary


def test_an_error_finding_beside_measured_ones_keeps_the_measured_status() -> None:
    """Issue 20: the result is ERROR only when no target could be measured (the SLA ledger counts it unknown)."""
    def partly(ctx: CheckContext) -> CheckResult:
        return ctx.result("fn", Status.OK, "x", findings=[Finding("a", Status.CRITICAL, "stale"),
                                                         Finding("b", Status.ERROR, "cannot measure b")])

    def blind(ctx: CheckContext) -> CheckResult:
        return ctx.result("fn", Status.OK, "x", findings=[Finding("b", Status.ERROR, "cannot measure b")])

    assert make_runner().run_one(planned("a", partly)).status is Status.CRITICAL
    assert make_runner().run_one(planned("b", blind)).status is Status.ERROR


def test_a_deadline_names_what_the_check_was_waiting_on() -> None:
    release = threading.Event()

    def hang(ctx: CheckContext) -> CheckResult:
        with ctx.doing("Snowflake query MAX(_LOADED_AT) on ANALYTICS.FCT_TRANSACTIONS"):
            release.wait(5)
        return ctx.result("fn", Status.OK, "late")

    try:
        result = make_runner().run_one(planned("slow", hang, timeout=0.3))
    finally:
        release.set()
    assert result.status is Status.ERROR
    assert result.summary.endswith("did not finish within its 0.3s deadline while waiting on Snowflake query "
                                   "MAX(_LOADED_AT) on ANALYTICS.FCT_TRANSACTIONS")


def test_a_call_timed_out_with_the_time_left_says_so_before_the_runner_gives_up() -> None:
    """A client given ctx.remaining() as its timeout, against a server that never answers, times out on its own and
    names what it waited on; the runner's bare "did not finish" is for checks that ignore their deadline. (With the
    two timeouts equal, which came first was a coin toss: a fault-matrix test lost it once in CI.)"""
    def hung_call(ctx: CheckContext) -> CheckResult:
        time.sleep(ctx.remaining_seconds(floor=0.0))  # the read timeout of a worker that was SIGSTOPped
        raise SourceError("Kafka Connect http://connect:8083/connectors: no answer")

    runner = CheckRunner(sources=None, memory_for=lambda _id: DictMemory(), clock=SystemClock(), redactor=Redactor(()))
    for _ in range(3):
        result = runner.run_one(planned("hung", hung_call, timeout=1.0))
        assert result.summary.startswith("could not run: Kafka Connect http://connect:8083/connectors: no answer"), \
            result.summary
