"""The Kubernetes example in deploy/ agrees with the image and the code: probes on the daemon's real endpoints and
port, secrets as files where Settings reads them, writable volumes exactly where a read-only root filesystem needs
them, scrape config on the metrics port, and only real SENTINEL_* settings in the environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from sentinel.cli_daemon import DRAIN
from sentinel.config.settings import DEFAULT_SECRETS_DIR, Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS: list[dict[str, Any]] = [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/sentinel.yaml").read_text()) if d]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def kind(name: str) -> dict[str, Any]:
    [doc] = [d for d in DOCS if d["kind"] == name]
    return doc


DEPLOYMENT = kind("Deployment")
POD = DEPLOYMENT["spec"]["template"]
[SENTINEL] = [c for c in POD["spec"]["containers"] if c["name"] == "sentinel"]
PORT = Settings().http_port


def mounts() -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in SENTINEL["volumeMounts"]}


def volume(name: str) -> dict[str, Any]:
    [v] = [v for v in POD["spec"]["volumes"] if v["name"] == name]
    return v


def test_probes_hit_the_daemons_health_endpoints_on_its_port() -> None:
    ports = {p["name"]: p["containerPort"] for p in SENTINEL["ports"]}
    assert ports == {"http-metrics": PORT}
    assert f"EXPOSE {PORT}" in DOCKERFILE
    live, ready = SENTINEL["livenessProbe"]["httpGet"], SENTINEL["readinessProbe"]["httpGet"]
    assert live["path"] == "/healthz" and ready["path"] == "/readyz"
    assert live["port"] in ports and ready["port"] in ports
    assert SENTINEL["startupProbe"]["httpGet"]["path"] == "/healthz"
    # liveness must tolerate the watchdog's 30 s stall window before restarting the pod
    probe = SENTINEL["livenessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 30


def test_resources_have_requests_and_limits() -> None:
    res = SENTINEL["resources"]
    assert set(res["requests"]) == {"cpu", "memory"} and set(res["limits"]) == {"cpu", "memory"}


def test_read_only_root_filesystem_with_writable_state_and_tmp() -> None:
    sc = SENTINEL["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    pod_sc = POD["spec"]["securityContext"]
    user = re.search(r"^USER (\d+)", DOCKERFILE, flags=re.MULTILINE)
    assert user and pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] == int(user.group(1))
    m = mounts()
    state = m["/var/lib/sentinel"]
    assert not state.get("readOnly") and ("emptyDir" in volume(state["name"]) or "persistentVolumeClaim" in volume(
        state["name"]))
    assert "emptyDir" in volume(m["/tmp"]["name"])  # TMPDIR and MPLCONFIGDIR of the image
    env = {e["name"]: e.get("value") for e in SENTINEL["env"]}
    assert env["SENTINEL_STATE_PATH"].startswith("/var/lib/sentinel/")
    assert any(d["kind"] == "PersistentVolumeClaim" for d in DOCS)  # the single-replica SQLite variant


def test_secrets_are_files_where_settings_reads_them() -> None:
    secret_mount = mounts()[str(DEFAULT_SECRETS_DIR)]
    assert secret_mount["readOnly"] is True
    vol = volume(secret_mount["name"])
    assert vol["secret"]["secretName"] and vol["secret"]["defaultMode"] == 0o400
    assert POD["spec"]["automountServiceAccountToken"] is False


def test_environment_names_only_real_settings_and_carries_no_secret() -> None:
    fields = set(Settings.model_fields)
    for e in SENTINEL["env"]:
        assert e["name"].startswith("SENTINEL_"), e["name"]
        field = e["name"].removeprefix("SENTINEL_").lower()
        assert field in fields or field == "secrets_dir", f"{e['name']} is not a Sentinel setting"
        annotation = str(Settings.model_fields[field].annotation) if field in fields else ""
        assert "SecretStr" not in annotation, f"{e['name']} is a secret: mount it as a file, not an env value"
        assert "valueFrom" not in e or "secretKeyRef" not in e["valueFrom"]


def test_prometheus_scrapes_each_replica_once() -> None:
    ann = POD["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == str(PORT)
    assert ann["prometheus.io/path"] == "/metrics"
    service = kind("Service")
    # a Service with scrape annotations too would be scraped a second time (kubernetes-service-endpoints)
    assert not any(k.startswith("prometheus.io/") for k in (service["metadata"].get("annotations") or {}))
    assert not [d for d in DOCS if d["kind"] in ("ServiceMonitor", "PodMonitor")], "one scrape mechanism per file"
    assert all(POD["metadata"]["labels"].get(k) == v for k, v in service["spec"]["selector"].items())


def test_the_operator_variant_scrapes_the_same_port_and_ships_the_same_rules() -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/prometheus-operator.yaml").read_text()) if d]
    [monitor] = [d for d in docs if d["kind"] == "PodMonitor"]
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in {p["name"] for p in SENTINEL["ports"]} and endpoint["path"] == "/metrics"
    assert all(POD["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert {"targetLabel": "job", "replacement": "sentinel", "action": "replace"} in endpoint["relabelings"]
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert rule["spec"] == yaml.safe_load((ROOT / "deploy/prometheus/sentinel-alerts.yaml").read_text())


def test_the_image_is_pinned_by_digest() -> None:
    assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", SENTINEL["image"]), SENTINEL["image"]


def test_two_replicas_drain_in_time_and_never_go_down_together() -> None:
    assert DEPLOYMENT["spec"]["replicas"] == 2
    assert POD["spec"]["terminationGracePeriodSeconds"] > DRAIN.total_seconds()
    assert DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert kind("PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert SENTINEL["args"] == ["run"]
