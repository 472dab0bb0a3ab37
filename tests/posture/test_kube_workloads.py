"""The Kubernetes workload checks on real manifest files (a hardened and a misconfigured set, with a List, a
broken YAML file, a Helm template and a hidden directory) through ``scan_posture`` and the CLI, and on a
cluster's objects served over HTTP by kmock's Kubernetes emulator (tests/plugins/kube_emulator.py): found by
name, read once per scan, and ERROR (never PASS) when the API is closed, refuses the user or the kubeconfig
is unusable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.kube_emulator import KubeEmulator, closed_port, write_kubeconfig
from threatstryker.posture.context import Context
from threatstryker.posture.engine import evaluate, load_checks
from threatstryker.posture.kube import CACHE_KEY, build_inventory
from threatstryker.posture.kube.manifests import read_manifests
from threatstryker.posture.model import ERROR, FAIL, NOT_APPLICABLE, PASS
from threatstryker.posture.scanner import scan_posture
from threatstryker.sources.dirtree import DirTree

FIXTURES = Path(__file__).parent / "k8s"
HARDENED, MISCONFIGURED = FIXTURES / "hardened", FIXTURES / "misconfigured"
CLI = [sys.executable, "-m", "threatstryker.cli"]
#: this module's checks (other Kubernetes areas, such as the node's components, are tested elsewhere)
K8S_CHECKS = [c for c in load_checks(benchmarks=["kubernetes"]) if c.area == "workloads"]


def by_id(results: list[Any]) -> dict[str, Any]:
    return {r.check.id: r for r in results if r.check.area == "workloads"}


def kube_scan(root: Path, **kw: Any) -> dict[str, Any]:
    return by_id(scan_posture(DirTree(str(root)), benchmarks=["kubernetes"], **kw).results)


def test_enough_automated_workload_checks() -> None:
    automated = [c for c in K8S_CHECKS if c.probe["type"] != "manual"]
    assert len(automated) >= 18
    # every check has a case on cluster objects as well as manifest examples
    for c in automated:
        assert any("@k8s_objects" in case["files"] for case in c.examples.get("cases", [])), c.id


def test_manifest_reading(tmp_path: Path) -> None:
    scan = read_manifests(DirTree(str(HARDENED)))
    found = {(o["kind"], o["metadata"]["name"]): where for o, where in scan.objects}
    assert found[("Deployment", "api")] == "/deployment.yaml:2"  # after the comment line
    assert found[("StatefulSet", "cache")] == "/list.yaml:8"  # an item of a List, at its own line
    assert found[("Service", "api")] == "/list.yaml:4"
    assert found[("Pod", "toolbox")] == "/pod.json:1"
    assert ("Pod", "hidden") not in found  # .generated/ is a hidden directory
    assert sorted(p for p, _ in scan.unparseable) == ["/broken.yaml", "/chart/templates/deployment.yaml"]
    assert dict(scan.unparseable)["/chart/templates/deployment.yaml"] == "a Helm template"
    assert scan.unreadable == [] and not scan.truncated
    # a file over the size cap is left out; one without kind/apiVersion is not a manifest
    big = tmp_path / "big.yaml"
    big.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: big}\n" + "# pad\n" * 400_000)
    (tmp_path / "values.yaml").write_text("image: {tag: latest}\n")
    assert read_manifests(DirTree(str(tmp_path))).objects == []


def test_hardened_manifests_pass_every_check() -> None:
    results = kube_scan(HARDENED, manifests=True)
    assert len(results) == len(K8S_CHECKS)
    assert {r.status for r in results.values()} == {PASS}, {i: r.reason for i, r in results.items() if r.status != PASS}
    found = results["k8s-workload-privileged"].evidence[0].found
    assert "all 6 containers meet it" in found  # Deployment (init + app), StatefulSet, DaemonSet, CronJob, Pod
    assert "2 manifest file(s) skipped" in found and "Helm" in found


def test_misconfigured_manifests_fail_naming_each_offender() -> None:
    results = kube_scan(MISCONFIGURED, manifests=True)
    failed = {i for i, r in results.items() if r.status == FAIL}
    assert failed == {c.id for c in K8S_CHECKS} - {"k8s-workload-windows-host-process"}
    assert results["k8s-workload-windows-host-process"].status == PASS

    priv = results["k8s-workload-privileged"]
    assert priv.reason.startswith("1 of 6 containers: Deployment/shop/api container app")
    assert [e.source for e in priv.evidence] == ["/deployment.yaml:2 Deployment/shop/api container app"]
    assert priv.evidence[0].found == "true"
    hostpath = results["k8s-workload-hostpath-volumes"]
    assert "DaemonSet/ops/node-agent" in hostpath.reason and '"path": "/"' in hostpath.evidence[0].found
    assert "Pod/shop/debug container shell" in results["k8s-workload-host-ports"].reason
    assert "SYS_ADMIN" in results["k8s-workload-added-capabilities"].reason
    # the Deployment inside a DeploymentList (JSON) is checked like any other
    non_root = results["k8s-workload-run-as-non-root"]
    assert "Deployment/data/legacy container db" in non_root.reason
    assert any(e.source.startswith("/list.json:1 Deployment/data/legacy") for e in non_root.evidence)
    assert "pod securityContext.runAsNonRoot is 'false'" in non_root.reason
    # the literal credential is named but never shown
    literal = results["k8s-workload-literal-secrets-in-env"]
    assert "CronJob/default/nightly-backup container backup: env[DB_PASSWORD].value is set" in literal.reason
    assert "correct-horse" not in json.dumps([literal.reason, [e.to_dict() for e in literal.evidence]])
    assert "env[S3_SECRET_KEY]" in results["k8s-workload-secrets-in-env"].reason
    # all of two probes: the reason is the first failure's, the evidence has both
    assert any(e.source == "/deployment.yaml:2 Deployment/shop/api container app" and "envFrom[0].secretRef" in e.found
               for e in results["k8s-workload-secrets-in-env"].evidence)
    assert results["k8s-workload-default-namespace"].reason == (
        "1 of 5 workloads: CronJob/default/nightly-backup: metadata.namespace not set, the default is 'default'")
    image = results["k8s-workload-image-tag"].reason
    assert "shop/api:latest" in image and "'envoyproxy/envoy'" in image and "ops/agent" not in image
    netpol = results["k8s-namespace-network-policy"].reason
    assert netpol.startswith("3 of 4 namespaces with workloads")
    assert all(f"namespace {ns}: no NetworkPolicy" in netpol for ns in ("default", "ops", "data"))
    assert "namespace shop" not in netpol  # it has one (that allows everything)
    assert "namespace shop: NetworkPolicies allow-all: none denies all ingress" in \
        results["k8s-namespace-default-deny-ingress"].reason


def test_no_workloads_is_not_applicable_never_pass(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("replicas: 3\n")
    (tmp_path / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n")
    for root, manifests in ((tmp_path, True), (MISCONFIGURED, False)):  # manifests off: the files are not read
        results = kube_scan(root, manifests=manifests)
        assert {r.status for r in results.values()} == {NOT_APPLICABLE}, root


def test_unreadable_manifests_make_error_unless_a_failure_decides(tmp_path: Path) -> None:
    scan = read_manifests(DirTree(str(HARDENED)))
    scan.unreadable.append(("/secret-ops.yaml", "permission denied"))
    inv = build_inventory(scan.objects)
    inv.manifests = scan
    ctx = Context(DirTree(str(tmp_path)), manifests=True)
    ctx.cache[CACHE_KEY] = inv
    results = by_id([evaluate(c, ctx) for c in K8S_CHECKS])
    assert {r.status for r in results.values()} == {ERROR}
    assert "1 manifest file(s) could not be read (/secret-ops.yaml: permission denied)" in \
        results["k8s-workload-privileged"].reason
    bad = read_manifests(DirTree(str(MISCONFIGURED)))
    bad.unreadable.append(("/secret-ops.yaml", "permission denied"))
    inv = build_inventory(bad.objects)
    inv.manifests = bad
    ctx = Context(DirTree(str(tmp_path)), manifests=True)
    ctx.cache[CACHE_KEY] = inv
    privileged = next(c for c in K8S_CHECKS if c.id == "k8s-workload-privileged")
    assert evaluate(privileged, ctx).status == FAIL  # a failure found is reported as one


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "scan", *args, "--scanners", "posture", "-f", "json", "-q"], capture_output=True,
                          text=True, timeout=300)


def kube_results(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["db"]["posture"]["results"]
            if r["benchmark"] == "kubernetes" and r["area"] == "workloads"}


def test_cli_on_a_manifest_directory(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    shutil.copytree(MISCONFIGURED, target)
    res = cli(f"dir:{target}")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    results = kube_results(doc)
    assert results["k8s-workload-privileged"]["status"] == FAIL
    assert results["k8s-workload-privileged"]["evidence"][0]["source"] == \
        "/deployment.yaml:2 Deployment/shop/api container app"
    findings = {f["id"] for f in doc["findings"] if f["kind"] == "misconfiguration"}
    assert {"k8s-workload-privileged", "k8s-namespace-network-policy",
            "k8s-workload-literal-secrets-in-env"} <= findings


# -- a cluster, served by the emulator ---------------------------------------------------------------------------

def meta(name: str, ns: str | None = None, uid: str | None = None, owner: tuple[str, str, str] | None = None,
         ) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if ns:
        out["namespace"] = ns
    if uid:
        out["uid"] = uid
    if owner:
        kind, oname, ouid = owner
        api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
        out["ownerReferences"] = [{"apiVersion": api, "kind": kind, "name": oname, "uid": ouid, "controller": True}]
    return out


HARDENED_CONTAINER = {"name": "web", "image": "nginx:1.27", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                      "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True}}
RS_OWNER, POD_OWNER, JOB_OWNER = ("Deployment", "web", "uid-d"), ("ReplicaSet", "web-7f9c", "uid-rs"), \
    ("CronJob", "backup", "uid-cj")
CLUSTER: list[dict[str, Any]] = [
    {"kind": "Namespace", "apiVersion": "v1", "metadata": meta("shop")},
    {"kind": "Namespace", "apiVersion": "v1", "metadata": meta("ops")},
    {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": meta("web", "shop", "uid-d"),
     "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [HARDENED_CONTAINER]}}}},
    # the Deployment's ReplicaSet and its Pod, which (unlike the Deployment) run privileged: checked through the
    # Deployment only, as ownerReferences say
    {"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": meta("web-7f9c", "shop", "uid-rs", RS_OWNER),
     "spec": {"selector": {"matchLabels": {"app": "web"}},
              "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                    "securityContext": {"privileged": True}}]}}}},
    {"kind": "Pod", "apiVersion": "v1", "metadata": meta("web-7f9c-x2x", "shop", "uid-p1", POD_OWNER),
     "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "securityContext": {"privileged": True}}]}},
    {"kind": "Pod", "apiVersion": "v1", "metadata": meta("privileged-pod", "ops", "uid-p2"),
     "spec": {"hostNetwork": True, "containers": [{"name": "tool", "image": "ops/tool:latest",
                                                   "securityContext": {"privileged": True}}]}},
    {"kind": "CronJob", "apiVersion": "batch/v1", "metadata": meta("backup", "ops", "uid-cj"),
     "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {"spec": {
         "restartPolicy": "OnFailure", "containers": [{"name": "backup", "image": "ops/backup:2",
                                                       "env": [{"name": "API_TOKEN", "value": "tok-in-clear"}]}]}}}}}},
    {"kind": "Job", "apiVersion": "batch/v1", "metadata": meta("backup-28000", "ops", "uid-j", JOB_OWNER),
     "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                    "containers": [{"name": "backup", "image": "ops/backup:2"}]}}}},
    {"kind": "DaemonSet", "apiVersion": "apps/v1", "metadata": meta("node-exporter", "ops", "uid-ds"),
     "spec": {"selector": {"matchLabels": {"app": "ne"}}, "template": {"spec": {
         "hostPID": True, "volumes": [{"name": "proc", "hostPath": {"path": "/proc"}}],
         "containers": [{"name": "exporter", "image": "prom/node-exporter:v1.8.2"}]}}}},
    {"kind": "NetworkPolicy", "apiVersion": "networking.k8s.io/v1", "metadata": meta("default-deny", "shop"),
     "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
]


@pytest.fixture
def cluster(kube_emulator: KubeEmulator) -> KubeEmulator:
    kube_emulator.load(CLUSTER)
    return kube_emulator


def assert_cluster_findings(results: dict[str, Any], status: Any = lambda r: r.status,
                            reason: Any = lambda r: r.reason, sources: Any = None) -> None:
    priv = results["k8s-workload-privileged"]
    assert status(priv) == FAIL
    assert "Pod/ops/privileged-pod container tool" in reason(priv)
    assert "web-7f9c" not in reason(priv)  # owned by the listed Deployment: not checked twice
    assert reason(priv).startswith("1 of 4 containers")  # web, privileged-pod, backup (CronJob), node-exporter
    if sources is not None:
        assert sources(priv) == ["cluster Pod/ops/privileged-pod container tool"]
    assert "Pod/ops/privileged-pod" in reason(results["k8s-workload-host-network"])
    assert "DaemonSet/ops/node-exporter" in reason(results["k8s-workload-host-pid"])
    assert "DaemonSet/ops/node-exporter" in reason(results["k8s-workload-hostpath-volumes"])
    literal = results["k8s-workload-literal-secrets-in-env"]
    assert "CronJob/ops/backup container backup: env[API_TOKEN].value is set" in reason(literal)
    assert "backup-28000" not in reason(literal)  # the CronJob's Job
    netpol = results["k8s-namespace-network-policy"]
    assert status(netpol) == FAIL and reason(netpol).startswith("1 of 2 namespaces with workloads: namespace ops")
    assert status(results["k8s-namespace-default-deny-ingress"]) == FAIL
    assert "ops/tool:latest" in reason(results["k8s-workload-image-tag"])


def test_cluster_objects_through_scan_posture(cluster: KubeEmulator, tmp_path: Path) -> None:
    before = len(cluster.requests)
    started = time.monotonic()
    results = kube_scan(tmp_path, kubeconfig=str(cluster.kubeconfig))
    elapsed = time.monotonic() - started
    assert_cluster_findings(results, sources=lambda r: [e.source for e in r.evidence])
    assert results["k8s-workload-windows-host-process"].status == PASS
    # every list read once for the whole scan (9 lists of one page each), not once per check
    lists = [r for r in cluster.requests[before:] if r.startswith("GET ")]
    assert len(lists) == 9, lists
    assert "GET /api/v1/namespaces" in lists and "GET /apis/batch/v1/cronjobs" in lists
    assert elapsed < 10
    print(f"cluster scan: {len(results)} checks in {elapsed:.2f}s")


def test_cluster_objects_through_the_cli(cluster: KubeEmulator, tmp_path: Path) -> None:
    res = cli(f"dir:{tmp_path}", "--kubeconfig", str(cluster.kubeconfig), "--kube-context", "emulator")
    assert res.returncode == 0, res.stderr
    results = kube_results(json.loads(res.stdout))
    assert_cluster_findings(results, status=lambda r: r["status"], reason=lambda r: r["reason"],
                            sources=lambda r: [e["source"] for e in r["evidence"]])
    assert "tok-in-clear" not in res.stdout


def test_a_cluster_as_the_target(cluster: KubeEmulator, tmp_path: Path) -> None:
    """``k8s:CONTEXT`` scans the cluster alone: the workload checks only, the kubeconfig from $KUBECONFIG."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    res = subprocess.run([*CLI, "scan", "k8s:emulator", "--scanners", "posture", "-f", "json", "-q"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["target"]["scheme"] == "k8s" and doc["db"]["posture"]["scope"] == ["kubernetes/workloads"]
    assert {r["area"] for r in doc["db"]["posture"]["results"]} == {"workloads"}
    results = kube_results(doc)
    assert_cluster_findings(results, status=lambda r: r["status"], reason=lambda r: r["reason"],
                            sources=lambda r: [e["source"] for e in r["evidence"]])
    # the other scanners have nothing to read; a missing kubeconfig is one line, exit 2
    for args, message in ((["--scanners", "posture,secret"], "use --scanners posture"),
                          (["--scanners", "posture", "--kubeconfig", str(tmp_path / "none")], "no kubeconfig at")):
        bad = subprocess.run([*CLI, "scan", "k8s:", *args, "-q"], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_manifests_and_cluster_together(cluster: KubeEmulator) -> None:
    results = kube_scan(MISCONFIGURED, manifests=True, kubeconfig=str(cluster.kubeconfig))
    priv = results["k8s-workload-privileged"].reason
    assert "Deployment/shop/api container app" in priv and "Pod/ops/privileged-pod" in priv


def test_closed_port_is_error_naming_the_server(tmp_path: Path) -> None:
    port = closed_port()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{port}")
    started = time.monotonic()
    results = kube_scan(tmp_path, kubeconfig=str(kubeconfig))
    elapsed = time.monotonic() - started
    assert {r.status for r in results.values()} == {ERROR}
    reason = results["k8s-workload-privileged"].reason
    assert f"127.0.0.1:{port}" in reason and "unreachable" in reason and "Connection refused" in reason
    assert elapsed < 10
    res = cli(f"dir:{tmp_path}", "--kubeconfig", str(kubeconfig))
    cli_results = kube_results(json.loads(res.stdout))
    assert {r["status"] for r in cli_results.values()} == {ERROR}
    assert all(f"127.0.0.1:{port}" in r["reason"] for r in cli_results.values())
    assert "Retrying" not in res.stderr  # one quiet retry, no urllib3 warnings on the console


def test_forbidden_user_is_error(cluster: KubeEmulator, tmp_path: Path) -> None:
    results = kube_scan(tmp_path, kubeconfig=str(cluster.kubeconfig), kube_context="denied")
    assert {r.status for r in results.values()} == {ERROR}
    reason = results["k8s-workload-privileged"].reason
    assert cluster.url in reason and "forbidden (403" in reason


def test_unusable_kubeconfig_is_error(tmp_path: Path) -> None:
    for name, text in (("garbage", "{{ not: a kubeconfig"), ("empty", "")):
        path = tmp_path / name
        path.write_text(text)
        results = kube_scan(tmp_path, kubeconfig=str(path))
        assert {r.status for r in results.values()} == {ERROR}, name
        assert f"kubeconfig {path}" in results["k8s-workload-privileged"].reason
    missing = kube_scan(tmp_path, kubeconfig=str(tmp_path / "nope"))
    assert {r.status for r in missing.values()} == {ERROR}
    unknown = kube_scan(tmp_path, kubeconfig=str(write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:1")),
                        kube_context="no-such-context")
    assert "no-such-context" in unknown["k8s-workload-privileged"].reason
