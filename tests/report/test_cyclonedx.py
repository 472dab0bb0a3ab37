"""CycloneDX 1.6 with vulnerabilities: schema-valid, one vulnerability per finding, affects refs that resolve."""

from __future__ import annotations

import json
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from threatstryker.model.finding import Fix, ScanReport, Suppression, VulnerabilityFinding
from threatstryker.report import render
from threatstryker.report.cyclonedx import render_cyclonedx

from .conftest import JINJA2, V40_CRIT, cvss, empty_report, make_report, sbom_for

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def cdx(report: ScanReport, **kw: Any) -> dict[str, Any]:
    text = render(report, "cyclonedx-json", **kw)
    assert VALIDATOR.validate_str(text) is None
    doc: dict[str, Any] = json.loads(text)
    assert doc["specVersion"] == "1.6"
    return doc


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in doc.get("vulnerabilities", [])}


def component_refs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in doc["components"]}


def test_without_sbom_components_are_the_findings_packages(report: ScanReport) -> None:
    doc = cdx(report)
    comps = component_refs(doc)
    vulns = doc["vulnerabilities"]
    assert len(vulns) == len(report.findings) == 7
    # seven findings on seven packages, plus the operating system component
    assert len(comps) == 8 and comps["distro"]["type"] == "operating-system"
    for v in vulns:
        (affects,) = v["affects"]
        comp = comps[affects["ref"]]
        assert affects["versions"] == [{"version": comp["version"], "status": "affected"}]
    log4j_ref = by_id(doc)["CVE-2021-44228"]["affects"][0]["ref"]
    assert comps[log4j_ref]["purl"] == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert comps[log4j_ref]["group"] == "org.apache.logging.log4j" and comps[log4j_ref]["name"] == "log4j-core"


def test_with_sbom_reuses_its_components_and_adds_missing_ones(report: ScanReport) -> None:
    report.sbom = sbom_for(report)
    doc = cdx(report)
    comps = component_refs(doc)
    sbom_ids = {p.id for p in report.sbom.packages}
    assert sbom_ids <= set(comps)  # every SBOM package, bash (no finding) included
    assert any(c["name"] == "bash" for c in comps.values())
    # the Java and Python packages the SBOM lacks are added: 6 SBOM packages + distro + log4j, jinja2, urllib3
    assert len(comps) == 10
    for v in doc["vulnerabilities"]:
        assert v["affects"][0]["ref"] in comps
    openssl = by_id(doc)["CVE-2024-5535"]
    assert openssl["affects"][0]["ref"] in sbom_ids


def test_vulnerability_fields(report: ScanReport) -> None:
    vulns = by_id(cdx(report))
    log4j = vulns["CVE-2021-44228"]
    assert log4j["source"] == {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2021-44228"}
    assert log4j["references"] == [{"id": "GHSA-jfh8-c2jp-5v3q", "source": {
        "name": "GitHub", "url": "https://github.com/advisories/GHSA-jfh8-c2jp-5v3q"}}]
    ratings = {r["method"]: r for r in log4j["ratings"]}
    assert ratings["CVSSv31"] == {"source": {"name": "nvd"}, "score": 10.0, "severity": "critical",
                                  "method": "CVSSv31", "vector": "AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}
    assert ratings["CVSSv2"]["score"] == 9.3 and ratings["CVSSv2"]["severity"] == "high"
    assert log4j["cwes"] == [502, 917]
    assert log4j["description"] == "Remote code injection in Log4j"
    assert log4j["advisories"] == [{"url": "https://logging.apache.org/log4j/2.x/security.html"}]
    assert log4j["recommendation"] == "Upgrade org.apache.logging.log4j:log4j-core to a fixed version: 2.15.0"
    assert log4j["published"].startswith("2021-12-10T00:00:00")
    props = {p["name"]: p["value"] for p in log4j["properties"]}
    assert props["threatstryker:kev:known_ransomware"] == "true"
    assert props["threatstryker:kev:date_added"] == "2021-12-10"
    assert props["threatstryker:epss:probability"] == "0.94358"
    assert props["threatstryker:fix:state"] == "fixed" and props["threatstryker:fix:versions"] == "2.15.0"
    assert props["threatstryker:fingerprint"] == report.findings[-1].fingerprint
    assert "analysis" not in log4j

    jinja = vulns["CVE-2024-22195"]
    assert jinja["references"][0]["source"]["name"] == "GitHub"
    assert jinja["ratings"][0]["source"] == {"name": "osv:GHSA-h5c8-rqwp-cp95"}
    assert vulns["PYSEC-2023-192"]["source"]["url"] == "https://osv.dev/vulnerability/PYSEC-2023-192"
    assert "ratings" not in vulns["PYSEC-2023-192"]
    # a vendor severity (Debian's "negligible") is kept as a rating of its own
    assert vulns["CVE-2016-2781"]["ratings"] == [{"source": {"name": "debian"}, "severity": "info",
                                                  "method": "other"}]
    wont = {p["name"]: p["value"] for p in vulns["CVE-2023-52356"]["properties"]}
    assert wont["threatstryker:fix:state"] == "wont_fix" and "threatstryker:fix:versions" not in wont


def test_suppressed_findings_carry_an_analysis(report: ScanReport) -> None:
    extra = [
        VulnerabilityFinding("CVE-2024-56326", JINJA2, severity="high", fix=Fix("fixed", ("3.1.5",)),
                             cvss=(cvss("4.0", V40_CRIT, "critical", "osv:GHSA-q2x7-8rv6-6q7h"),),
                             suppressed=Suppression("cyclonedx-vex", "vex.cdx.json", "", status="false_positive")),
        VulnerabilityFinding("CVE-2024-56201", JINJA2, severity="medium", fix=Fix("fixed", ("3.1.5",)),
                             suppressed=Suppression("openvex", "vex/openvex.json", "fixed", status="fixed")),
    ]
    report.suppressed += extra
    doc = cdx(report, show_suppressed=True)
    vulns = by_id(doc)
    assert len(doc["vulnerabilities"]) == 7 + 4
    assert vulns["CVE-2023-45853"]["analysis"] == {
        "state": "not_affected", "justification": "code_not_present",
        "detail": "vulnerable_code_not_present minizip is not built (openvex: vex/openvex.json)"}
    assert vulns["CVE-2024-34064"]["analysis"]["state"] == "not_affected"  # an ignore entry has no status
    assert "justification" not in vulns["CVE-2024-34064"]["analysis"]
    assert vulns["CVE-2024-56326"]["analysis"]["state"] == "false_positive"
    assert vulns["CVE-2024-56326"]["ratings"][0]["method"] == "CVSSv4"
    assert vulns["CVE-2024-56326"]["ratings"][0]["vector"] == "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    assert vulns["CVE-2024-56201"]["analysis"]["state"] == "resolved"
    # not shown unless asked
    assert "CVE-2023-45853" not in by_id(cdx(report))


def test_validate_flag_uses_the_schema(report: ScanReport) -> None:
    text = render_cyclonedx(report, show_suppressed=True, validate=True)
    assert json.loads(text)["vulnerabilities"]


def test_empty_report_cyclonedx() -> None:
    doc = cdx(empty_report())
    assert "vulnerabilities" not in doc and "components" not in doc
    assert doc["metadata"]["component"]["name"] == "/srv/empty"


def test_distro_in_report_without_sbom_is_a_component() -> None:
    doc = cdx(make_report(findings=[], suppressed=[]))
    assert [c["name"] for c in doc["components"]] == ["debian"]
