"""Apache Kafka (KRaft, one node: broker + controller) and a Kafka Connect distributed worker, from Maven Central jars.

The jars are fetched once with Maven (`mvn dependency:copy-dependencies` over a generated pom) into
devstack.base.cache_dir("kafka", <version>) and run with the machine's Java (17+). Nothing is downloaded
at run time after the first fetch.

    svc = start_kafka()                          # KafkaService(bootstrap="127.0.0.1:PORT", ...)
    connect = start_kafka_connect(svc.bootstrap)  # KafkaConnectService(url="http://127.0.0.1:PORT")
    ...
    connect.stop(); svc.stop()

`python -m devstack.kafka` starts both and prints their addresses until Ctrl-C.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.base import ManagedProcess, ServiceUnavailable, cache_dir, free_port, port_open, spawn, wait_until

KAFKA_VERSION = os.environ.get("SENTINEL_KAFKA_VERSION", "4.1.1")
LOG4J_VERSION = "2.24.3"
JAVA = os.environ.get("SENTINEL_JAVA", shutil.which("java") or "/usr/bin/java")
SETPRIV = shutil.which("setpriv")

_ARTIFACTS = ("kafka_2.13", "kafka-tools", "connect-runtime", "connect-file", "connect-json", "connect-transforms")

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sentinel.devstack</groupId><artifactId>kafka-jars</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
logger.log.name = kafka.log
logger.log.level = WARN
logger.cfg.name = org.apache.kafka.common.config
logger.cfg.level = WARN
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


def jars_dir() -> Path:
    """The folder of Kafka + Connect jars, fetched with Maven on first use (safe across concurrent callers)."""
    root = cache_dir("kafka", KAFKA_VERSION)
    libs = root / "libs"
    done = root / ".complete"
    if done.exists():
        return libs
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return libs
        deps = "\n".join(
            f"    <dependency><groupId>org.apache.kafka</groupId><artifactId>{a}</artifactId>"
            f"<version>{KAFKA_VERSION}</version></dependency>"
            for a in _ARTIFACTS
        )
        (root / "pom.xml").write_text(_POM.format(deps=deps, log4j=LOG4J_VERSION))
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceUnavailable("Kafka jars are not cached and Maven (`mvn`) is not installed: apt-get install maven")
        shutil.rmtree(libs, ignore_errors=True)
        log = root / "mvn.log"
        with log.open("wb") as out:
            proc = subprocess.run(
                [mvn, "-B", "-q", "-f", str(root / "pom.xml"), "dependency:copy-dependencies",
                 f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
                stdout=out, stderr=subprocess.STDOUT, timeout=600, check=False,
            )
        if proc.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise ServiceUnavailable(
                f"could not fetch Apache Kafka {KAFKA_VERSION} jars from Maven Central (mvn exit {proc.returncode}); "
                f"see {log}:\n{tail}"
            )
        (root / "log4j2.properties").write_text(_LOG4J2)
        done.write_text(KAFKA_VERSION)
    return libs


def _java_argv(main: str, heap: str, *args: str) -> list[str]:
    libs = jars_dir()
    if not Path(JAVA).exists():
        raise ServiceUnavailable(f"Java not found at {JAVA}; install a JDK 17 (apt-get install openjdk-17-jre-headless)")
    # setpriv --pdeathsig: the JVM dies with the Python process that started it, even when that one is killed
    # (a SIGKILLed pytest would otherwise leave a broker running). The parent is the starting *thread*: start
    # services from the main thread (fixtures, the demo and the benchmark do).
    guard = [SETPRIV, "--pdeathsig", "KILL", "--"] if SETPRIV else []
    return [
        *guard, JAVA, "-Xms64m", f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
        "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={libs.parent / 'log4j2.properties'}",
        "-cp", f"{libs}/*", main, *args,
    ]


def _props(values: Mapping[str, object]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


def _cluster_id() -> str:
    # one id in 64 starts with "-", which kafka-storage's argument parser takes for an option: format failed
    return "s" + base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")[1:]


@dataclass
class KafkaService:
    """One KRaft node (broker + controller) on 127.0.0.1."""

    bootstrap: str
    port: int
    controller_port: int
    data_dir: Path
    config_file: Path
    process: ManagedProcess
    log: Path
    heap: str = "512m"
    remove_data_on_stop: bool = False  # for throwaway brokers (the demo); restart() needs the data kept
    # librdkafka settings an admin client needs on this broker's listener (SASL credentials when it has them)
    client_config: Mapping[str, str] = field(default_factory=dict)
    _owned_tmp: Path | None = field(default=None, repr=False)

    def running(self) -> bool:
        return self.process.popen.poll() is None

    def stop(self) -> None:
        self.process.stop()
        if self.remove_data_on_stop and self._owned_tmp is not None:
            shutil.rmtree(self._owned_tmp, ignore_errors=True)

    def restart(self, *, timeout: float = 90.0, until_ready: bool = True) -> None:
        """Start the broker again on the same ports and data (after stop()). `until_ready=False` returns as soon as
        the port accepts connections: the first seconds after a restart, when coordinators are still loading."""
        self.process.stop()
        self.process = spawn("kafka", _java_argv("kafka.Kafka", self.heap, str(self.config_file)), log=self.log)
        if until_ready:
            _wait_broker(self, timeout)
        else:
            wait_until(lambda: port_open("127.0.0.1", self.port), what=f"Kafka broker on {self.bootstrap}",
                       timeout=timeout, proc=self.process.popen, log=self.log, interval=0.05)

    def cleanup(self) -> None:
        self.stop()
        if self._owned_tmp is not None:
            shutil.rmtree(self._owned_tmp, ignore_errors=True)


def _wait_broker(svc: KafkaService, timeout: float) -> None:
    from confluent_kafka.admin import AdminClient

    wait_until(lambda: port_open("127.0.0.1", svc.port), what=f"Kafka broker on {svc.bootstrap}",
               timeout=timeout, proc=svc.process.popen, log=svc.log)
    # destroyed on exit, in this thread (a client collected on a librdkafka thread aborts the process)
    with AdminClient({"bootstrap.servers": svc.bootstrap, "socket.timeout.ms": 3000, **svc.client_config}) as admin:

        def ready() -> bool:
            md = admin.list_topics(timeout=3)
            return bool(md.brokers)

        wait_until(ready, what=f"Kafka broker metadata on {svc.bootstrap}", timeout=timeout,
                   proc=svc.process.popen, log=svc.log, interval=0.5)


def start_kafka(
    *,
    workdir: Path | None = None,
    heap: str = "512m",
    retention_check_interval: float = 1.0,
    extra_config: Mapping[str, object] | None = None,
    client_config: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> KafkaService:
    """Format fresh KRaft storage and start one broker+controller node on free 127.0.0.1 ports.

    retention_check_interval (seconds) makes retention run often, so a topic with small `segment.ms`
    and `retention.ms` loses its old segments within seconds (the retention test uses this).
    """
    owned = None
    if workdir is None:
        owned = workdir = Path(tempfile.mkdtemp(prefix="kafka-", dir=cache_dir("kafka", "run")))
    workdir.mkdir(parents=True, exist_ok=True)
    port, cport = free_port(), free_port()
    while cport == port:
        cport = free_port()
    data = workdir / "data"
    config = {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@127.0.0.1:{cport}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": data,
        "num.partitions": 1,
        "num.network.threads": 2,
        "num.io.threads": 2,
        "background.threads": 2,
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 5,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "true",
        "log.retention.check.interval.ms": int(retention_check_interval * 1000),
        "log.initial.task.delay.ms": 0,
        "log.segment.delete.delay.ms": 0,
        "log.flush.offset.checkpoint.interval.ms": 1000,
        **(extra_config or {}),
    }
    cfg_file = workdir / "server.properties"
    cfg_file.write_text(_props(config))
    log = workdir / "kafka.log"
    fmt = subprocess.run(
        _java_argv("kafka.tools.StorageTool", "256m", "format", "-t", _cluster_id(), "-c", str(cfg_file),
                   "--ignore-formatted"),
        capture_output=True, text=True, timeout=120, check=False,
    )
    if fmt.returncode != 0:
        raise ServiceUnavailable(f"kafka-storage format failed (exit {fmt.returncode}): {fmt.stdout}{fmt.stderr}")
    proc = spawn("kafka", _java_argv("kafka.Kafka", heap, str(cfg_file)), log=log)
    svc = KafkaService(f"127.0.0.1:{port}", port, cport, data, cfg_file, proc, log, heap,
                       client_config=dict(client_config or {}), _owned_tmp=owned)
    try:
        _wait_broker(svc, timeout)
    except BaseException:
        svc.stop()
        raise
    return svc


@dataclass
class KafkaConnectService:
    """A Kafka Connect distributed worker with the FileStream source/sink connectors on its classpath."""

    url: str
    port: int
    process: ManagedProcess
    log: Path
    workdir: Path
    owned_workdir: bool = False

    def running(self) -> bool:
        return self.process.popen.poll() is None

    def stop(self) -> None:
        self.process.stop()
        if self.owned_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _http_json(url: str, timeout: float = 3.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local http URL we built
        return json.loads(resp.read())


def start_kafka_connect(
    bootstrap: str, *, workdir: Path | None = None, heap: str = "384m", group_id: str = "sentinel-connect",
    timeout: float = 150.0,
) -> KafkaConnectService:
    """Start a distributed Connect worker against `bootstrap`; ready when its REST API lists the file connectors."""
    owned = workdir is None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="connect-", dir=cache_dir("kafka", "run")))
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "config.storage.topic": f"{group_id}-configs",
        "offset.storage.topic": f"{group_id}-offsets",
        "status.storage.topic": f"{group_id}-status",
        "config.storage.replication.factor": 1,
        "offset.storage.replication.factor": 1,
        "offset.storage.partitions": 1,
        "status.storage.replication.factor": 1,
        "status.storage.partitions": 1,
        "offset.flush.interval.ms": 1000,
        "listeners": f"http://127.0.0.1:{port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": port,
        "scheduled.rebalance.max.delay.ms": 1000,
        "plugin.discovery": "only_scan",
    }
    cfg_file = workdir / "connect-distributed.properties"
    cfg_file.write_text(_props(config))
    log = workdir / "connect.log"
    proc = spawn("kafka-connect", _java_argv("org.apache.kafka.connect.cli.ConnectDistributed", heap, str(cfg_file)),
                 log=log)
    url = f"http://127.0.0.1:{port}"
    svc = KafkaConnectService(url, port, proc, log, workdir, owned)

    def ready() -> bool:
        plugins = _http_json(f"{url}/connector-plugins")
        names = {p.get("class", "") for p in plugins} if isinstance(plugins, list) else set()
        if "org.apache.kafka.connect.file.FileStreamSinkConnector" not in names:
            raise ServiceUnavailable(f"Kafka Connect at {url} does not list the FileStream connectors: {names}")
        _http_json(f"{url}/connectors")
        return True

    try:
        wait_until(ready, what=f"Kafka Connect worker REST API at {url}", timeout=timeout, proc=proc.popen, log=log,
                   interval=0.5)
    except BaseException:
        svc.stop()
        raise
    return svc


def main() -> None:  # pragma: no cover - manual use
    def _interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the JVMs too, not only this process
    t0 = time.monotonic()
    kafka = start_kafka()
    print(f"kafka bootstrap: {kafka.bootstrap}  (log {kafka.log}, {time.monotonic() - t0:.1f}s)", flush=True)
    connect = start_kafka_connect(kafka.bootstrap)
    print(f"kafka connect:   {connect.url}  (log {connect.log}, {time.monotonic() - t0:.1f}s)", flush=True)
    try:
        while kafka.running():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        connect.stop()
        kafka.cleanup()
        with contextlib.suppress(Exception):
            sys.stdout.flush()


if __name__ == "__main__":
    main()


def start_kafka_cluster(nodes: int = 2, *, heap: str = "384m", timeout: float = 180.0) -> list[KafkaService]:
    """`nodes` KRaft nodes on 127.0.0.1 forming one cluster: node 1 is broker and the (single) controller, the
    others brokers only; internal topics are replicated to every node. For rolling restarts one node at a time
    (a cluster of three is too heavy for the 2-core test machine beside the other services).
    Node 1's restart also restarts the controller: partitions it leads wait for it, as with a lost quorum."""
    root = Path(tempfile.mkdtemp(prefix="kafka-cluster-", dir=cache_dir("kafka", "run")))
    cluster_id = _cluster_id()
    ports = [free_port() for _ in range(nodes)]
    cport = free_port()
    while cport in ports:
        cport = free_port()
    services: list[KafkaService] = []
    try:
        for i, port in enumerate(ports, start=1):
            services.append(_cluster_node(root / f"node{i}", i, port, cport, cluster_id, nodes, heap))
        for svc in services:
            _wait_broker(svc, timeout)
    except BaseException:
        for svc in services:
            svc.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    services[0]._owned_tmp = root
    return services


