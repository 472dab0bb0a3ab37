"""The Docker container runtime checks (CIS Docker section 5 and 4.1) read through the Docker Engine API: real
containers in the test session's own dockerd (an exposed one and a hardened one) through ``scan_posture`` and
the CLI; endpoints that cannot be read (no socket, a socket nobody listens on, a socket the user may not open,
HTTP errors, bad JSON, no answer) come out ERROR naming the endpoint, never PASS; and the probe's key syntax
and the ``not_regex`` operator on their own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.docker_engine import DebianImage
from threatstryker.posture import docker_api
from threatstryker.posture.context import Context, ProbeError
from threatstryker.posture.engine import evaluate, load_checks, run_probe
from threatstryker.posture.expect import ExpectError, describe, meets, validate
from threatstryker.posture.model import ERROR, FAIL, NOT_APPLICABLE, PASS, CheckResult
from threatstryker.posture.probes.containers import judge, values_at
from threatstryker.posture.scanner import scan_posture
from threatstryker.sources.dirtree import DirTree

from .rootfs import drop_dac_override

RUNTIME = [c for c in load_checks(benchmarks=["docker"]) if c.area == "container-runtime"]
BY_ID = {c.id: c for c in RUNTIME}
RUNTIME_FILE = Path(RUNTIME[0].source)


def _scan(root: Path | str, url: str | None) -> list[CheckResult]:
    """The runtime checks' results through ``scan_posture`` (only their check file: faster)."""
    return scan_posture(DirTree(str(root)), docker_host=url, benchmarks=["docker"], check_paths=[RUNTIME_FILE]).results

#: The checks the exposed container fails and the hardened one passes (AppArmor aside: it depends on the host).
EXPOSED_FAILS = [
    "docker-container-capabilities", "docker-container-capabilities-dropped", "docker-container-sensitive-mounts",
    "docker-container-host-network", "docker-container-memory-limit", "docker-container-cpu-priority",
    "docker-container-read-only-rootfs", "docker-container-restart-policy", "docker-container-host-pid",
    "docker-container-host-ipc", "docker-container-host-devices", "docker-container-host-uts",
    "docker-container-seccomp", "docker-container-no-new-privileges", "docker-container-healthcheck",
    "docker-container-pids-limit", "docker-container-host-userns", "docker-container-docker-socket",
    "docker-container-user-not-root",
]


def test_runtime_checks_are_many_automated_and_numbered() -> None:
    assert len(RUNTIME) >= 22
    assert all(c.probe["type"] != "manual" and c.cis and c.benchmark == "docker" for c in RUNTIME)
    assert {c.cis for c in RUNTIME} >= {"4.1", "5.2", "5.4", "5.5", "5.6", "5.8", "5.10", "5.11", "5.12", "5.13",
                                         "5.14", "5.15", "5.16", "5.17", "5.18", "5.20", "5.21", "5.22", "5.25",
                                         "5.26", "5.27", "5.29", "5.30", "5.31", "5.32"}


# --- real containers in the session's dockerd ---------------------------------------------------------------


@dataclass
class Containers:
    image: DebianImage
    exposed: str
    hardened: str
    #: whether the runtime let the exposed container run with --privileged (it needs every capability)
    privileged: bool


@pytest.fixture(scope="module")
def containers(debian_image: DebianImage) -> Iterator[Containers]:
    """Two running containers (``sleep infinity``), removed at the end: one with the host's namespaces, /etc
    and the engine's socket mounted, SYS_ADMIN added, and --privileged where the runtime allows it; one
    hardened."""
    engine, tag = debian_image.engine, uuid.uuid4().hex[:8]
    exposed, hardened = f"ts-rt-exposed-{tag}", f"ts-rt-hardened-{tag}"
    common = ["run", "-d", "--pid", "host", "--ipc", "host", "--uts", "host", "--network", "host", "--userns", "host",
              "-v", "/etc:/host-etc:ro", "-v", f"{engine.socket}:/var/run/docker.sock", "--cap-add", "SYS_ADMIN",
              "--security-opt", "seccomp=unconfined", "--device", "/dev/zero:/dev/host-zero", "--restart", "always",
              "--name", exposed]
    started: list[str] = []
    try:
        run = engine.run(*common[:2], "--privileged", *common[2:], debian_image.ref, "sleep", "infinity", check=False)
        privileged = run.returncode == 0
        if not privileged:  # a sandbox without every capability cannot give them all to a container
            assert "caps" in run.stderr or "permission" in run.stderr.lower(), run.stderr
            engine.run("rm", "-f", exposed, check=False)
            engine.docker(*common, debian_image.ref, "sleep", "infinity")
        started.append(exposed)
        engine.docker("run", "-d", "--name", hardened, "--read-only", "--user", "1000", "--memory", "64m",
                      "--cpu-shares", "512", "--pids-limit", "64", "--security-opt", "no-new-privileges",
                      "--cap-drop", "ALL", "--network", "none", "--restart", "on-failure:3",
                      "--health-cmd", "true", debian_image.ref, "sleep", "infinity")
        started.append(hardened)
        yield Containers(debian_image, exposed, hardened, privileged)
    finally:
        if started:
            engine.run("rm", "-f", *started, check=False, timeout=120)


