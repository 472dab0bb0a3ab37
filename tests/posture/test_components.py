"""Where component settings come from, on real files and real processes: systemd units with drop-ins and
environment files, static pod manifests, config files, dockerd's options; flag over config file over
default; unreadable or broken files are ERROR; on the live host, the command lines in /proc win."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from threatstryker.posture.components import component, setting
from threatstryker.posture.context import Context, ProbeError
from threatstryker.posture.engine import CheckFileError, run_probe, validate_probe
from threatstryker.posture.expect import meets
from threatstryker.posture.model import ERROR, FAIL, NOT_APPLICABLE, PASS
from threatstryker.sources.dirtree import DirTree

from .rootfs import build, drop_dac_override

UNIT = "/usr/lib/systemd/system/kubelet.service"
DROPIN = "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
KUBEADM = {
    UNIT: "[Unit]\nDescription=node agent\n[Service]\nExecStart=/usr/bin/kubelet --anonymous-auth=true\n",
    DROPIN: ("[Service]\n"
             'Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf '
             '--kubeconfig=/etc/kubernetes/kubelet.conf"\n'
             'Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"\n'
             "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n"
             "EnvironmentFile=-/etc/default/kubelet\n"
             "ExecStart=\n"
             "ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS \\\n"
             "  $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"),
    "/var/lib/kubelet/kubeadm-flags.env": 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/c.sock '
                                          '--pod-infra-container-image=registry.example/pause:3.9"\n',
    "/var/lib/kubelet/config.yaml": ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                                     "authentication:\n  anonymous:\n    enabled: false\n"
                                     "  x509:\n    clientCAFile: pki/ca.crt\n"
                                     "featureGates:\n  RotateKubeletServerCertificate: true\n"),
}
ANON = {"type": "component_setting", "component": "kubelet", "flag": "--anonymous-auth",
        "config_key": "authentication.anonymous.enabled", "expect": {"equals": False}, "default": True,
        "config_default": False}


def ctx_of(root: Path, live: bool = False) -> Context:
    return Context(DirTree(str(root)), live=live)


def value(root: Path, name: str, flag: str, key: str | None = None, **kw: Any) -> tuple[str | None, str]:
    comp = component(ctx_of(root), name)
    found = setting(comp, comp.instances[0], [flag], key, **kw)
    return found.value, found.source


def test_unit_dropins_environment_files_and_variables(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {**KUBEADM, "/etc/default/kubelet": "KUBELET_EXTRA_ARGS=--node-ip=10.0.0.7 --v=2\n"})
    comp = component(ctx_of(root), "kubelet")
    inst = comp.instances[0]
    # the drop-in's empty ExecStart= dropped the unit's own command line (and its --anonymous-auth=true)
    assert inst.source == DROPIN and inst.known
    assert [a for a, _ in inst.args] == [
        "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf", "--kubeconfig=/etc/kubernetes/kubelet.conf",
        "--config=/var/lib/kubelet/config.yaml", "--container-runtime-endpoint=unix:///run/c.sock",
        "--pod-infra-container-image=registry.example/pause:3.9", "--node-ip=10.0.0.7", "--v=2"]
    assert value(root, "kubelet", "--node-ip") == ("10.0.0.7", "/etc/default/kubelet")
    assert value(root, "kubelet", "--kubeconfig") == ("/etc/kubernetes/kubelet.conf", DROPIN)
    assert value(root, "kubelet", "--container-runtime-endpoint")[1] == "/var/lib/kubelet/kubeadm-flags.env"
    # a relative path in the config file is relative to the config file's directory
    assert value(root, "kubelet", "--client-ca-file", "authentication.x509.clientCAFile") == (
        "/var/lib/kubelet/pki/ca.crt", "/var/lib/kubelet/config.yaml")


def test_dropin_in_etc_replaces_the_same_name_and_braced_variables_stay_one_word(tmp_path: Path) -> None:
    override = ("[Service]\nEnvironment=NODE=node-a\nEnvironment='OPTS=--a=1 --b=2'\nExecStart=\n"
                'ExecStart=-/usr/bin/kubelet --hostname-override=${NODE} "--labels=x=${OPTS}" $OPTS\n')
    root = build(tmp_path / "r", {**KUBEADM, "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf": override})
    args = [a for a, _ in component(ctx_of(root), "kubelet").instances[0].args]
    assert args == ["--hostname-override=node-a", "--labels=x=--a=1 --b=2", "--a=1", "--b=2"]
    # Environment= is replaced by the same variable from an EnvironmentFile=, and an empty Environment= resets
    reset = ("[Service]\nEnvironment=A=--x=1\nEnvironment=\nEnvironment=B=--y=1\nEnvironmentFile=/etc/k.env\n"
             "ExecStart=\nExecStart=/usr/bin/kubelet $A $B\n")
    root = build(tmp_path / "s", {UNIT: KUBEADM[UNIT], DROPIN: reset, "/etc/k.env": "# c\nB='--y=2'\n"})
    assert [a for a, _ in component(ctx_of(root), "kubelet").instances[0].args] == ["--y=2"]


def test_flag_wins_over_config_file_which_wins_over_defaults(tmp_path: Path) -> None:
    extra = {"/etc/default/kubelet": "KUBELET_EXTRA_ARGS=--anonymous-auth=true\n"}
    flagged = build(tmp_path / "flag", {**KUBEADM, **extra})
    r = run_probe(ctx_of(flagged), ANON)
    assert (r.status, r.reason) == (FAIL, "kubelet: --anonymous-auth is 'true'")
    assert r.evidence[0].source == "/etc/default/kubelet" and r.evidence[0].found == "true"
    r = run_probe(ctx_of(build(tmp_path / "config", KUBEADM)), ANON)
    assert (r.status, r.evidence[0].source, r.evidence[0].found) == (PASS, "/var/lib/kubelet/config.yaml", "false")
    # the config file is read but does not set the key: its defaults apply (anonymous off)
    empty = {**KUBEADM, "/var/lib/kubelet/config.yaml": "kind: KubeletConfiguration\n"}
    r = run_probe(ctx_of(build(tmp_path / "cfgdefault", empty)), ANON)
    assert (r.status, r.evidence[0].source) == (PASS, "default (not set in /var/lib/kubelet/config.yaml)")
    # no --config on the command line: the file is not read, the flag default (anonymous on) applies
    noconfig = {UNIT: "[Service]\nExecStart=/usr/bin/kubelet --v=2\n",
                "/var/lib/kubelet/config.yaml": KUBEADM["/var/lib/kubelet/config.yaml"]}
    r = run_probe(ctx_of(build(tmp_path / "noconfig", noconfig)), ANON)
    assert (r.status, r.evidence[0].source, r.evidence[0].found) == (FAIL, "default", "true")
    # a boolean flag takes no separate value: "--anonymous-auth false" is anonymous-auth=true
    spaced = {UNIT: "[Service]\nExecStart=/usr/bin/kubelet --anonymous-auth false --read-only-port 0\n"}
    root = build(tmp_path / "spaced", spaced)
    assert run_probe(ctx_of(root), ANON).status == FAIL
    assert value(root, "kubelet", "--read-only-port") == ("0", UNIT)
    # later occurrences win
    twice = {UNIT: "[Service]\nExecStart=/usr/bin/kubelet --anonymous-auth=true --anonymous-auth=false\n"}
    assert run_probe(ctx_of(build(tmp_path / "twice", twice)), ANON).status == PASS


def test_feature_gate_items_and_repeatable_flags(tmp_path: Path) -> None:
    gate = {"type": "component_setting", "component": "kubelet", "flag": "--feature-gates",
            "flag_item": "RotateKubeletServerCertificate", "config_key": "featureGates.RotateKubeletServerCertificate",
            "expect": {"not_equals": False}, "default": True}
    root = build(tmp_path / "a", {**KUBEADM, "/etc/default/kubelet":
                                  "KUBELET_EXTRA_ARGS=--feature-gates=A=true,RotateKubeletServerCertificate=false\n"})
    assert run_probe(ctx_of(root), gate).status == FAIL
    root = build(tmp_path / "b", {**KUBEADM, "/etc/default/kubelet": "KUBELET_EXTRA_ARGS=--feature-gates=A=false\n"})
    r = run_probe(ctx_of(root), gate)  # the gate is not in the flag: the config file's value
    assert (r.status, r.evidence[0].source) == (PASS, "/var/lib/kubelet/config.yaml")
    docker = {"/lib/systemd/system/docker.service":
              "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --insecure-registry a:5000 --insecure-registry=b:5000\n"}
    root = build(tmp_path / "d", docker)
    assert value(root, "dockerd", "--insecure-registry", repeatable=True) == ("a:5000,b:5000",
                                                                              "/lib/systemd/system/docker.service")
    assert value(root, "dockerd", "--host") == (None, "not set (/lib/systemd/system/docker.service)")


def test_static_pod_manifests_and_etcd_single_dash_flags(tmp_path: Path) -> None:
    manifest = ("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: sidecar\n    command: [sleep]\n"
                "  - name: kube-apiserver\n    command:\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n"
                "    args: [--profiling=false, --client-ca-file=/etc/kubernetes/pki/ca.crt]\n")
    etcd = ("kind: Pod\nspec:\n  containers:\n  - command: [etcd, -client-cert-auth=true, --data-dir=/data/etcd,"
            " --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt]\n")
    root = build(tmp_path / "r", {"/etc/kubernetes/manifests/kube-apiserver.yaml": manifest,
                                  "/etc/kubernetes/manifests/etcd.yaml": etcd})
    src = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    assert value(root, "kube-apiserver", "--authorization-mode") == ("Node,RBAC", src)
    assert value(root, "kube-apiserver", "--profiling") == ("false", src)
    assert value(root, "etcd", "--client-cert-auth", boolean=True)[0] == "true"
    assert value(root, "etcd", "--data-dir")[0] == "/data/etcd"
    rbac = {"type": "component_setting", "component": "kube-apiserver", "flag": "--authorization-mode",
            "expect": {"contains": "RBAC"}, "default": "AlwaysAllow"}
    assert run_probe(ctx_of(root), rbac).status == PASS
    assert run_probe(ctx_of(root), {**rbac, "expect": {"contains": "Webhook"}}).status == FAIL
    distinct = {"type": "component_setting", "component": "etcd", "flag": "--trusted-ca-file",
                "expect": {"present": True},
                "differs_from": {"component": "kube-apiserver", "flag": "--client-ca-file"}}
    assert run_probe(ctx_of(root), distinct).status == PASS
    same = build(tmp_path / "same", {"/etc/kubernetes/manifests/kube-apiserver.yaml": manifest,
                                     "/etc/kubernetes/manifests/etcd.yaml": etcd.replace("pki/etcd/", "pki/")})
    r = run_probe(ctx_of(same), distinct)
    assert r.status == FAIL and "the same as kube-apiserver --client-ca-file" in r.reason
    # on a worker node the control-plane components are not there at all
    assert run_probe(ctx_of(build(tmp_path / "w", KUBEADM)), rbac).status == NOT_APPLICABLE


def test_dockerd_unit_opts_file_and_config_file(tmp_path: Path) -> None:
    icc = {"type": "component_setting", "component": "dockerd", "flag": "--icc", "config_key": "icc",
           "expect": {"equals": False}, "default": True}
    unit = "/lib/systemd/system/docker.service"
    root = build(tmp_path / "unit", {unit: "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --icc=false\n",
                                     "/etc/docker/daemon.json": '{"icc": true}'})
    r = run_probe(ctx_of(root), icc)
    assert (r.status, r.evidence[0].source) == (PASS, unit)
    # no unit: /etc/default/docker's DOCKER_OPTS (init scripts); --config-file names another daemon.json
    root = build(tmp_path / "opts", {"/usr/bin/dockerd": "bin", "/etc/default/docker":
                                     'DOCKER_OPTS="--config-file=/srv/d.json --log-level debug"\n',
                                     "/srv/d.json": '{"icc": false}', "/etc/docker/daemon.json": '{"icc": true}'})
    assert value(root, "dockerd", "--log-level") == ("debug", "/etc/default/docker")
    r = run_probe(ctx_of(root), icc)
    assert (r.status, r.evidence[0].source) == (PASS, "/srv/d.json")
    # neither: daemon.json alone, and dockerd's default when the key is not there
    root = build(tmp_path / "json", {"/etc/docker/daemon.json": '{"insecure-registries": [], "icc": true}'})
    assert value(root, "dockerd", "--insecure-registry", "insecure-registries") == (
        None, "not set (/etc/docker/daemon.json)")  # an empty list is not set
    r = run_probe(ctx_of(root), icc)
    assert (r.status, r.reason) == (FAIL, "dockerd: --icc is 'true'")
    root = build(tmp_path / "bin", {"/usr/local/bin/dockerd": "bin"})
    assert run_probe(ctx_of(root), icc).evidence[0].source == "default"
    assert run_probe(ctx_of(build(tmp_path / "none", {})), icc).status == NOT_APPLICABLE


CONFIG = "/var/lib/kubelet/config.yaml"
APISERVER = "/etc/kubernetes/manifests/kube-apiserver.yaml"


@pytest.mark.parametrize(("name", "files", "message"), [
    ("kubelet", {**KUBEADM, CONFIG: "authentication: [unclosed\n"}, f"{CONFIG}: not valid YAML"),
    ("kubelet", {**KUBEADM, CONFIG: "- a list\n"}, f"{CONFIG}: not a mapping"),
    ("kubelet", {**KUBEADM, CONFIG: {"dir": True}}, f"{CONFIG}: not a regular file"),
    ("kubelet", {k: v for k, v in KUBEADM.items() if k != CONFIG}, f"{CONFIG}: named by --config but not found"),
    ("kubelet", {DROPIN: {"dir": True}, UNIT: KUBEADM[UNIT]}, f"{DROPIN}: not a regular file"),
    ("kube-apiserver", {APISERVER: "spec: {containers: [\n"}, f"{APISERVER}: not valid YAML"),
    ("kube-apiserver", {APISERVER: "kind: Pod\nspec: {}\n"}, "no containers in the pod spec"),
    ("dockerd", {"/etc/docker/daemon.json": '{"icc": false,}'}, "/etc/docker/daemon.json: not valid JSON"),
])
def test_broken_or_unreadable_files_are_errors(tmp_path: Path, name: str, files: dict[str, Any], message: str) -> None:
    spec = {**ANON, "component": name, "config_key": "icc" if name == "dockerd" else ANON["config_key"]}
    r = run_probe(ctx_of(build(tmp_path / "r", files)), spec)
    assert r.status == ERROR and message in r.reason, r


_PROBE_IN_CHILD = """
import json, sys
from threatstryker.posture.context import Context
from threatstryker.posture.engine import run_probe
from threatstryker.sources.dirtree import DirTree
r = run_probe(Context(DirTree(sys.argv[1])), json.loads(sys.argv[2]))
print(json.dumps([r.status, r.reason]))
"""


def test_unreadable_config_file_is_an_error(tmp_path: Path) -> None:
    """A config file with mode 000, read by a process held to file modes (as root: without CAP_DAC_OVERRIDE)."""
    import json

    root = build(tmp_path / "r", KUBEADM)
    (root / "var/lib/kubelet/config.yaml").chmod(0)
    proc = subprocess.run([sys.executable, "-c", _PROBE_IN_CHILD, str(root), json.dumps(ANON)], capture_output=True,
                          text=True, timeout=60, preexec_fn=drop_dac_override if os.geteuid() == 0 else None)
    assert proc.returncode == 0, proc.stderr
    status, reason = json.loads(proc.stdout)
    assert status == ERROR and "/var/lib/kubelet/config.yaml" in reason and "permission denied" in reason.lower()


def test_component_files_units_and_globs(tmp_path: Path) -> None:
    files = {**KUBEADM, "/etc/kubernetes/kubelet.conf": {"content": "x", "mode": "0600"},
             "/var/lib/kubelet/pki/ca.crt": {"content": "x", "mode": "0644"}}
    root = build(tmp_path / "r", files)
    kubeconfig = {"type": "component_file", "component": "kubelet", "flag": "--kubeconfig", "max_mode": "0600",
                  "owner": 0, "group": 0}
    r = run_probe(ctx_of(root), kubeconfig)
    assert r.status == PASS and r.evidence[0].found == "/etc/kubernetes/kubelet.conf"
    ca = {"type": "component_file", "component": "kubelet", "flag": "--client-ca-file",
          "config_key": "authentication.x509.clientCAFile", "max_mode": "0600"}
    r = run_probe(ctx_of(root), ca)
    assert (r.status, r.reason) == (FAIL, "/var/lib/kubelet/pki/ca.crt: mode 0644 allows more than 0600")
    # a file a setting names but that is missing fails; a setting not made does not apply
    proxy = {"type": "component_file", "component": "kubelet", "flag": "--bootstrap-kubeconfig", "max_mode": "0600"}
    assert run_probe(ctx_of(root), proxy).status == FAIL
    assert run_probe(ctx_of(root), {**proxy, "flag": "--tls-cert-file"}).status == NOT_APPLICABLE
    unit = {"type": "component_file", "component": "kubelet", "unit_files": True, "max_mode": "0600"}
    r = run_probe(ctx_of(root), unit)
    assert r.status == FAIL and UNIT in r.reason and DROPIN in r.reason  # both 0644
    (root / UNIT.lstrip("/")).chmod(0o600)
    (root / DROPIN.lstrip("/")).chmod(0o600)
    assert run_probe(ctx_of(root), unit).status == PASS
    glob = {"type": "file_modes", "paths": ["/var/lib/kubelet/pki/*.crt", "/var/lib/kubelet/*.yaml"],
            "max_mode": "0644"}
    r = run_probe(ctx_of(root), glob)
    assert r.status == PASS and r.evidence[0].found == "2 paths within"
    assert run_probe(ctx_of(root), {**glob, "max_mode": "0600"}).status == FAIL
    assert run_probe(ctx_of(root), {**glob, "paths": ["/nowhere/*.crt"]}).status == FAIL
    assert run_probe(ctx_of(root), {**glob, "paths": ["/nowhere/*.crt"], "missing": "not_applicable"}).status \
        == NOT_APPLICABLE


def test_list_operators() -> None:
    assert meets("Node,RBAC", {"contains": "RBAC"}) == (True, "")
    assert meets("Node,RBAC", {"contains": "rbac"})[0]
    assert not meets("AlwaysAllow", {"contains": "Node"})[0]
    assert meets(None, {"not_contains": "AlwaysAdmit"})[0] and not meets(None, {"contains": "X"})[0]
    assert not meets("NodeRestriction,AlwaysAdmit", {"not_contains": "AlwaysAdmit"})[0]
    assert meets("NodeRestriction,AlwaysAdmitX", {"not_contains": "AlwaysAdmit"})[0]  # whole items only
    strong = {"subset_of": ["TLS_A_GCM", "TLS_B_GCM"]}
    assert meets('["TLS_A_GCM", "TLS_B_GCM"]', strong)[0]
    assert meets("TLS_A_GCM,TLS_RSA_RC4", strong) == (False, "includes TLS_RSA_RC4")
    assert meets("", strong) == (False, "is empty")


def test_check_file_validation_of_component_probes() -> None:
    with pytest.raises(CheckFileError, match="component must be one of"):
        validate_probe({"type": "component_present", "component": "kubelt"}, "x")
    with pytest.raises(CheckFileError, match="needs flag, config_key"):
        validate_probe({"type": "component_file", "component": "kubelet", "max_mode": "0600"}, "x")
    with pytest.raises(CheckFileError, match=r"needs .*flag"):
        validate_probe({"type": "component_setting", "component": "kubelet", "expect": {"present": True}}, "x")


def start(name: str, *flags: str, chroot: Path | None = None) -> subprocess.Popen[bytes]:
    """A real process whose argv[0] is ``name`` (a sleeping Python; ``chroot``: it moves into that root
    first, as a containerised process has a root of its own), once /proc shows its command line."""
    code = "import os, sys, time\nif sys.argv[1]: os.chroot(sys.argv[1])\ntime.sleep(60)"
    proc = subprocess.Popen([name, "-c", code, str(chroot or ""), *flags], executable=sys.executable)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready = Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(name.encode() + b"\0")
        if ready and (chroot is None or os.stat(f"/proc/{proc.pid}/root").st_ino == chroot.stat().st_ino):
            break
        time.sleep(0.02)
    return proc


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts, killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def test_live_processes_win_over_files(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    kubelet = start("kubelet", f"--config={CONFIG}", "--anonymous-auth=true", "--read-only-port", "10255")
    processes.append(kubelet)
    pid = kubelet.pid
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"kubelet"
    # the tree's unit and config file say anonymous-auth=false: the running process says true
    files = {UNIT: f"[Service]\nExecStart=/usr/bin/kubelet --anonymous-auth=false --config={CONFIG}\n",
             CONFIG: "authentication: {anonymous: {enabled: false}}\nreadOnlyPort: 0\nauthorization: {mode: Webhook}\n"}
    root = build(tmp_path / "r", files)
    offline = run_probe(ctx_of(root), ANON)
    assert offline.status == PASS and offline.evidence[0].source == UNIT
    live = run_probe(ctx_of(root, live=True), ANON)
    assert live.status == FAIL and f"kubelet (pid {pid}): --anonymous-auth is 'true'" in live.reason
    ours = [e for e in live.evidence if e.source == f"/proc/{pid}/cmdline"]
    assert ours and ours[0].found == "true"
    # a flag the process gives (with a separate value) wins over the config file it names ...
    port = {"type": "component_setting", "component": "kubelet", "flag": "--read-only-port",
            "config_key": "readOnlyPort", "expect": {"equals": 0}, "default": 10255, "config_default": 0}
    live = run_probe(ctx_of(root, live=True), port)
    assert live.status == FAIL and any(e.source == f"/proc/{pid}/cmdline" and e.found == "10255"
                                       for e in live.evidence)
    # ... and the config file it names (read from the target's tree) gives what the command line does not
    mode = {"type": "component_setting", "component": "kubelet", "flag": "--authorization-mode",
            "config_key": "authorization.mode", "expect": {"not_equals": "AlwaysAllow"}, "default": "AlwaysAllow"}
    live = run_probe(ctx_of(root, live=True), mode)
    assert any(e.source == CONFIG and e.found == "Webhook" for e in live.evidence)
    # the config file the process names is missing from the tree: ERROR, not a guess
    bare = build(tmp_path / "bare", {})
    assert run_probe(ctx_of(bare, live=True), mode).status == ERROR
    assert run_probe(ctx_of(bare), mode).status == NOT_APPLICABLE  # offline: no kubelet in that tree


def test_live_apiserver_wins_over_its_manifest(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    manifest = ("kind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n"
                "    command: [kube-apiserver, --profiling=false, '--authorization-mode=Node,RBAC']\n")
    root = build(tmp_path / "r", {APISERVER: manifest})
    profiling = {"type": "component_setting", "component": "kube-apiserver", "flag": "--profiling",
                 "expect": {"equals": False}, "default": True}
    assert run_probe(ctx_of(root), profiling).status == PASS
    apiserver = start("kube-apiserver", "--authorization-mode=AlwaysAllow")
    processes.append(apiserver)
    live = run_probe(ctx_of(root, live=True), profiling)  # the running server does not say: its default
    assert live.status == FAIL and f"kube-apiserver (pid {apiserver.pid}): --profiling is 'true'" in live.reason
    rbac = {"type": "component_setting", "component": "kube-apiserver", "flag": "--authorization-mode",
            "expect": {"contains": "RBAC"}, "default": "AlwaysAllow"}
    live = run_probe(ctx_of(root, live=True), rbac)
    assert live.status == FAIL
    assert any(e.source == f"/proc/{apiserver.pid}/cmdline" and e.found == "AlwaysAllow" for e in live.evidence)


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_containerised_process_files_are_read_in_its_own_root(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    container = build(tmp_path / "container", {
        "/var/lib/kube-proxy/config.conf": "kind: KubeProxyConfiguration\nmetricsBindAddress: 0.0.0.0:10249\n"
                                           "clientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\n",
        "/var/lib/kube-proxy/kubeconfig.conf": {"content": "kind: Config\n", "mode": "0644"}})
    host = build(tmp_path / "host", {})  # the target's tree has nothing of kube-proxy
    proxy = start("kube-proxy", "--config=/var/lib/kube-proxy/config.conf", chroot=container)
    processes.append(proxy)
    metrics = {"type": "component_setting", "component": "kube-proxy", "flag": "--metrics-bind-address",
               "config_key": "metricsBindAddress", "expect": {"regex": r"127\.0\.0\.1(:\d+)?"},
               "default": "127.0.0.1:10249"}
    root_of = f"/proc/{proxy.pid}/root"
    live = run_probe(ctx_of(host, live=True), metrics)
    assert live.status == FAIL
    assert any(e.source == f"{root_of}/var/lib/kube-proxy/config.conf" and e.found == "0.0.0.0:10249"
               for e in live.evidence)
    kubeconfig = {"type": "component_file", "component": "kube-proxy", "flag": "--kubeconfig",
                  "config_key": "clientConnection.kubeconfig", "max_mode": "0600"}
    live = run_probe(ctx_of(host, live=True), kubeconfig)
    assert live.status == FAIL and f"{root_of}/var/lib/kube-proxy/kubeconfig.conf: mode 0644" in live.reason


def test_probe_errors_name_the_component() -> None:
    with pytest.raises(ProbeError, match="unknown component"):
        component(Context(DirTree("/")), "kubelt")
