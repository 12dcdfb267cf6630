"""Kafka thin client (confluent-kafka): topics, consumer groups, offsets and message timestamps.

Every call takes an explicit timeout in seconds (pass the check's remaining time) and is batched:
one ListOffsets request set for the earliest offsets of all partitions and one for the latest,
one DescribeGroups for all groups, and the committed-offset fetches (the protocol allows one group per
request) issued concurrently and awaited together. Failures raise SourceError naming the bootstrap
servers and never a credential.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from sentinel.errors import SourceError
from sentinel.sources.kafka_errors import UNREACHABLE_HINT as _HINT
from sentinel.sources.kafka_errors import describe_kafka_error, error_code, hint_for
from sentinel.sources.kafka_offsets import CommittedOffsetReader
from sentinel.sources.reach import probe

log = logging.getLogger("sentinel.sources.kafka")

TP = tuple[str, int]

_UNREACHABLE_CODES = {"_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE"}


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A consumer group as the coordinator describes it: state and which partitions live members own."""

    group: str
    state: str  # stable, empty, dead, preparing_rebalance, completing_rebalance, assigning, reconciling, unknown
    members: int
    assigned: frozenset[TP]

    @property
    def alive(self) -> bool:
        return self.members > 0


@dataclass
class _Client:
    """An admin client with the calls using it and the requests it has in flight."""

    admin: Any
    users: int = 0
    futures: list[Future[Any]] = field(default_factory=list)

    def track(self, futures: Iterable[Future[Any]]) -> None:
        self.futures = [f for f in self.futures if not f.done()] + list(futures)

    def idle(self) -> bool:
        return self.users == 0 and all(f.done() for f in self.futures)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.admin.__exit__(None, None, None)


