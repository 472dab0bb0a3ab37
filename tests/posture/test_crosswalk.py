"""The framework crosswalk: the data files load, every glob is alive and every check is mapped; requirement
statuses and scores from real check results on built root filesystems; ``--framework`` through the CLI."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest

from threatstryker.posture.crosswalk import (
    FrameworkError,
    assess,
    load_framework_file,
    load_frameworks,
    requirement_status,
)
from threatstryker.posture.engine import evaluate, load_checks
from threatstryker.posture.model import ERROR, FAIL, MANUAL, NOT_APPLICABLE, PASS
from threatstryker.posture.scanner import scan_posture
from threatstryker.sources.dirtree import DirTree

from .rootfs import build, context

CHECKS = load_checks()
FRAMEWORKS = load_frameworks(CHECKS)
BY_ID = {fw.id: fw for fw in FRAMEWORKS}
CLI = [sys.executable, "-m", "threatstryker.cli"]


def test_the_six_frameworks_load() -> None:
    assert set(BY_ID) == {"cis", "pci-dss", "hipaa", "nist-800-53", "soc2", "gdpr"}
    for fw in FRAMEWORKS:
        assert len(fw.requirements) >= 6, fw.id
        assert len({r.id for r in fw.requirements}) == len(fw.requirements)
    cis = BY_ID["cis"]
    assert "Linux 5.1.20" in {r.id for r in cis.requirements}  # sshd PermitRootLogin, from the check's cis id


@pytest.mark.parametrize("fw", [f for f in FRAMEWORKS if f.id != "cis"], ids=lambda f: f.id)
def test_every_glob_matches_a_check(fw) -> None:  # type: ignore[no-untyped-def]
    areas = {f"{c.benchmark}/{c.area}" for c in CHECKS}
    ids = [c.id for c in CHECKS]
    dead = [(r.id, p) for r in fw.requirements for p in r.checks if not fnmatch.filter(ids, p)]
    dead += [(r.id, p) for r in fw.requirements for p in r.areas if not fnmatch.filter(areas, p)]
    assert not dead, f"globs matching no check: {dead}"


@pytest.mark.parametrize("fw", [f for f in FRAMEWORKS if f.id != "cis"], ids=lambda f: f.id)
def test_every_automated_check_is_mapped(fw) -> None:  # type: ignore[no-untyped-def]
    automated = [c for c in CHECKS if c.probe["type"] != "manual"]
    assert [c.id for c in automated if not any(r.covers(c) for r in fw.requirements)] == []
    if fw.id in ("pci-dss", "nist-800-53"):
        specific = [r for r in fw.requirements if r.areas != ("*/*",)]
        assert [c.id for c in automated if not any(r.covers(c) for r in specific)] == []


def test_requirement_status_precedence() -> None:
    assert requirement_status([PASS, FAIL, ERROR]) == FAIL
    assert requirement_status([PASS, ERROR, MANUAL]) == ERROR
    assert requirement_status([PASS, MANUAL]) == MANUAL
    assert requirement_status([PASS, NOT_APPLICABLE]) == PASS
    assert requirement_status([NOT_APPLICABLE]) == NOT_APPLICABLE
    assert requirement_status([]) == NOT_APPLICABLE


def _pam_results(tmp_path: Path, name: str, files: dict[str, object]):  # type: ignore[no-untyped-def]
    checks = [c for c in CHECKS if fnmatch.fnmatchcase(c.id, "linux-pam-pwquality-*")]
    ctx = context(build(tmp_path / name, files))
    return [evaluate(c, ctx) for c in checks]


def test_a_requirement_follows_its_checks_on_real_files(tmp_path: Path) -> None:
    pci = BY_ID["pci-dss"]
    req = next(r for r in pci.requirements if r.id == "8.3.6")
    # the pass examples of every pwquality check, merged, make a system that meets 8.3.6
    merged: dict[str, object] = {}
    for c in CHECKS:
        if fnmatch.fnmatchcase(c.id, "linux-pam-pwquality-*"):
            for path, spec in c.examples["pass"].items():
                merged.setdefault(path, spec)
    good = assess(pci, _pam_results(tmp_path, "good", merged))
    got = next(r for r in good.requirements if r.requirement is req)
    bad = assess(pci, _pam_results(tmp_path, "empty", {}))
    failed = next(r for r in bad.requirements if r.requirement is req)
    assert failed.status == FAIL and failed.failed and failed.counts[FAIL] == len(failed.failed)
    assert got.counts[FAIL] < failed.counts[FAIL]
    assert bad.score is not None and bad.score < 100.0


def test_an_unreadable_file_makes_the_requirement_error_never_pass(tmp_path: Path) -> None:
    check = next(c for c in CHECKS if c.id == "linux-pam-pwquality-minlen")
    root = build(tmp_path / "r", check.examples["pass"])
    # a directory where the configuration file should be: the probe cannot read it
    for path in check.examples["pass"]:
        target = root / path.lstrip("/")
        if target.is_file():
            target.unlink()
            target.mkdir()
    result = evaluate(check, context(root))
    assert result.status == ERROR, result.reason
    fw = BY_ID["pci-dss"]
    assessment = assess(fw, [result])
    req = next(r for r in assessment.requirements if r.requirement.id == "8.3.6")
    assert req.status == ERROR and req.errors == [check.id]
    assert assessment.score == 0.0  # an error counts against the score


def test_scan_posture_scores_every_framework_and_details_the_asked_one(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {"/etc/os-release": "ID=debian\nVERSION_ID=12\n", "/etc/passwd": {
        "content": "root:x:0:0:root:/root:/bin/bash\n", "mode": "0644"}})
    result = scan_posture(DirTree(str(root)), frameworks=["PCI-DSS"], benchmarks=["linux"])
    doc = result.to_dict()["frameworks"]
    assert set(doc) == set(BY_ID)
    assert "requirements" in doc["pci-dss"] and "requirements" not in doc["hipaa"]
    for fw in doc.values():
        checks = fw["checks"]
        judged = checks[PASS] + checks[FAIL] + checks[ERROR]
        assert fw["score"] == (round(100 * checks[PASS] / judged, 1) if judged else None)
    assert all(f.frameworks.get("pci-dss") and f.frameworks.get("nist-800-53") for f in result.findings)
    with pytest.raises(FrameworkError, match=r"unknown framework.*iso"):
        scan_posture(DirTree(str(root)), frameworks=["iso-27001"])


def test_framework_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: X\nversion: '1'\nrequirements:\n  - id: A\n    title: t\n")
    with pytest.raises(FrameworkError, match=r"bad.yaml: requirement A: names no checks"):
        load_framework_file(bad)
    bad.write_text("id: x\nname: X\nversion: '1'\nrequirements: [{id: A, title: t, checks: [a]}, "
                   "{id: A, title: u, checks: [b]}]\n")
    with pytest.raises(FrameworkError, match="duplicate requirement id"):
        load_framework_file(bad)


def test_cli_framework_option(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {"/etc/os-release": "ID=debian\nVERSION_ID=12\n"})
    res = subprocess.run([*CLI, "scan", f"rootfs:{root}", "--scanners", "posture", "--framework", "hipaa", "-q",
                          "-f", "json"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    hipaa = doc["db"]["posture"]["frameworks"]["hipaa"]
    assert {r["id"] for r in hipaa["requirements"]} >= {"164.312(b)", "164.312(d)"}
    assert all(f["frameworks"]["hipaa"] for f in doc["findings"] if f["kind"] == "misconfiguration")
    table = subprocess.run([*CLI, "scan", f"rootfs:{root}", "--scanners", "posture", "--framework", "hipaa", "-q"],
                           capture_output=True, text=True, timeout=120)
    assert "HIPAA Security Rule" in table.stdout and "164.312(b)" in table.stdout and "Compliance" in table.stdout
    sarif = json.loads(subprocess.run([*CLI, "scan", f"rootfs:{root}", "--scanners", "posture", "-q", "-f", "sarif"],
                                      capture_output=True, text=True, timeout=120).stdout)
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert rules and all(r["properties"]["frameworks"]["pci-dss"] for r in rules)
    bad = subprocess.run([*CLI, "scan", f"rootfs:{root}", "--scanners", "posture", "--framework", "iso", "-q"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown framework(s): iso" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    listed = json.loads(subprocess.run([*CLI, "frameworks", "--json"], capture_output=True, text=True,
                                       timeout=60).stdout)
    assert {f["id"] for f in listed} == set(BY_ID)
