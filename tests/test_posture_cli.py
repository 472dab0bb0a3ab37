"""`threatstryker scan --scanners posture` as a real subprocess: on a real Debian root filesystem made by
debootstrap (offline) and on this host (live)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "threatstryker.cli"]


def scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "scan", *args, "--scanners", "posture", "-q", "-f", "json"], capture_output=True,
                          text=True, timeout=300)


def test_debootstrap_rootfs_offline(debian_rootfs: Path) -> None:
    res = scan(f"rootfs:{debian_rootfs}", "--fail-on", "high")
    assert res.returncode == 1, res.stderr  # a minbase system has high-severity failures (no firewall, ...)
    doc = json.loads(res.stdout)
    posture = doc["db"]["posture"]
    assert posture["live"] is False and posture["checks"] >= 300
    by_id = {r["id"]: r for r in posture["results"]}
    assert posture["by_status"]["ERROR"] == 0, [r for r in posture["results"] if r["status"] == "ERROR"]
    assert by_id["linux-ssh-permit-root-login"]["status"] == "NOT_APPLICABLE"  # minbase has no SSH server
    assert by_id["linux-perms-passwd"]["status"] == "PASS"
    failed = [f for f in doc["findings"] if f["kind"] == "misconfiguration"]
    assert len(failed) == posture["by_status"]["FAIL"] > 0
    assert all(f["evidence"] and f["remediation"] and f["reason"] for f in failed)


def test_live_host_runs_end_to_end() -> None:
    res = scan("rootfs:/")
    assert res.returncode == 0, res.stderr
    posture = json.loads(res.stdout)["db"]["posture"]
    assert posture["live"] is True and posture["checks"] >= 300
    assert posture["duration_s"] < 30
    errors = [r for r in posture["results"] if r["status"] == "ERROR"]
    assert all(r["reason"] for r in errors)  # what could not be checked says why


def test_image_archive_gets_the_image_configuration_checks(tmp_path: Path) -> None:
    from tests.sources.imagekit import docker_archive, layer_tar

    image = docker_archive(tmp_path / "img.tar", [layer_tar([("dir", "etc"), ("file", "etc/os-release",
                                                                                 b"ID=debian\nVERSION_ID=12\n")])])
    doc = json.loads(scan(f"docker-archive:{image}").stdout)
    by_id = {r["id"]: r for r in doc["db"]["posture"]["results"]}
    # the test image's config: Env PATH only, Cmd /bin/sh, no User, no Healthcheck, no exposed ports
    assert by_id["image-user-not-root"]["status"] == "FAIL"
    assert by_id["image-user-not-root"]["evidence"][0]["found"] == "root"  # not set: root, the default
    assert by_id["image-healthcheck"]["status"] == "FAIL"
    assert by_id["image-no-secrets-in-env"]["status"] == "PASS"
    assert by_id["image-no-add-from-url"]["status"] == "PASS"
    assert by_id["linux-ssh-permit-root-login"]["status"] == "NOT_APPLICABLE"


def test_a_directory_is_not_a_host(tmp_path: Path) -> None:
    """A project directory gets the Kubernetes workload and Docker container checks, not the host or image
    benchmarks (which would fail on every missing /etc file)."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    doc = json.loads(scan(f"dir:{tmp_path}").stdout)
    posture = doc["db"]["posture"]
    areas = {f"{r['benchmark']}/{r['area']}" for r in posture["results"]}
    assert areas == {"kubernetes/workloads", "docker/container-runtime"}
    assert posture["scope"] == ["kubernetes/workloads", "docker/container-runtime"]
    assert all(r["status"] == "NOT_APPLICABLE" for r in posture["results"])  # no manifests, no Docker Engine
    table = subprocess.run([*CLI, "scan", f"dir:{tmp_path}", "--scanners", "posture", "-q"], capture_output=True,
                           text=True, timeout=300).stdout
    assert "only kubernetes/workloads, docker/container-runtime apply to this target" in table
