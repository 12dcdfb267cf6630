"""Kafka consumer-lag benchmark (issue 3).

On the local KRaft broker (started here, from the cached Maven jars): 20 topics x 50 partitions, 200 consumer
groups (10 per topic, each at its own committed offsets), i.e. 200 groups x 50 partitions = 10,000
group-partitions. Measured in the same run:

  check run       one kafka_consumer_lag run over all 200 groups (cold: empty memory; warm: a stored window)
                  wall time and peak Python memory (tracemalloc), plus the stored window's JSON size   target < 5 s
  wide topic      one group on ONE topic of 10,000 partitions (issue 14's target < 3 s), cold and warm,
                  against the same check on a topic of 1,000 partitions in the same run (the named baseline;
                  SENTINEL_BENCH_WIDE_PARTITIONS=0 skips it: creating 10,000 partitions takes minutes)
  naive offsets   baseline: one ListOffsets call per partition, awaited one at a time (what batching avoids)
  evaluation      the pure window evaluation of 100,000 group-partitions x 11 samples (numpy)        target < 0.5 s
  naive eval      baseline: the same verdicts from per-partition Python loops over lists of tuples
  state size      the window as flat arrays (what is stored) vs as lists of (committed, end) tuples

Run: .venv/bin/python benchmarks/kafka_lag.py      Writes benchmarks/results/kafka_lag.json.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from sentinel_checks._kafka_lag_window import WindowState, evaluate  # noqa: E402
from sentinel_checks.kafka_consumer_lag import KafkaConsumerLagCheck, KafkaConsumerLagParams  # noqa: E402

from benchmarks.baselines.kafka_lag_naive import naive_evaluate  # noqa: E402
from devstack.kafka import KAFKA_VERSION, start_kafka  # noqa: E402
from sentinel.api import CheckContext, DictMemory  # noqa: E402
from sentinel.clock import FakeClock, SystemClock  # noqa: E402
from sentinel.config.settings import Settings  # noqa: E402
from sentinel.sources import Sources  # noqa: E402

TOPICS, PARTITIONS, GROUPS_PER_TOPIC, MESSAGES_PER_PARTITION = 20, 50, 10, 40
CHECK_TARGET, EVAL_TARGET = 5.0, 0.5
EVAL_PARTITIONS, EVAL_SAMPLES = 100_000, 11


def seed(bootstrap: str) -> tuple[list[str], list[str]]:
    with AdminClient({"bootstrap.servers": bootstrap}) as admin:  # destroyed here, never by the collector
        return _seed(admin, bootstrap)


def _seed(admin: AdminClient, bootstrap: str) -> tuple[list[str], list[str]]:
    topics = [f"cdc.bench.t{i:02d}" for i in range(TOPICS)]
    for f in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics], operation_timeout=60,
                                 request_timeout=60).values():
        f.result(timeout=90)
    time.sleep(2)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for t in topics:
        for p in range(PARTITIONS):
            for i in range(MESSAGES_PER_PARTITION):
                producer.produce(t, value=b'{"op":"c","id":%d}' % i, partition=p)
        producer.poll(0)
    assert producer.flush(60) == 0
    rng = random.Random(3)
    wanted: dict[str, list[TopicPartition]] = {}
    for t in topics:
        for g in range(GROUPS_PER_TOPIC):
            name = f"bench-sink-{t.rsplit('.', 1)[1]}-{g}"
            wanted[name] = [TopicPartition(t, p, rng.randint(0, MESSAGES_PER_PARTITION)) for p in range(PARTITIONS)]
    pending = dict(wanted)
    for _ in range(10):  # a fresh coordinator can refuse some commits (load in progress): retry those groups
        futures = {name: next(iter(admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(name, offsets)], request_timeout=60).values()))
            for name, offsets in pending.items()}
        failed = {}
        for name, f in futures.items():
            try:
                res = f.result(timeout=90)
                if any(tp.error is not None for tp in res.topic_partitions):
                    failed[name] = pending[name]
            except Exception:
                failed[name] = pending[name]
        pending = failed
        if not pending:
            break
        time.sleep(1)
    assert not pending, f"could not commit offsets for {sorted(pending)[:5]}"
    groups = list(wanted)
    return topics, groups


WIDE_PARTITIONS = int(os.environ.get("SENTINEL_BENCH_WIDE_PARTITIONS", "10000"))
WIDE_TARGET = 3.0


def wide_topic(admin: AdminClient, bootstrap: str, partitions: int) -> tuple[str, str]:
    """One topic of `partitions`, two messages in each, and a group committed at 1 everywhere (lag 1 each)."""
    from confluent_kafka.admin import NewPartitions

    topic, group = f"cdc.bench.wide{partitions}", f"bench-wide-sink-{partitions}"
    made = min(partitions, 5000)  # KRaft refuses an operation of more than 10,000 records (one per partition)
    for f in admin.create_topics([NewTopic(topic, made, 1)], operation_timeout=600, request_timeout=600).values():
        f.result(timeout=700)
    while made < partitions:
        made = min(partitions, made + 5000)
        for f in admin.create_partitions([NewPartitions(topic, made)], operation_timeout=600,
                                         request_timeout=600).values():
            f.result(timeout=700)
    while True:  # until every partition has a leader: a producer with older metadata fails on the new ones
        md = admin.list_topics(topic, timeout=60).topics[topic]
        if len(md.partitions) == partitions and all(p.leader >= 0 for p in md.partitions.values()):
            break
        time.sleep(1)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    for p in range(partitions):
        producer.produce(topic, value=b'{"op":"c"}', partition=p)
        producer.produce(topic, value=b'{"op":"c"}', partition=p)
        producer.poll(0)
    assert producer.flush(1200) == 0
    for _ in range(10):
        res = next(iter(admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, 1) for p in range(partitions)])],
            request_timeout=120).values())).result(timeout=150)
        if not any(tp.error is not None for tp in res.topic_partitions):
            break
        time.sleep(1)
    return topic, group


def bench_wide(bootstrap: str) -> dict[str, Any]:
    """The same check on one topic of 1,000 partitions (baseline) and of WIDE_PARTITIONS, cold then warm."""
    out: dict[str, Any] = {}
    for partitions in (1000, WIDE_PARTITIONS):
        started = time.perf_counter()
        with AdminClient({"bootstrap.servers": bootstrap}) as admin:
            topic, group = wide_topic(admin, bootstrap, partitions)
        print(f"  made {topic} in {time.perf_counter() - started:.0f}s", flush=True)
        sources = Sources(Settings(kafka_bootstrap=bootstrap))
        check = KafkaConsumerLagCheck(KafkaConsumerLagParams(groups=[group], topics=[topic.replace(".", "\\.")],
                                                             lag_warn="5m"))
        memory, clock = DictMemory(), FakeClock(SystemClock().now())
        cold = None
        for _ in range(10):  # a broker that just made thousands of partitions may not lead them all yet
            try:
                cold = one_run(check, sources, memory, clock)
                break
            except Exception as exc:
                print(f"  cold run retried: {exc}", flush=True)
                time.sleep(5)
        runs = []
        for _ in range(3):
            clock.advance(timedelta(minutes=1))
            runs.append(one_run(check, sources, memory, clock)["wall_seconds"])
        sources.kafka().close()
        out[str(partitions)] = {"cold": cold, "warm_seconds": sorted(runs)[1]}
    return out


def one_run(check: KafkaConsumerLagCheck, sources: Sources, memory: DictMemory, clock: Any, *,
            trace_memory: bool = False) -> dict[str, Any]:
    """One check run; wall time is measured without tracemalloc (it slows Python several times)."""
    ctx = CheckContext(check_id="bench", clock=clock, deadline_monotonic=clock.monotonic() + 60, sources=sources,
                       memory=memory)
    if trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    result = check.run(ctx)
    wall = time.perf_counter() - started
    out: dict[str, Any] = {"wall_seconds": round(wall, 3)}
    if trace_memory:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["peak_python_mib"] = round(peak / 2**20, 1)
    state = memory._data["window"]
    out.update({"state_json_kib": round(len(state) / 1024, 1), "status": result.status.value,
                "findings": len(result.findings), "summary": result.summary[:160]})
    return out


def naive_offsets(bootstrap: str, topics: list[str]) -> float:
    from confluent_kafka.admin._listoffsets import OffsetSpec

    with AdminClient({"bootstrap.servers": bootstrap}) as admin:
        started = time.perf_counter()
        for t in topics:
            for p in range(PARTITIONS):
                fut = admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest()}, request_timeout=10)
                next(iter(fut.values())).result(timeout=15)
        return time.perf_counter() - started


def synthetic_window(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    times = np.arange(EVAL_SAMPLES, dtype=np.float64) * 60.0
    base = rng.integers(0, 10**9, EVAL_PARTITIONS)
    growth = rng.integers(0, 500, (EVAL_SAMPLES, EVAL_PARTITIONS)).cumsum(axis=0)
    end = base + growth
    moving = rng.random(EVAL_PARTITIONS) < 0.8
    committed = np.where(moving, end - rng.integers(0, 300, (EVAL_SAMPLES, EVAL_PARTITIONS)), end[0] - 50)
    committed[:, rng.random(EVAL_PARTITIONS) < 0.01] = -1
    start = base - rng.integers(-100, 10**6, EVAL_PARTITIONS)
    owned = rng.random(EVAL_PARTITIONS) < 0.5
    return times, committed.astype(np.int64), end.astype(np.int64), start.astype(np.int64), owned


def bench_evaluation() -> dict[str, Any]:
    times, committed, end, start, owned = synthetic_window(np.random.default_rng(11))
    fast = []
    for _ in range(5):
        t0 = time.perf_counter()
        res = evaluate(times, committed, end, start, owned, window_seconds=600, min_samples=3)
        fast.append(time.perf_counter() - t0)
    lists_c, lists_e = committed.tolist(), end.tolist()
    t0 = time.perf_counter()
    slow = naive_evaluate(times.tolist(), lists_c, lists_e, start.tolist(), owned.tolist(), 600, 3)
    naive = time.perf_counter() - t0
    assert res.verdict.tolist() == slow, "vectorised and naive evaluations disagree"
    state = WindowState(times, {}, {"c": committed, "e": end})
    arrays_json = len(json.dumps(state.to_json()))
    tuples_json = len(json.dumps([[[int(c), int(e)] for c, e in zip(rc, re_, strict=True)]
                                  for rc, re_ in zip(lists_c, lists_e, strict=True)]))
    tracemalloc.start()
    as_tuples = [[(int(c), int(e)) for c, e in zip(rc, re_, strict=True)] for rc, re_ in zip(lists_c, lists_e,
                                                                                          strict=True)]
    tuples_mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del as_tuples
    counts = {int(v): int((res.verdict == v).sum()) for v in np.unique(res.verdict)}
    return {"group_partitions": EVAL_PARTITIONS, "samples": EVAL_SAMPLES,
            "vectorised_seconds": round(min(fast), 4), "naive_seconds": round(naive, 3),
            "speedup": round(naive / min(fast), 1), "verdict_counts": counts,
            "stored_json_arrays_delta_mib": round(arrays_json / 2**20, 1),
            "stored_json_tuples_mib": round(tuples_json / 2**20, 1),
            "in_memory_arrays_mib": round((committed.nbytes + end.nbytes) / 2**20, 1),
            "in_memory_tuples_mib": round(tuples_mem / 2**20, 1)}


def main() -> None:
    os.environ.setdefault("SENTINEL_DEVSTACK_CACHE", str(ROOT / ".cache" / "devstack"))
    print(f"starting Kafka {KAFKA_VERSION} (KRaft) ...", flush=True)
    kafka = start_kafka(heap="1g")
    try:
        t0 = time.perf_counter()
        topics, groups = seed(kafka.bootstrap)
        print(f"seeded {len(topics)} topics x {PARTITIONS} partitions, {len(groups)} groups "
              f"in {time.perf_counter() - t0:.1f}s", flush=True)
        sources = Sources(Settings(kafka_bootstrap=kafka.bootstrap))
        check = KafkaConsumerLagCheck(KafkaConsumerLagParams(groups=groups, topics=["cdc\\.bench\\..*"],
                                                             all_matching_topics=False, lag_warn="5m"))
        memory = DictMemory()
        clock = FakeClock(SystemClock().now())
        cold = one_run(check, sources, memory, clock)
        runs = []
        for _ in range(EVAL_SAMPLES - 1):  # fill the window: 11 samples, as a 1-minute schedule keeps for 10m
            clock.advance(timedelta(minutes=1))
            runs.append(one_run(check, sources, memory, clock))
        warm = min(runs[-3:], key=lambda r: r["wall_seconds"])
        warm["median_of_last_5_seconds"] = sorted(r["wall_seconds"] for r in runs[-5:])[2]
        clock.advance(timedelta(minutes=1))
        traced = one_run(check, sources, memory, clock, trace_memory=True)
        warm["peak_python_mib"] = traced["peak_python_mib"]
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        naive = naive_offsets(kafka.bootstrap, topics)
        tps = [(t, p) for t in topics for p in range(PARTITIONS)]
        t0 = time.perf_counter()
        sources.kafka().log_offsets(tps, 30)
        batched = time.perf_counter() - t0
        sources.kafka().close()
        wide = bench_wide(kafka.bootstrap) if WIDE_PARTITIONS else {}
    finally:
        kafka.cleanup()
    evaluation = bench_evaluation()
    out = {
        "kafka_version": KAFKA_VERSION, "python": platform.python_version(), "cpus": os.cpu_count(),
        "groups": len(groups), "partitions_per_group": PARTITIONS, "group_partitions": len(groups) * PARTITIONS,
        "check_run_cold": cold, "check_run_warm": warm, "check_target_seconds": CHECK_TARGET,
        "process_max_rss_mib": round(rss_mib, 1),
        "naive_per_partition_list_offsets_seconds": round(naive, 3),
        "batched_log_offsets_seconds": round(batched, 3),
        "evaluation": evaluation, "evaluation_target_seconds": EVAL_TARGET,
        "one_topic": wide, "one_topic_target_seconds": WIDE_TARGET,
        "load_average_at_the_end": os.getloadavg()[0],
    }
    print(f"\ncheck run, {len(groups)} groups x {PARTITIONS} partitions ({len(groups) * PARTITIONS:,} "
          f"group-partitions, {TOPICS * PARTITIONS} topic-partitions):")
    for name, r in (("cold", cold), ("warm", warm)):
        verdict = "OK" if r["wall_seconds"] < CHECK_TARGET else "MISSED"
        print(f"  {name:5} {r['wall_seconds']:7.3f} s  (target < {CHECK_TARGET} s: {verdict})  "
              f"stored window {r['state_json_kib']} KiB, {r['findings']} findings, status {r['status']}")
    print(f"  warm run: median of the last 5 runs {warm['median_of_last_5_seconds']:.3f} s; peak Python memory "
          f"of one run {warm['peak_python_mib']} MiB (tracemalloc); process max RSS {rss_mib:.0f} MiB")
    print(f"  naive baseline: one ListOffsets per partition, {TOPICS * PARTITIONS} calls: {naive:.3f} s for the end "
          f"offsets alone, vs {batched:.3f} s for start and end offsets batched (on loopback; each naive call "
          "pays a network round trip on a real cluster)")
    for partitions, r in wide.items():
        cold_s = r["cold"]["wall_seconds"] if r["cold"] else float("nan")
        print(f"  one group on one topic of {int(partitions):,} partitions: cold {cold_s:.3f} s, warm "
              f"{r['warm_seconds']:.3f} s (target < {WIDE_TARGET} s at 10,000; 1,000 is the baseline)")
    e = evaluation
    verdict = "OK" if e["vectorised_seconds"] < EVAL_TARGET else "MISSED"
    print(f"\npure evaluation of {e['group_partitions']:,} group-partitions x {e['samples']} samples:")
    print(f"  vectorised {e['vectorised_seconds']:.4f} s  (target < {EVAL_TARGET} s: {verdict})")
    print(f"  naive      {e['naive_seconds']:.3f} s  (per-partition Python loops; {e['speedup']}x slower)")
    print(f"  window state: stored JSON {e['stored_json_arrays_delta_mib']} MiB as delta-encoded arrays vs "
          f"{e['stored_json_tuples_mib']} MiB as lists of (committed, end) tuples; in memory "
          f"{e['in_memory_arrays_mib']} MiB as int64 arrays vs {e['in_memory_tuples_mib']} MiB as tuples")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "kafka_lag.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {results / 'kafka_lag.json'}")


if __name__ == "__main__":
    main()