def _runtime(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check.id: r for r in results if r.check.area == "container-runtime"}


@pytest.mark.docker
def test_exposed_container_is_named_in_the_fails_and_the_hardened_one_is_not(containers: Containers,
                                                                            tmp_path: Path) -> None:
    engine = containers.image.engine
    started = time.monotonic()
    results = _runtime(scan_posture(DirTree(str(tmp_path)), docker_host=engine.host, benchmarks=["docker"]).results)
    elapsed = time.monotonic() - started
    assert set(results) == set(BY_ID)
    expect_fail = [*EXPOSED_FAILS, "docker-container-apparmor"]
    if containers.privileged:
        expect_fail.append("docker-container-not-privileged")
    else:  # the probe saw the container as it runs: not privileged
        assert containers.exposed not in results["docker-container-not-privileged"].reason
    for cid in expect_fail:
        r = results[cid]
        assert r.status == FAIL, (cid, r.status, r.reason)
        assert f"{containers.exposed} (" in r.reason, (cid, r.reason)
        assert f"docker:{containers.exposed}" in {e.source for e in r.evidence}, cid
        if cid != "docker-container-apparmor":
            assert containers.hardened not in r.reason, (cid, r.reason)
            if BY_ID[cid].probe["type"] == "docker_container":  # (`all` keeps its passing parts' evidence)
                assert f"docker:{containers.hardened}" not in {e.source for e in r.evidence}, cid
    assert results["docker-container-sensitive-mounts"].evidence[0].found == "/etc" or any(
        e.found == "/etc" for e in results["docker-container-sensitive-mounts"].evidence)
    socket_ev = [e for e in results["docker-container-docker-socket"].evidence if e.source.endswith(containers.exposed)]
    assert socket_ev[0].found == str(engine.socket)
    assert all(r.status in (PASS, FAIL) for r in results.values()), [r.reason for r in results.values()
                                                                    if r.status not in (PASS, FAIL)]
    assert elapsed < 10, f"{elapsed:.2f}s for {len(results)} checks"  # the containers are read once


@pytest.mark.docker
def test_checks_pass_on_the_hardened_container_alone(containers: Containers, tmp_path: Path) -> None:
    docs = docker_api.fetch_running(containers.image.engine.host)
    hardened = [d for d in docs if d["Name"] == f"/{containers.hardened}"]
    assert len(hardened) == 1 and hardened[0]["HostConfig"]["ReadonlyRootfs"] is True
    ctx = Context(DirTree(str(tmp_path)), containers=hardened)
    results = {c.id: evaluate(c, ctx) for c in RUNTIME}
    apparmor = results.pop("docker-container-apparmor")
    if hardened[0]["AppArmorProfile"]:  # a host with AppArmor: docker-default
        assert apparmor.status == PASS
    else:
        assert apparmor.status == FAIL and "AppArmorProfile not set" in apparmor.reason
    assert {cid: r.status for cid, r in results.items()} == dict.fromkeys(results, PASS), \
        {cid: r.reason for cid, r in results.items() if r.status != PASS}
    assert results["docker-container-user-not-root"].evidence[0].found == "1000"


