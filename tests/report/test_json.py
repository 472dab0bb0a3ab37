"""The native JSON format: documented fields, the shared finding order, and byte-stable output."""

from __future__ import annotations

import json

from threatstryker.model.finding import ScanReport
from threatstryker.report import render

from .conftest import EXPECTED_ORDER, LOG4J, empty_report, make_report

FINDING_KEYS = ["kind", "id", "aliases", "package", "severity", "severity_source", "cvss", "epss", "kev", "fix",
                "matched_by", "summary", "urls", "cwes", "published", "fingerprint"]


def test_documented_fields(report: ScanReport) -> None:
    doc = json.loads(render(report, "json"))
    assert doc["schema"] == "threatstryker-report/1"
    assert doc["target"] == {"scheme": "docker-archive", "path": "/tmp/shop-api.tar", "name": "shop-api:1.4.2",
                             "image_id": "sha256:" + "ab" * 32, "tags": ["shop-api:1.4.2"],
                             "layers": report.target.layers}
    assert doc["distro"]["id"] == "debian" and doc["packages"] == 143
    assert doc["summary"] == {"by_severity": {"unknown": 1, "negligible": 1, "low": 0, "medium": 1, "high": 2,
                                              "critical": 2}, "suppressed": 2}
    assert [f["id"] for f in doc["findings"]] == EXPECTED_ORDER
    assert doc["warnings"] == [{"path": "/usr/lib/x86_64-linux-gnu/libbroken.so.1", "reason": "truncated ELF header"}]
    assert doc["notices"] == report.notices
    assert "suppressed" not in doc

    log4j = doc["findings"][0]
    assert list(log4j) == FINDING_KEYS
    assert log4j["kind"] == "vulnerability" and log4j["aliases"] == ["GHSA-jfh8-c2jp-5v3q"]
    assert log4j["package"] == {
        "ecosystem": "maven", "name": LOG4J.name, "version": "2.14.1", "purl": LOG4J.purl,
        "locations": [{"path": "/app/shop-api.jar:BOOT-INF/lib/log4j-core-2.14.1.jar",
                       "layer": "sha256:" + "9c" * 32}],
        "found_by": "java-archive",
    }
    assert log4j["severity"] == "critical"
    assert [(c["version"], c["base_score"]) for c in log4j["cvss"]] == [("2.0", 9.3), ("3.1", 10.0)]
    assert log4j["epss"] == {"probability": 0.94358, "percentile": 0.99967, "date": "2025-06-01"}
    assert log4j["kev"]["known_ransomware"] is True and log4j["kev"]["date_added"] == "2021-12-10"
    assert log4j["fix"] == {"state": "fixed", "versions": ["2.15.0"]}
    assert log4j["matched_by"][0]["record"] == "GHSA-jfh8-c2jp-5v3q"
    assert log4j["fingerprint"] == report.findings[-1].fingerprint
    assert len(log4j["fingerprint"]) == 64

    not_fixed = next(f for f in doc["findings"] if f["id"] == "CVE-2023-31484")
    assert not_fixed["fix"] == {"state": "not_fixed", "versions": []} and not_fixed["kev"] is None


def test_suppressed_listed_with_their_suppression(report: ScanReport) -> None:
    doc = json.loads(render(report, "json", show_suppressed=True))
    assert [f["id"] for f in doc["suppressed"]] == ["CVE-2023-45853", "CVE-2024-34064"]
    assert doc["suppressed"][0]["suppressed"] == {"source": "openvex", "file": "vex/openvex.json",
                                                  "reason": "vulnerable_code_not_present minizip is not built",
                                                  "status": "not_affected"}
    assert all("suppressed" not in f for f in doc["findings"])


def test_output_is_deterministic() -> None:
    first = render(make_report(), "json", show_suppressed=True)
    shuffled = make_report(findings=list(reversed(make_report().findings)),
                           db={"built_at": "2025-06-01T04:00:00Z", "tool_version": "0.1.0", "schema_version": "1"})
    assert render(shuffled, "json", show_suppressed=True) == first
    assert first.endswith("}\n") and first.startswith('{\n  "schema"')  # indent 2
    assert list(json.loads(first)["db"]) == ["built_at", "schema_version", "tool_version"]


def test_empty_report_json() -> None:
    doc = json.loads(render(empty_report(), "json"))
    assert doc["findings"] == [] and doc["warnings"] == [] and doc["partial"] is False
    assert doc["summary"]["by_severity"] == dict.fromkeys(
        ("unknown", "negligible", "low", "medium", "high", "critical"), 0)
