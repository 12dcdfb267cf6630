"""Log lines for people and pipelines: JSON with the check / alert / receiver as fields, libraries quiet by default,
a warning that repeats every few seconds said once."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from sentinel.logs import RepeatFilter, configure_logging, log_context


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, own = logging.getLogger(), logging.getLogger("sentinel")
    handlers, level, own_level = list(root.handlers), root.level, own.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    own.setLevel(own_level)


def test_json_lines_carry_the_check_alert_and_receiver(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(0, "json", daemon=True, stream=out)
    log = logging.getLogger("sentinel.alerting.outbox")
    with log_context(check_id="s3_sink_lag"):
        logging.getLogger("sentinel.runner").warning("check %s exceeded its deadline", "s3_sink_lag")
    with log_context(receiver="pager", alert_key="a1b2c3"):
        log.warning("delivery to %s failed (attempt %d)", "pager", 2)
    log.info("outside any context")
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["check_id"] == "s3_sink_lag" and first["message"] == "check s3_sink_lag exceeded its deadline"
    assert first["level"] == "WARNING" and first["logger"] == "sentinel.runner" and first["time"]
    assert second["receiver"] == "pager" and second["alert_key"] == "a1b2c3" and "check_id" not in second
    assert third["message"] == "outside any context" and "receiver" not in third


def test_text_lines_name_the_context_too(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(1, "text", stream=out)
    with log_context(check_id="dbt_results"):
        logging.getLogger("sentinel.scheduler").info("handled")
    assert out.getvalue().rstrip().endswith("sentinel.scheduler: handled [check_id=dbt_results]")


def test_third_party_info_is_quiet_unless_asked_for(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(0, "text", daemon=True, stream=out)
    logging.getLogger("apscheduler.executors.default").info('Running job "_tick"')
    logging.getLogger("botocore.credentials").info("Found credentials")
    logging.getLogger("sentinel.daemon").info("sentinel running: 3 checks")
    logging.getLogger("apscheduler.scheduler").warning("a real warning")
    assert out.getvalue().count("\n") == 2 and "sentinel running" in out.getvalue() and "a real warning" in out.getvalue()
    loud = io.StringIO()
    configure_logging(2, "text", stream=loud)
    logging.getLogger("apscheduler.executors.default").info('Running job "_tick"')
    assert "Running job" in loud.getvalue()


def test_repeats_within_the_window_are_held_back_then_counted() -> None:
    now = [0.0]
    f = RepeatFilter(window=600, monotonic=lambda: now[0])

    def record(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord("x", level, __file__, 1, msg, None, None)

    assert f.filter(record("receiver slow"))
    for step in range(1, 120):  # every 5 s for the next 10 minutes: held back
        now[0] = step * 5.0
        assert not f.filter(record("receiver slow"))
    now[0] = 600.0
    again = record("receiver slow")
    assert f.filter(again) and again.msg == "receiver slow (and 119 more like it in the last 10 min)"
    assert f.filter(record("something else"))  # another message is not held back
    assert f.filter(record("boom", logging.ERROR)) and f.filter(record("boom", logging.ERROR))  # errors always


def test_a_job_that_outlives_its_interval_warns_once_not_every_round(restore_logging: None) -> None:
    """APScheduler's own 'skipped: maximum number of running instances reached' behind a slow delivery round."""
    out = io.StringIO()
    configure_logging(0, "text", daemon=True, stream=out)
    reached = []
    counter = logging.Handler()
    counter.emit = reached.append  # type: ignore[method-assign]
    logging.getLogger("apscheduler.scheduler").addHandler(counter)
    release = threading.Event()
    scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True})
    scheduler.add_job(release.wait, IntervalTrigger(seconds=0.2), id="__deliver", args=[30])
    scheduler.start()
    try:
        deadline = threading.Event()
        while len([r for r in reached if "skipped" in r.getMessage()]) < 4 and not deadline.wait(0.1):
            pass
    finally:
        release.set()
        scheduler.shutdown(wait=True)
        logging.getLogger("apscheduler.scheduler").removeHandler(counter)
    assert len([r for r in reached if "skipped" in r.getMessage()]) >= 4
    assert out.getvalue().count("skipped: maximum number of running instances") == 1
