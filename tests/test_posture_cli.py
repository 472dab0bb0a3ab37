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