def _cluster_node(workdir: Path, node_id: int, port: int, cport: int, cluster_id: str, nodes: int,
                  heap: str) -> KafkaService:
    workdir.mkdir(parents=True, exist_ok=True)
    controller = node_id == 1
    listeners = f"PLAINTEXT://127.0.0.1:{port}" + (f",CONTROLLER://127.0.0.1:{cport}" if controller else "")
    config = {
        "process.roles": "broker,controller" if controller else "broker",
        "node.id": node_id,
        "controller.quorum.voters": f"1@127.0.0.1:{cport}",
        "listeners": listeners,
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": workdir / "data",
        "num.partitions": 1,
        "num.network.threads": 2,
        "num.io.threads": 2,
        "background.threads": 2,
        "default.replication.factor": nodes,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": nodes,
        "offsets.topic.num.partitions": 5,
        "transaction.state.log.replication.factor": nodes,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": nodes,
        "share.coordinator.state.topic.min.isr": 1,
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "false",
        "controlled.shutdown.enable": "true",
        "log.flush.offset.checkpoint.interval.ms": 1000,
    }
    cfg_file = workdir / "server.properties"
    cfg_file.write_text(_props(config))
    fmt = subprocess.run(
        _java_argv("kafka.tools.StorageTool", "256m", "format", "-t", cluster_id, "-c", str(cfg_file),
                   "--ignore-formatted"),
        capture_output=True, text=True, timeout=120, check=False,
    )
    if fmt.returncode != 0:
        raise ServiceUnavailable(f"kafka-storage format of node {node_id} failed (exit {fmt.returncode}): "
                                 f"{fmt.stdout}{fmt.stderr}")
    log = workdir / "kafka.log"
    proc = spawn(f"kafka-node{node_id}", _java_argv("kafka.Kafka", heap, str(cfg_file)), log=log)
    return KafkaService(f"127.0.0.1:{port}", port, cport, workdir / "data", cfg_file, proc, log, heap)
