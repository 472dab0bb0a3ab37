"""`threatstryker scan --scanners vuln` as a real subprocess against the database built from shared/data."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "threatstryker.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A project directory whose lockfile pins a vulnerable urllib3 and a fixed idna."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("urllib3==1.26.16\nidna==3.7\n")
    return app


def scan(app: Path, db: Path, *extra: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run("scan", f"dir:{app}", "--db", str(db), "-q", *extra, cwd=cwd or app.parent)


def test_json_report_fields(app_dir: Path, vulndb_path: Path) -> None:
    res = scan(app_dir, vulndb_path, "-f", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["target"]["scheme"] == "dir"
    assert isinstance(doc["warnings"], list)
    found = {f["id"]: f for f in doc["findings"]}
    f = found["CVE-2023-43804"]
    assert f["kind"] == "vulnerability"
    assert "GHSA-v845-jxx5-vc9f" in f["aliases"]
    assert f["package"]["ecosystem"] == "pypi" and f["package"]["name"] == "urllib3"
    assert f["package"]["version"] == "1.26.16" and f["package"]["purl"] == "pkg:pypi/urllib3@1.26.16"
    assert f["package"]["locations"][0]["path"].endswith("requirements.txt")
    assert f["fix"] == {"state": "fixed", "versions": ["1.26.17"]}
    assert f["matched_by"][0]["scheme"] == "pep440" and f["matched_by"][0]["feed"] == "osv"
    assert f["cvss"] and f["cvss"][0]["vector"].startswith("CVSS:3")
    assert f["epss"]["probability"] == pytest.approx(0.00452)
    assert f["kev"] is None
    assert len(f["fingerprint"]) == 64
    assert f["severity"] in ("medium", "high", "critical")
    assert f["summary"].startswith("urllib3")  # PyPA records have no summary: the details' first sentence
    # idna 3.7 is the fixed version of CVE-2024-3651
    assert not any(x["package"]["name"] == "idna" for x in doc["findings"])


def test_fail_on(app_dir: Path, vulndb_path: Path) -> None:
    doc = json.loads(scan(app_dir, vulndb_path, "-f", "json").stdout)
    worst = max(doc["findings"], key=lambda f: ["unknown", "negligible", "low", "medium", "high", "critical"].index(
        f["severity"]))["severity"]
    assert scan(app_dir, vulndb_path, "-f", "json", "--fail-on", worst).returncode == 1
    assert scan(app_dir, vulndb_path, "-f", "json", "--fail-on", "LOW").returncode == 1
    if worst != "critical":
        assert scan(app_dir, vulndb_path, "-f", "json", "--fail-on", "critical").returncode == 0
    res = scan(app_dir, vulndb_path, "--fail-on", "severe")
    assert res.returncode == 2 and "severe" in res.stderr


def test_ignore_file_and_expiry(app_dir: Path, vulndb_path: Path, tmp_path: Path) -> None:
    ignore = tmp_path / "ignore.yaml"
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    ignore.write_text(
        "ignore:\n"
        f"  - id: GHSA-v845-jxx5-vc9f\n    reason: cookie header never sent cross-site\n    expires: {tomorrow}\n"
        f"  - id: CVE-2023-45803\n    package: pkg:pypi/urllib3\n    reason: old waiver\n    expires: {yesterday}\n"
    )
    res = scan(app_dir, vulndb_path, "-f", "json", "--ignore-file", str(ignore), "--show-suppressed")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    active = {f["id"] for f in doc["findings"]}
    suppressed = {f["id"]: f for f in doc["suppressed"]}
    assert "CVE-2023-43804" in suppressed and "CVE-2023-43804" not in active
    assert suppressed["CVE-2023-43804"]["suppressed"]["reason"].startswith("cookie header")
    assert doc["summary"]["suppressed"] == 1
    # the expired entry no longer suppresses, and says so
    assert "CVE-2023-45803" in active
    assert any("expired" in n for n in doc["notices"])


def test_default_ignore_file_in_working_directory(app_dir: Path, vulndb_path: Path) -> None:
    (app_dir.parent / ".threatstryker-ignore.yaml").write_text(
        "ignore:\n  - package: pkg:pypi/urllib3\n    reason: vendored copy, patched\n"
    )
    doc = json.loads(scan(app_dir, vulndb_path, "-f", "json").stdout)
    assert doc["findings"] == []
    assert doc["summary"]["suppressed"] >= 2


def test_openvex_not_affected(app_dir: Path, vulndb_path: Path, tmp_path: Path) -> None:
    vex = tmp_path / "app.openvex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "security@example.com",
        "timestamp": "2026-11-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": "CVE-2023-43804"},
            "products": [{"@id": "pkg:pypi/urllib3@1.26.16"}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }],
    }))
    doc = json.loads(scan(app_dir, vulndb_path, "-f", "json", "--vex", str(vex)).stdout)
    assert "CVE-2023-43804" not in {f["id"] for f in doc["findings"]}
    assert doc["summary"]["suppressed"] == 1


def test_sarif_and_cyclonedx(app_dir: Path, vulndb_path: Path) -> None:
    sarif = json.loads(scan(app_dir, vulndb_path, "-f", "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert any(r["ruleId"] == "CVE-2023-43804" for r in results)
    cdx = json.loads(scan(app_dir, vulndb_path, "-f", "cyclonedx-json").stdout)
    assert cdx["specVersion"] == "1.6"
    refs = {c["bom-ref"] for c in cdx["components"]}
    vulns = {v["id"]: v for v in cdx["vulnerabilities"]}
    assert all(a["ref"] in refs for a in vulns["CVE-2023-43804"]["affects"])


def test_table_and_sbom_scanner_together(app_dir: Path, vulndb_path: Path) -> None:
    res = scan(app_dir, vulndb_path, "--scanners", "sbom,vuln")
    assert res.returncode == 0, res.stderr
    assert "Summary" in res.stdout  # the package summary
    assert "CVE-2023-43804" in res.stdout
    doc = json.loads(scan(app_dir, vulndb_path, "--scanners", "sbom,vuln", "-f", "json").stdout)
    assert doc["sbom"]["summary"]["packages"] == 2 and doc["findings"]


def test_scan_an_sbom_file(app_dir: Path, vulndb_path: Path, tmp_path: Path) -> None:
    cdx = tmp_path / "app.cdx.json"
    assert run("sbom", f"dir:{app_dir}", "-f", "cyclonedx-json", "-o", str(cdx), "-q").returncode == 0
    res = run("scan", f"sbom:{cdx}", "--db", str(vulndb_path), "-f", "json", "-q")
    assert res.returncode == 0, res.stderr
    assert "CVE-2023-43804" in {f["id"] for f in json.loads(res.stdout)["findings"]}


def test_missing_database_is_a_clear_error(app_dir: Path, tmp_path: Path) -> None:
    res = scan(app_dir, tmp_path / "none.db", "-f", "json")
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no vulnerability database" in lines[0] and "db update" in lines[0]


def test_bad_ignore_file_is_a_clear_error(app_dir: Path, vulndb_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("ignore:\n  - id: CVE-1\n")  # no reason
    res = scan(app_dir, vulndb_path, "--ignore-file", str(bad))
    assert res.returncode == 2
    assert str(bad) in res.stderr and len(res.stderr.strip().splitlines()) == 1