@pytest.mark.docker
def test_cli_reports_the_exposed_container(containers: Containers, tmp_path: Path) -> None:
    engine = containers.image.engine
    res = subprocess.run([sys.executable, "-m", "threatstryker.cli", "scan", f"dir:{tmp_path}", "--scanners",
                          "posture", "--docker-host", engine.host, "-f", "json", "-q"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    results = {r["id"]: r for r in doc["db"]["posture"]["results"] if r["area"] == "container-runtime"}
    assert len(results) == len(RUNTIME) and not [r for r in results.values() if r["status"] == ERROR]
    assert results["docker-container-host-pid"]["status"] == FAIL
    assert containers.exposed in results["docker-container-host-pid"]["reason"]
    findings = {f["id"]: f for f in doc["findings"] if f["kind"] == "misconfiguration"}
    socket_finding = findings["docker-container-docker-socket"]
    assert socket_finding["severity"] == "critical" and socket_finding["cis"] == "5.32"
    assert {"source": f"docker:{containers.exposed}", "found": str(engine.socket),
            "expected": next(e["expected"] for e in socket_finding["evidence"])} in socket_finding["evidence"]


# --- endpoints that cannot be read: ERROR naming the endpoint -------------------------------------------------


def _assert_all_error(results: list[CheckResult], endpoint: str, words: str) -> None:
    runtime = _runtime(results)
    assert len(runtime) == len(RUNTIME)
    for cid, r in runtime.items():
        assert r.status == ERROR, (cid, r.status, r.reason)
        assert endpoint in r.reason and words in r.reason and "\n" not in r.reason, (cid, r.reason)


def test_socket_that_does_not_exist_is_error(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/missing/docker.sock"
    _assert_all_error(_scan(tmp_path, url), url, "unreachable")


def test_tcp_port_nobody_listens_on_is_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    _assert_all_error(_scan(tmp_path, url), url, "unreachable")


def test_unix_socket_nobody_listens_on_is_error(tmp_path: Path) -> None:
    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # bound, never listening: connections are refused
        url = f"unix://{path}"
        _assert_all_error(_scan(tmp_path, url), url, "refused")


_AS_USER = """
import json, sys
from threatstryker.posture.scanner import scan_posture
from threatstryker.sources.dirtree import DirTree
r = scan_posture(DirTree(sys.argv[1]), docker_host=sys.argv[2], benchmarks=["docker"])
print(json.dumps([[x.check.id, x.status, x.reason] for x in r.results if x.check.area == "container-runtime"]))
"""


def test_socket_with_mode_000_is_error() -> None:
    """A listening socket with mode 000: opening it is a real EACCES (as root, in a process whose root may
    not override file modes)."""
    home = tempfile.mkdtemp(prefix="ts-sock-", dir="/tmp")
    try:
        os.chmod(home, 0o755)
        path = os.path.join(home, "docker.sock")
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(path)
            s.listen(1)
            os.chmod(path, 0)
            url = f"unix://{path}"
            if os.geteuid() == 0:
                proc = subprocess.run([sys.executable, "-c", _AS_USER, home, url], capture_output=True, text=True,
                                      timeout=120, preexec_fn=drop_dac_override)
                assert proc.returncode == 0, proc.stderr
                rows = json.loads(proc.stdout)
            else:
                rows = [[x.check.id, x.status, x.reason] for x in _scan(home, url)]
        assert len(rows) == len(RUNTIME)
        for cid, status, reason in rows:
            assert status == ERROR and url in reason and "Permission denied" in reason, (cid, status, reason)
    finally:
        for name in os.listdir(home):
            os.unlink(os.path.join(home, name))
        os.rmdir(home)


@dataclass
class Route:
    status: int
    body: bytes
    delay: float = 0.0


class StandIn:
    """A real HTTP server on 127.0.0.1 that answers Engine API paths with set responses and counts requests."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server API
                outer.hits[self.path] += 1
                route = outer.routes.get(self.path, Route(404, b'{"message": "No such container"}'))
                time.sleep(route.delay)
                try:
                    self.send_response(route.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"tcp://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_http_error_and_bad_json_are_error(tmp_path: Path) -> None:
    with StandIn({"/containers/json": Route(500, _json({"message": "daemon is shutting down"}))}) as api:
        _assert_all_error(_scan(tmp_path, api.url), api.url, "HTTP 500: daemon is shutting down")
        assert api.hits["/containers/json"] == 1  # read once per target, the error too
    with StandIn({"/containers/json": Route(200, b"<html>not the engine</html>")}) as api:
        _assert_all_error(_scan(tmp_path, api.url), api.url, "did not answer JSON")
    routes = {"/containers/json": Route(200, _json([{"Id": "a" * 64}])),
              f"/containers/{'a' * 64}/json": Route(200, b"[1, 2")}
    with StandIn(routes) as api:
        _assert_all_error(_scan(tmp_path, api.url), api.url, "did not answer JSON")


def test_no_answer_in_time_is_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_api, "TIMEOUT", 0.3)
    with StandIn({"/containers/json": Route(200, b"[]", delay=1.5)}) as api:
        started = time.monotonic()
        results = _scan(tmp_path, api.url)
        assert time.monotonic() - started < 1.4  # one request waited for, not one per check
        _assert_all_error(results, api.url, "no answer within 0.3s")


def test_unsupported_endpoint_is_error(tmp_path: Path) -> None:
    _assert_all_error(_scan(tmp_path, "ssh://admin@host"), "ssh://admin@host", "unsupported endpoint")


def test_container_gone_between_list_and_inspect_is_left_out(tmp_path: Path) -> None:
    gone, there = "b" * 64, "c" * 64
    doc = {"Id": there, "Name": "/survivor", "HostConfig": {"Privileged": True}}
    routes = {"/containers/json": Route(200, _json([{"Id": gone}, {"Id": there}])),
              f"/containers/{there}/json": Route(200, _json(doc))}
    with StandIn(routes) as api:
        results = _runtime(_scan(tmp_path, api.url))
        assert api.hits == Counter({"/containers/json": 1, f"/containers/{gone}/json": 1,
                                    f"/containers/{there}/json": 1})
    privileged = results["docker-container-not-privileged"]
    assert privileged.status == FAIL
    assert privileged.reason == "1 of 1 running containers: survivor (cccccccccccc): HostConfig.Privileged is 'true'"
    assert [e.to_dict() for e in privileged.evidence] == [
        {"source": "docker:survivor", "found": "true", "expected": "HostConfig.Privileged = false"}]


def test_no_running_container_and_no_endpoint_do_not_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with StandIn({"/containers/json": Route(200, b"[]")}) as api:
        results = _runtime(_scan(tmp_path, api.url))
        assert {r.status for r in results.values()} == {NOT_APPLICABLE}
        assert results["docker-container-host-pid"].reason == "no running container"
        # on the live host $DOCKER_HOST is the endpoint when no --docker-host is given
        monkeypatch.setenv("DOCKER_HOST", api.url)
        assert docker_api.endpoint(Context(DirTree(str(tmp_path)), live=True)) == api.url
        assert docker_api.endpoint(Context(DirTree(str(tmp_path)), live=False)) is None
    results = _runtime(scan_posture(DirTree(str(tmp_path)), benchmarks=["docker"]).results)
    assert {r.status for r in results.values()} == {NOT_APPLICABLE}
    assert "no Docker Engine API" in results["docker-container-host-pid"].reason


# --- the probe's keys and semantics, and not_regex -----------------------------------------------------------

DOC: dict[str, Any] = {
    "Name": "/web", "Id": "0123456789abcdef",
    "HostConfig": {"CapAdd": None, "CapDrop": ["ALL"], "Memory": 0, "CgroupParent": "",
                   "SecurityOpt": ["label=disable", "no-new-privileges"],
                   "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 9}},
    "Mounts": [{"Source": "/srv", "Propagation": ""}, {"Source": "/etc/ssl", "Propagation": "rprivate"}],
    "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "81/tcp": None,
                                  "443/tcp": [{"HostIp": "", "HostPort": "443"}]}},
}


def test_keys_reach_lists_and_mapping_values() -> None:
    assert values_at(DOC, "HostConfig.Memory") == ([0], False)
    assert values_at(DOC, "HostConfig.CapAdd[*]") == ([], True)
    assert values_at(DOC, "Mounts[*].Source") == (["/srv", "/etc/ssl"], True)
    assert values_at(DOC, "NetworkSettings.Ports.*[*].HostPort") == (["8080", "443"], True)
    assert values_at(DOC, "NetworkSettings.Ports.*[*].HostIp") == (["0.0.0.0", ""], True)
    assert values_at(DOC, "HostConfig.Missing.Deeper") == ([], False)
    r = run_probe(Context(DirTree("/"), containers=[DOC]), {"type": "docker_container", "key": "Mounts[0]",
                                                              "expect": {"present": True}})
    assert r.status == ERROR and "bad key" in r.reason


def _judge(spec: dict[str, Any], doc: dict[str, Any] = DOC) -> tuple[bool, str | None, str]:
    return judge(doc, {"type": "docker_container", **spec})


def test_each_any_default_and_when() -> None:
    # each: every value; no value violates nothing
    assert _judge({"key": "HostConfig.CapAdd[*]", "each": True, "expect": {"absent": True}}) == (True, None, "")
    assert _judge({"key": "NetworkSettings.Ports.*[*].HostPort", "each": True, "expect": {"min": 1024}}) == \
        (False, "443", "is 443")
    assert _judge({"key": "NetworkSettings.Ports.*[*].HostIp", "each": True,
                   "expect": {"not_in": ["", "0.0.0.0"]}})[0] is False
    # without each: one value must meet; none: the default, else not set
    assert _judge({"key": "HostConfig.SecurityOpt[*]", "expect": {"regex": "no-new-privileges"}}) == \
        (True, "no-new-privileges", "")
    assert _judge({"key": "HostConfig.SecurityOpt[*]", "expect": {"regex": "seccomp=.*"}}) == \
        (False, "label=disable, no-new-privileges",
         "has no value that matches seccomp=.* (label=disable, no-new-privileges)")
    assert _judge({"key": "Config.User", "expect": {"not_regex": "root|0"}}) == (True, None, "")
    assert _judge({"key": "Config.User", "expect": {"not_regex": "root|0"}, "default": "root"}) == \
        (False, "root", "is 'root' (not set: the default)")
    assert _judge({"key": "HostConfig.CgroupParent", "expect": {"present": True}}) == (False, None, "not set")
    # when: only the containers the condition holds for
    retries = {"type": "docker_container", "key": "HostConfig.RestartPolicy.MaximumRetryCount", "expect": {"max": 5},
               "when": {"key": "HostConfig.RestartPolicy.Name", "expect": {"equals": "on-failure"}}}
    other = {**DOC, "Name": "/job", "Id": "fedcba9876543210",
             "HostConfig": {"RestartPolicy": {"Name": "no", "MaximumRetryCount": 99}}}
    r = run_probe(Context(DirTree("/"), containers=[DOC, other]), retries)
    assert r.status == FAIL and r.reason.startswith("1 of 2 running containers: web (0123456789ab): ")
    assert [e.source for e in r.evidence] == ["docker:web"]
    r = run_probe(Context(DirTree("/"), containers=[other]), retries)
    assert (r.status, r.reason) == (PASS, "none of the 1 running containers is concerned")
    bad_when = {**retries, "when": {"key": "x", "expect": {"bogus": 1}}}
    assert run_probe(Context(DirTree("/"), containers=[DOC]), bad_when).status == ERROR


def test_not_regex_operator() -> None:
    validate({"not_regex": "(root|0)(:.*)?"})
    with pytest.raises(ExpectError, match="not_regex does not compile"):
        validate({"not_regex": "(unclosed"})
    assert describe({"not_regex": "root"}) == "does not match root"
    assert meets("1000:1000", {"not_regex": "(root|0)(:.*)?"}) == (True, "")
    assert meets("0:0", {"not_regex": "(root|0)(:.*)?"}) == (False, "is '0:0'")
    assert meets("rooted", {"not_regex": "root"}) == (True, "")  # a full match, as regex
    assert meets(None, {"not_regex": "root"}) == (True, "not set")  # unset meets a negative, as not_equals does
    assert meets("root", {"regex": "root"}) == (True, "")


def test_the_probe_needs_key_and_expect() -> None:
    from threatstryker.posture.engine import CheckFileError, validate_probe

    with pytest.raises(CheckFileError, match="needs expect"):
        validate_probe({"type": "docker_container", "key": "HostConfig.Privileged"}, "here")
    with pytest.raises(CheckFileError, match="expect must be one of"):
        validate_probe({"type": "docker_container", "key": "a", "expect": {"nope": 1}}, "here")
    with pytest.raises(CheckFileError, match="bad key"):
        validate_probe({"type": "docker_container", "key": "Mounts[0].Source", "expect": {"present": True}}, "here")
    with pytest.raises(CheckFileError, match="when: expect must be one of"):
        validate_probe({"type": "docker_container", "key": "a", "expect": {"present": True},
                        "when": [{"key": "b", "expect": {"bogus": 1}}]}, "here")
    with pytest.raises(ProbeError, match="not an inspect document"):
        from threatstryker.posture.probes.containers import docker_container

        docker_container(Context(DirTree("/"), containers=["oops"]), {"key": "a", "expect": {"present": True}})
