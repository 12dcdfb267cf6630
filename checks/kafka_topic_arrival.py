"""kafka_topic_arrival: are change events still arriving in each CDC topic (the kafka stage)?

Consumer lag says whether the S3 sink keeps up; it cannot tell that nothing is being written at all. This check
reads the newest message of every partition of each topic (assign-only: no group joined, nothing committed) and
judges the age of the newest one, so Debezium or a producer that stopped writing shows at the kafka stage of its
table. One finding per topic (its own alert); a topic that cannot be read is that topic's ERROR, the others are
still judged.

    kind: kafka_topic_arrival
    params: {topics: [cdc.payments.transactions, payment.events], warn_after: 10m, critical_after: 30m,
             table_labels: {payment.events: events.payment_events}}
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckError,
    CheckResult,
    Duration,
    Finding,
    Params,
    Status,
    TableRegex,
    crossed,
    format_duration,
    measured_status,
    require_ordered,
)

if TYPE_CHECKING:
    from sentinel.sources.kafka import KafkaSource

_TOPIC = re.compile(r"^[A-Za-z0-9._\-]{1,249}$")


class KafkaTopicArrivalParams(Params):
    topics: list[str] = Field(min_length=1, description="topic names (not regexes: a topic that vanished must be "
                                                        "reported, not silently unmatched)")
    warn_after: Duration = Field(timedelta(minutes=10), description="newest message older than this: warning")
    critical_after: Duration = Field(timedelta(minutes=30), description="newest message older than this: critical")
    table_from_topic: TableRegex | None = Field(r"cdc\.(?P<table>[^.]+\.[^.]+)",
                                         description="regex with a `table` group that labels a topic's finding")
    table_labels: dict[str, str] = Field(default_factory=dict, description="topic -> table, for names the regex "
                                                                            "cannot read (payment.events)")
    stage: str = "kafka"

    @field_validator("topics")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        for v in values:
            if not _TOPIC.match(v):
                raise ValueError(f"{v!r} is not a Kafka topic name (letters, digits, '.', '_', '-')")
        return values


    @model_validator(mode="after")
    def _ordered(self) -> KafkaTopicArrivalParams:
        require_ordered("warn_after", self.warn_after, "critical_after", self.critical_after, show=format_duration)
        return self

    def table_of(self, topic: str) -> str | None:
        if topic in self.table_labels:
            return self.table_labels[topic]
        m = re.fullmatch(self.table_from_topic, topic) if self.table_from_topic else None
        return m.group("table") if m else None


def judge_topic(topic: str, newest: datetime | None, messages: int, now: datetime,
                p: KafkaTopicArrivalParams) -> tuple[Status, str, dict[str, float]]:
    """Status, summary and values of one topic from its newest message time (None: no message). Pure."""
    values = {"messages_retained": float(messages)}
    if newest is None:
        return Status.WARN, f"topic {topic}: no message to read (empty, or every message expired)", values
    age = max(timedelta(0), now - newest)  # a producer clock ahead of ours is not "older than 0"
    values["newest_message_age_seconds"] = age.total_seconds()
    status, limit = crossed(age, warn=p.warn_after, critical=p.critical_after)
    written = f"written {newest:%Y-%m-%d %H:%M} UTC"
    if status is Status.OK or limit is None:
        return status, f"topic {topic}: newest message {format_duration(age)} old ({written})", values
    return status, (f"topic {topic}: nothing written for {format_duration(age)} (> {format_duration(limit)}); newest "
                    f"message {written}"), values


class KafkaTopicArrivalCheck(Check[KafkaTopicArrivalParams]):
    kind = "kafka_topic_arrival"
    Params = KafkaTopicArrivalParams
    runbook = "kafka-topic-arrival"
    warm_imports = ("sentinel.sources.kafka", "confluent_kafka")

    def describe(self) -> str:
        p = self.params
        return (f"{len(p.topics)} topic(s): newest message within {format_duration(p.warn_after)}"
                f"/{format_duration(p.critical_after)}")

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        kafka = ctx.sources.kafka()
        ctx.doing.current = f"Kafka {kafka.bootstrap}: topic metadata"
        existing: dict[str, int] = kafka.topics(ctx.remaining_seconds())
        findings = [self._topic(ctx, kafka, t, existing) for t in p.topics]
        bad = [f for f in findings if f.status is not Status.OK]
        summary = ("; ".join(f.summary for f in bad[:3]) if bad
                   else f"all {len(findings)} topic(s) received messages within {format_duration(p.warn_after)}")
        ages = [f.values["newest_message_age_seconds"] for f in findings if "newest_message_age_seconds" in f.values]
        return ctx.result(self.kind, measured_status(findings), summary, findings=findings,
                          values={"max_newest_message_age_seconds": max(ages, default=0.0),
                                  "topics_with_problems": float(len(bad))})

    def _topic(self, ctx: CheckContext, kafka: KafkaSource, topic: str, existing: dict[str, int]) -> Finding:
        p = self.params
        labels = {"topic": topic, "stage": p.stage}
        table = p.table_of(topic)
        if table:
            labels["table"] = table
        if topic not in existing:
            return Finding(key=topic, status=Status.CRITICAL, labels=labels,
                           summary=f"topic {topic} does not exist on the cluster (deleted, or renamed by a connector "
                                   "change?)")
        try:
            with ctx.doing(f"Kafka {kafka.bootstrap}: newest messages of {topic}"):
                ends = kafka.log_offsets([(topic, i) for i in range(existing[topic])], ctx.remaining_seconds())
                newest = kafka.newest_values(topic, ctx.remaining_seconds())
        except CheckError as exc:  # SourceError included: this topic could not be read, the others can
            return Finding(key=topic, status=Status.ERROR, summary=f"topic {topic}: cannot read: {exc}", labels=labels,
                           details={"error": str(exc)})
        stamps = [at for at, _ in newest if at is not None]
        retained = sum(end - start for start, end in ends.values())
        status, summary, values = judge_topic(topic, max(stamps, default=None), retained, ctx.now(), p)
        if retained and not stamps:
            status, summary = Status.WARN, f"topic {topic}: {retained} messages but none readable within the deadline"
        return Finding(key=topic, status=status, summary=summary, values=values, labels=labels,
                       details={"diagnose": "kafka-console-consumer.sh --bootstrap-server $KAFKA_BOOTSTRAP "
                                            f"--topic {topic} --max-messages 1 --offset latest --partition 0"})