class KafkaSource:
    """Thin, timeout-bound client over one Kafka cluster. Create through `Sources.kafka()`."""

    def __init__(
        self,
        bootstrap: str,
        *,
        security_protocol: str = "PLAINTEXT",
        sasl_mechanism: str | None = None,
        sasl_username: str | None = None,
        sasl_password: SecretStr | None = None,
        client_id: str = "sentinel",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "security.protocol": security_protocol,
            "socket.timeout.ms": 10000,
            "socket.connection.setup.timeout.ms": 5000,
            "reconnect.backoff.max.ms": 2000,
            "logger": log,
        }
        if sasl_mechanism:
            self._config["sasl.mechanism"] = sasl_mechanism
        if sasl_username:
            self._config["sasl.username"] = sasl_username
        if sasl_password is not None:
            self._config["sasl.password"] = sasl_password.get_secret_value()
        self._config.update(extra or {})
        self._lock = threading.Lock()
        self._current: _Client | None = None
        self._graveyard: list[_Client] = []
        self._offsets = CommittedOffsetReader(self._config)

    def __repr__(self) -> str:
        return f"KafkaSource({self.bootstrap})"

    # -- plumbing ------------------------------------------------------------------------------------
    #
    # One admin client is shared by every check using this source (they may run concurrently). A failed call
    # retires it so the next call starts on a fresh one (after a broker outage a long-lived client can keep timing
    # out on stale coordinator connections). A retired client is destroyed only once no call uses it and every
    # request it sent has finished, and always explicitly in a Python thread: librdkafka aborts the process when
    # a client is destroyed from one of its own threads (where a garbage collection can happen to run), and a
    # client destroyed under a running call or with requests in flight can crash.

    @contextlib.contextmanager
    def _use(self) -> Iterator[_Client]:
        with self._lock:
            if self._current is None:
                from confluent_kafka.admin import AdminClient

                self._current = _Client(AdminClient(dict(self._config)))
            client = self._current
            client.users += 1
        try:
            yield client
        finally:
            with self._lock:
                client.users -= 1
            self._sweep()

    def _retire(self) -> None:
        with self._lock:
            if self._current is not None:
                self._graveyard.append(self._current)
                self._current = None

    def _sweep(self) -> None:
        with self._lock:
            dead = [c for c in self._graveyard if c.idle()]
            self._graveyard = [c for c in self._graveyard if not c.idle()]
        for c in dead:
            c.destroy()

    def close(self, wait: float = 15.0) -> None:
        """Destroy the admin clients now, in the calling thread, after their requests finish (up to `wait` s;
        a client still busy after that is left alone rather than destroyed under a request)."""
        self._retire()
        self._offsets.reset()
        deadline = time.monotonic() + wait
        while True:
            self._sweep()
            with self._lock:
                if not self._graveyard or time.monotonic() > deadline:
                    return
            time.sleep(0.05)

    def _fail(self, what: str, exc: BaseException | None, timeout: float | None = None) -> SourceError:
        self._retire()
        self._offsets.reset()  # after an outage a kept consumer may sit on a dead connection
        code = error_code(exc) if exc is not None else None
        reason = self._scrub(describe_kafka_error(exc)) if exc is not None and code != "_TIMED_OUT" else None
        if exc is None or isinstance(exc, FutureTimeout) or code in _UNREACHABLE_CODES:
            # librdkafka says "timed out" whether nothing listens, the name is unknown or the broker is hung
            reachable, why = probe(self.bootstrap)
            if not reachable:
                reason = why
            elif reason is None or isinstance(exc, FutureTimeout):
                waited = f" within {timeout:.1f}s" if timeout is not None else ""
                reason = f"the broker accepts connections but did not answer{waited} (hung or overloaded?)"
        return SourceError(f"Kafka {self.bootstrap}: {what} failed: {reason}",
                           hint=hint_for(exc) if exc is not None else _HINT)

    def _scrub(self, text: str) -> str:
        pw = self._config.get("sasl.password")
        return text.replace(pw, "***") if pw else text

    def _await(self, futures: Mapping[Any, Future[Any]], what: str, timeout: float) -> dict[Any, Any]:
        """Wait for all futures together within `timeout`; results keyed like `futures`."""
        _done, pending = wait_futures(list(futures.values()), timeout=timeout)
        if pending:
            raise self._fail(what, None, timeout)
        out: dict[Any, Any] = {}
        for key, fut in futures.items():
            try:
                out[key] = fut.result(timeout=0)
            except Exception as exc:
                raise self._fail(f"{what} ({key})", exc) from None
        return out

    # -- metadata ------------------------------------------------------------------------------------

    def topics(self, timeout: float) -> dict[str, int]:
        """Topic name -> partition count (internal topics included; callers filter)."""
        with self._use() as client:
            try:
                md = client.admin.list_topics(timeout=timeout)
            except Exception as exc:
                raise self._fail("listing topics", exc, timeout) from None
        return {name: len(t.partitions) for name, t in md.topics.items() if t.error is None}

    def groups(self, timeout: float) -> list[str]:
        with self._use() as client:
            try:
                fut = client.admin.list_consumer_groups(request_timeout=timeout)
                client.track([fut])
                result = fut.result(timeout=timeout + 0.25)
            except Exception as exc:
                raise self._fail("listing consumer groups", exc, timeout) from None
            if result.errors and not result.valid:
                raise self._fail("listing consumer groups", result.errors[0], timeout)
        return sorted(g.group_id for g in result.valid)

    def describe_groups(self, groups: Iterable[str], timeout: float) -> dict[str, GroupInfo]:
        names = sorted(set(groups))
        if not names:
            return {}
        with self._use() as client:
            try:
                futs = client.admin.describe_consumer_groups(names, request_timeout=timeout)
            except Exception as exc:
                raise self._fail("describing consumer groups", exc, timeout) from None
            client.track(futs.values())
            described = self._await(futs, "describing consumer groups", timeout + 0.25)
        out: dict[str, GroupInfo] = {}
        for name, d in described.items():
            assigned = frozenset(
                (tp.topic, tp.partition)
                for m in d.members
                if m.assignment is not None
                for tp in m.assignment.topic_partitions
            )
            state = getattr(d.state, "name", str(d.state)).lower()
            out[name] = GroupInfo(name, state, len(d.members), assigned)
        return out

    # -- offsets -------------------------------------------------------------------------------------

    def committed_offsets(self, groups: Iterable[str], partitions: Iterable[TP],
                          timeout: float) -> dict[str, dict[TP, int]]:
        """Committed offset of each group on `partitions` (partitions without a commit are absent); groups fetched
        concurrently, each by a consumer of its own (sentinel.sources.kafka_offsets says why not the admin API)."""
        names = sorted(set(groups))
        tps = sorted(set(partitions))
        if not names or not tps:
            return {n: {} for n in names}
        return self._offsets.read(names, tps, timeout, lambda what, exc: self._fail(what, exc, timeout))

    def log_offsets(self, partitions: Iterable[TP], timeout: float) -> dict[TP, tuple[int, int]]:
        """(log start offset, log end offset) per partition: two batched ListOffsets calls, concurrently."""
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin._listoffsets import OffsetSpec

        tps = sorted(set(partitions))
        if not tps:
            return {}
        first = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        last = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        keyed: dict[Any, Future[Any]] = {}
        with self._use() as client:
            try:
                earliest = client.admin.list_offsets({TopicPartition(t, p): first for t, p in tps},
                                                     request_timeout=timeout)
                keyed.update({("s", tp.topic, tp.partition): f for tp, f in earliest.items()})
                latest = client.admin.list_offsets({TopicPartition(t, p): last for t, p in tps},
                                                   request_timeout=timeout)
                keyed.update({("e", tp.topic, tp.partition): f for tp, f in latest.items()})
            except Exception as exc:
                raise self._fail("listing log offsets", exc, timeout) from None
            finally:
                client.track(keyed.values())
            got = self._await(keyed, "listing log offsets", timeout + 0.25)
        return {(t, p): (int(got[("s", t, p)].offset), int(got[("e", t, p)].offset)) for t, p in tps}

    # -- message timestamps ----------------------------------------------------------------------------

    def message_timestamps(self, wanted: Iterable[tuple[str, int, int]], timeout: float) -> dict[tuple[str, int, int],
                                                                                                  datetime]:
        """Timestamp of the first message at or after each (topic, partition, offset).

        One assign-only consumer (no group join, nothing committed) starts each partition at its smallest wanted
        offset and seeks forward to the next one when it is far ahead, so several offsets of one partition cost one
        pass. Whatever is not read before `timeout` is simply absent: callers fall back to an estimate.
        """
        from confluent_kafka import Consumer, TopicPartition

        per_tp: dict[TP, list[int]] = defaultdict(list)
        for t, p, off in set(wanted):
            per_tp[(t, p)].append(off)
        if not per_tp:
            return {}
        for offs in per_tp.values():
            offs.sort()
        nxt = dict.fromkeys(per_tp, 0)
        deadline = time.monotonic() + timeout
        conf = {k: v for k, v in self._config.items() if k != "client.id"}
        conf.update({
            "client.id": "sentinel-lag-probe",
            "group.id": "sentinel-lag-probe",  # required by the client; never joined or committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 50,
            "max.partition.fetch.bytes": 65536,
            "fetch.max.bytes": 4 * 1024 * 1024,
            "queued.max.messages.kbytes": 8192,
        })
        out: dict[tuple[str, int, int], datetime] = {}
        consumer = Consumer(conf)
        try:
            consumer.assign([TopicPartition(t, p, offs[0]) for (t, p), offs in per_tp.items()])
            open_tps = len(per_tp)
            while open_tps:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for msg in consumer.consume(num_messages=min(10000, 20 * open_tps + 10), timeout=min(left, 0.5)):
                    if msg.error() is not None:
                        continue
                    tp = (str(msg.topic()), int(msg.partition() or 0))
                    if tp not in per_tp or nxt[tp] >= len(per_tp[tp]):
                        continue
                    offs = per_tp[tp]
                    offset = int(msg.offset() or 0)
                    i = nxt[tp]
                    if offset < offs[i]:
                        continue
                    ts_type, ts_ms = msg.timestamp()
                    while i < len(offs) and offs[i] <= offset:
                        if ts_type != 0 and ts_ms > 0:  # 0 = TIMESTAMP_NOT_AVAILABLE
                            out[(tp[0], tp[1], offs[i])] = datetime.fromtimestamp(ts_ms / 1000, UTC)
                        i += 1
                    nxt[tp] = i
                    if i >= len(offs):
                        open_tps -= 1
                        consumer.pause([TopicPartition(tp[0], tp[1])])
                    elif offs[i] - offset > 500:
                        consumer.seek(TopicPartition(tp[0], tp[1], offs[i]))
        except Exception as exc:
            raise self._fail("reading message timestamps", exc, timeout) from None
        finally:
            consumer.close()
        return out

    # -- newest message values --------------------------------------------------------------------------

    def newest_values(self, topic: str, timeout: float) -> list[tuple[datetime | None, bytes]]:
        """The value of the newest message in each partition of `topic`, with its timestamp (schema_drift).

        Assign-only like message_timestamps: no group join, nothing committed. Empty partitions give nothing;
        what is not read before `timeout` is absent.
        """
        from confluent_kafka import Consumer, TopicPartition

        deadline = time.monotonic() + timeout
        count = self.topics(timeout).get(topic, 0)
        ends = self.log_offsets([(topic, p) for p in range(count)], max(0.5, deadline - time.monotonic()))
        wanted = {tp: end - 1 for tp, (start, end) in ends.items() if end > start}
        if not wanted:
            return []
        conf = {k: v for k, v in self._config.items() if k != "client.id"}
        conf.update({"client.id": "sentinel-schema-probe", "group.id": "sentinel-schema-probe",
                     "enable.auto.commit": False, "enable.auto.offset.store": False, "fetch.wait.max.ms": 50})
        out: dict[TP, tuple[datetime | None, bytes]] = {}
        consumer = Consumer(conf)
        try:
            consumer.assign([TopicPartition(t, p, off) for (t, p), off in wanted.items()])
            while len(out) < len(wanted) and (left := deadline - time.monotonic()) > 0:
                for msg in consumer.consume(num_messages=len(wanted), timeout=min(left, 0.5)):
                    value = msg.value()
                    if msg.error() is not None or value is None:
                        continue
                    ts_type, ts_ms = msg.timestamp()
                    at = datetime.fromtimestamp(ts_ms / 1000, UTC) if ts_type != 0 and ts_ms > 0 else None
                    out[(str(msg.topic()), int(msg.partition() or 0))] = (at, bytes(value))
        except Exception as exc:
            raise self._fail(f"reading the newest messages of {topic}", exc, timeout) from None
        finally:
            consumer.close()
        return list(out.values())
