"""The posture scan of a target: results for every check, failed checks as findings with evidence and
remediation, counts per status, and the report formats."""

from __future__ import annotations

import json
from pathlib import Path

from tests.report.test_sarif import validator
from threatstryker.model.finding import ScanReport
from threatstryker.model.package import TargetInfo
from threatstryker.posture.scanner import scan_posture
from threatstryker.report import render
from threatstryker.sources.dirtree import DirTree

from .rootfs import build

CHECKS = """\
benchmark: linux
area: test
checks:
  - id: t-ssh-root
    title: SSH root login is disabled
    description: d
    rationale: r
    remediation: Set PermitRootLogin no
    severity: high
    level: 1
    cis: "5.1.20"
    applies_if: {type: file_exists, path: /etc/ssh/sshd_config}
    probe: {type: config_value, format: sshd, paths: [/etc/ssh/sshd_config], key: PermitRootLogin,
            expect: {equals: "no"}, default: prohibit-password}
  - id: t-forward
    title: IP forwarding is off
    description: d
    rationale: r
    remediation: sysctl -w net.ipv4.ip_forward=0
    severity: medium
    level: 1
    probe: {type: sysctl, key: net.ipv4.ip_forward, expect: {equals: 0}}
  - id: t-audit
    title: auditd is installed
    description: d
    rationale: r
    remediation: apt install auditd
    severity: medium
    level: 2
    probe: {type: package, names: [auditd]}
  - id: t-bios
    title: BIOS password set
    description: d
    rationale: r
    remediation: set it
    severity: low
    level: 2
    probe: {type: manual, reason: firmware settings cannot be read from the file system}
"""


def test_statuses_findings_and_formats(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "t.yaml").write_text(CHECKS)
    root = build(tmp_path / "r", {"/etc/ssh/sshd_config": "PermitRootLogin yes\n",
                                  "/etc/sysctl.d/90.conf": "net.ipv4.ip_forward = 0\n"})
    result = scan_posture(DirTree(str(root)), check_paths=[tmp_path / "checks"])
    assert {r.check.id: r.status for r in result.results} == {
        "t-ssh-root": "FAIL", "t-forward": "PASS", "t-audit": "ERROR", "t-bios": "MANUAL"}
    assert result.counts() == {"PASS": 1, "FAIL": 1, "MANUAL": 1, "NOT_APPLICABLE": 0, "ERROR": 1}
    [finding] = result.findings
    assert (finding.id, finding.severity, finding.cis, finding.path) == (
        "t-ssh-root", "high", "5.1.20", "/etc/ssh/sshd_config")
    assert finding.evidence[0] == {"source": "/etc/ssh/sshd_config", "found": "yes",
                                   "expected": "PermitRootLogin = no"}
    report = ScanReport(target=TargetInfo("rootfs", str(root)), scanners=("posture",), findings=list(result.findings))
    report.db["posture"] = result.to_dict()
    doc = json.loads(render(report, "json"))
    assert doc["findings"][0]["kind"] == "misconfiguration" and doc["findings"][0]["remediation"]
    assert doc["db"]["posture"]["by_status"]["ERROR"] == 1
    errored = next(r for r in doc["db"]["posture"]["results"] if r["id"] == "t-audit")
    assert errored["reason"] == "no package database (dpkg, rpm or apk) in the target"
    table = render(report, "table", console_width=200)
    assert "t-ssh-root" in table and "Set PermitRootLogin no" in table and "4 checks" in table
    log = json.loads(render(report, "sarif"))
    assert [e.message for e in validator().iter_errors(log)] == []
    assert log["runs"][0]["results"][0]["ruleId"] == "t-ssh-root"
