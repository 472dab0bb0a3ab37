"""OpenVEX and CycloneDX VEX documents: statuses, product matching, overriding statements, bad documents,
and a VEX document written by cyclonedx-python-lib itself."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisResponse, ImpactAnalysisState
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityReference,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from threatstryker.model.finding import Suppression
from threatstryker.suppress import SuppressionError, load_suppressions

from .builders import LOG4J_PURL, OPENSSL_PURL, log4j, vuln, write

TODAY = date(2026, 6, 1)


# ---------------------------------------------------------------------------------------------
# OpenVEX


def openvex(*statements: dict[str, Any], timestamp: str = "2026-01-10T12:00:00Z") -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://openvex.dev/docs/example/vex-threatstryker-test",
        "author": "Security Team <security@example.com>",
        "timestamp": timestamp,
        "version": 1,
        "statements": list(statements),
    }


SPRING_LOG4J = {
    "vulnerability": {
        "@id": "https://nvd.nist.gov/vuln/detail/CVE-2021-44228",
        "name": "CVE-2021-44228",
        "aliases": ["GHSA-jfh8-c2jp-5v3q"],
    },
    "products": [{"@id": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
                  "identifiers": {"purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}}],
    "status": "not_affected",
    "justification": "vulnerable_code_not_in_execute_path",
    "impact_statement": "Lookups are disabled with log4j2.formatMsgNoLookups.",
}


def test_openvex_not_affected_suppresses_with_justification(tmp_path: Path) -> None:
    path = write(tmp_path / "app.openvex.json", openvex(SPRING_LOG4J))
    finding = log4j()
    other_version = log4j(version="2.15.0")
    applied = load_suppressions([path]).apply([finding, other_version], today=TODAY)
    assert applied.suppressed == [finding]
    assert applied.active == [other_version]
    assert finding.suppressed == Suppression(
        "openvex", str(path),
        "vulnerable_code_not_in_execute_path: Lookups are disabled with log4j2.formatMsgNoLookups.", "not_affected")
    assert applied.notices == [] and applied.vex_open == []


def test_openvex_matches_by_alias_and_subcomponent(tmp_path: Path) -> None:
    statement = {
        "vulnerability": {"name": "GHSA-jfh8-c2jp-5v3q"},
        "products": [{"@id": "pkg:oci/app@sha256%3Aabcdef?repository_url=registry.example.com/app",
                      "subcomponents": [{"@id": "pkg:maven/org.apache.logging.log4j/log4j-core"}]}],
        "status": "fixed",
    }
    path = write(tmp_path / "image.openvex.json", openvex(statement))
    finding = log4j("CVE-2021-44228", aliases=("GHSA-JFH8-C2JP-5V3Q",))
    unrelated = vuln()
    applied = load_suppressions([path]).apply([finding, unrelated], today=TODAY)
    assert applied.suppressed == [finding]
    assert finding.suppressed == Suppression("openvex", str(path), "fixed", "fixed")
    assert unrelated.suppressed is None


@pytest.mark.parametrize("status", ["affected", "under_investigation"])
def test_openvex_affected_and_under_investigation_do_not_suppress_but_are_kept(tmp_path: Path, status: str) -> None:
    statement = {**SPRING_LOG4J, "status": status, "action_statement": "Upgrade to 2.17.1"}
    del statement["justification"], statement["impact_statement"]
    path = write(tmp_path / "vex.json", openvex(statement))
    finding = log4j()
    applied = load_suppressions([path]).apply([finding], today=TODAY)
    assert applied.active == [finding]
    assert finding.suppressed is None
    [(kept_finding, kept)] = applied.vex_open
    assert kept_finding is finding
    assert (kept.status, kept.action, kept.vulnerability) == (status, "Upgrade to 2.17.1", "CVE-2021-44228")


def test_openvex_later_statement_overrides_earlier_one(tmp_path: Path) -> None:
    investigating = {**SPRING_LOG4J, "status": "under_investigation", "timestamp": "2026-01-01T08:00:00Z"}
    del investigating["justification"], investigating["impact_statement"]
    # no timestamp of its own: it inherits the document's, 2026-01-10
    not_affected = {**SPRING_LOG4J}
    path = write(tmp_path / "history.openvex.json", openvex(investigating, not_affected))
    finding = log4j()
    load_suppressions([path]).apply([finding], today=TODAY)
    assert finding.suppressed is not None and finding.suppressed.status == "not_affected"

    # Written in the other order, the timestamps still decide: the later affected statement wins.
    affected = {**SPRING_LOG4J, "status": "affected", "timestamp": "2026-03-01T00:00:00.123456789+01:00",
                "action_statement": "Upgrade"}
    path2 = write(tmp_path / "reversed.openvex.json", openvex(affected, not_affected))
    finding2 = log4j()
    applied = load_suppressions([path2]).apply([finding2], today=TODAY)
    assert finding2.suppressed is None
    assert [s.status for _, s in applied.vex_open] == ["affected"]
    # nanoseconds are cut to microseconds; the offset is kept
    assert applied.vex_open[0][1].timestamp == datetime(2026, 2, 28, 23, 0, 0, 123456, tzinfo=UTC)


def test_openvex_pre_v020_string_forms(tmp_path: Path) -> None:
    doc = openvex({"vulnerability": "CVE-2023-1234", "products": ["pkg:deb/debian/openssl"],
                   "subcomponents": [], "status": "not_affected", "justification": "component_not_present"})
    doc["@context"] = "https://openvex.dev/ns"
    path = write(tmp_path / "old.vex.json", doc)
    finding = vuln()
    load_suppressions([path]).apply([finding], today=TODAY)
    assert finding.suppressed == Suppression("openvex", str(path), "component_not_present", "not_affected")


def test_openvex_applies_to_vulnerability_findings_only_and_needs_a_product(tmp_path: Path) -> None:
    no_products = {"vulnerability": {"name": "CVE-2023-1234"}, "status": "not_affected",
                   "justification": "component_not_present"}
    path = write(tmp_path / "vex.json", openvex(no_products))
    finding = vuln()
    applied = load_suppressions([path]).apply([finding], today=TODAY)
    assert applied.active == [finding]
    assert applied.notices == []  # a statement that matches nothing is not noise


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"vulnerability": {"name": "CVE-1"}, "products": [], "status": "bogus"},
         "statements[0]: status 'bogus' is not one of not_affected, fixed, affected, under_investigation"),
        ({"vulnerability": {"@id": "x"}, "status": "fixed"}, "statements[0]: vulnerability has no name"),
        ({"vulnerability": {"name": "CVE-1"}, "status": "fixed", "products": [{"@id": "pkg:"}]},
         "statements[0].products[0]: 'pkg:' is not a valid purl (purl is missing the required type component: "
         "'pkg:'.)"),
        ({"vulnerability": {"name": "CVE-1"}, "status": "fixed", "timestamp": "yesterday"},
         "statements[0]: timestamp 'yesterday' is not an ISO 8601 date-time"),
        ({"vulnerability": {"name": "CVE-1"}, "status": "fixed", "products": {"@id": "pkg:npm/a"}},
         "statements[0].products must be a list"),
    ],
)
def test_malformed_openvex_is_one_line_error_naming_file_and_statement(
    tmp_path: Path, statement: dict[str, Any], message: str
) -> None:
    path = write(tmp_path / "bad.openvex.json", openvex(statement))
    with pytest.raises(SuppressionError) as info:
        load_suppressions([path])
    assert str(info.value) == f"{path}: {message}"


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    text = '{\n  "@context": "https://openvex.dev/ns/v0.2.0",\n  "statements": [,]\n}\n'
    path = write(tmp_path / "broken.json", text)
    with pytest.raises(SuppressionError, match=re.escape(f"{path}:3: invalid JSON: Expecting value")):
        load_suppressions([path])


# ---------------------------------------------------------------------------------------------
# CycloneDX VEX, hand-written


def cdx(vulnerabilities: list[dict[str, Any]], components: list[dict[str, Any]] | None = None,
        serial: str = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79") -> dict[str, Any]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial,
        "version": 1,
        "metadata": {"timestamp": "2026-01-10T12:00:00Z",
                     "component": {"type": "application", "name": "app", "bom-ref": "app",
                                   "components": [{"type": "library", "name": "log4j-core", "bom-ref": "log4j",
                                                   "purl": LOG4J_PURL}]}},
        "components": components or [],
        "vulnerabilities": vulnerabilities,
    }


def test_cyclonedx_vex_via_bom_ref_and_exploitable_kept(tmp_path: Path) -> None:
    doc = cdx(
        [
            {"id": "CVE-2021-44228", "references": [{"id": "GHSA-jfh8-c2jp-5v3q", "source": {"name": "GitHub"}}],
             "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                          "detail": "JNDI lookups are disabled"},
             "affects": [{"ref": "log4j"}]},
            {"id": "CVE-2023-1234", "analysis": {"state": "exploitable", "response": ["update"]},
             "affects": [{"ref": "openssl"}]},
        ],
        components=[{"type": "library", "name": "openssl", "bom-ref": "openssl", "purl": OPENSSL_PURL}],
    )
    path = write(tmp_path / "bom.cdx.json", doc)
    by_alias = log4j("CVE-2099-0001", aliases=("GHSA-jfh8-c2jp-5v3q",))
    openssl = vuln()
    applied = load_suppressions([path]).apply([by_alias, openssl], today=TODAY)
    assert applied.suppressed == [by_alias]
    assert by_alias.suppressed == Suppression("cyclonedx-vex", str(path),
                                              "code_not_reachable: JNDI lookups are disabled", "not_affected")
    assert applied.active == [openssl]
    [(kept_finding, kept)] = applied.vex_open
    assert kept_finding is openssl and (kept.status, kept.action) == ("exploitable", "update")
    assert applied.notices == []


def test_cyclonedx_vex_via_direct_purl_and_bom_link(tmp_path: Path) -> None:
    doc = cdx([
        {"id": "CVE-2023-1234", "analysis": {"state": "false_positive"},
         "affects": [{"ref": "pkg:deb/debian/openssl"}]},
        {"id": "CVE-2021-44228", "analysis": {"state": "resolved"},
         "affects": [{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#log4j"}]},
        {"id": "CVE-2021-45046", "analysis": {"state": "resolved"},
         "affects": [{"ref": "urn:cdx:00000000-0000-4000-8000-000000000000/1#log4j"}, {"ref": "no-such-ref"}]},
    ])
    path = write(tmp_path / "vex.cdx.json", doc)
    openssl, log4shell, other_doc = vuln(), log4j(), log4j("CVE-2021-45046", aliases=())
    applied = load_suppressions([path]).apply([openssl, log4shell, other_doc], today=TODAY)
    assert applied.suppressed == [openssl, log4shell]
    assert openssl.suppressed == Suppression("cyclonedx-vex", str(path), "false_positive", "false_positive")
    assert log4shell.suppressed is not None and log4shell.suppressed.status == "resolved"
    assert applied.active == [other_doc]
    assert applied.notices == [f"{path}: 2 affects ref(s) name no component of this document and are not purls; "
                               "they match no finding (BOM-Links to other documents are not followed)"]


def test_cyclonedx_without_analysis_says_it_suppresses_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "sbom.cdx.json", cdx([{"id": "CVE-2023-1234", "affects": [{"ref": "log4j"}]}]))
    suppressions = load_suppressions([path])
    assert suppressions.statements == []
    assert suppressions.notices == [
        f"{path}: CycloneDX document has no vulnerability with an analysis state; it suppresses nothing"]


@pytest.mark.parametrize(
    ("vulnerability", "message"),
    [
        ({"id": "CVE-1", "analysis": {"state": "wont_fix"}},
         "vulnerabilities[0]: analysis.state 'wont_fix' is not one of not_affected, false_positive, resolved"),
        ({"analysis": {"state": "resolved"}}, "vulnerabilities[0] has no id"),
        ({"id": "CVE-1", "analysis": {"state": "resolved", "lastUpdated": "soon"}},
         "vulnerabilities[0]: timestamp 'soon' is not an ISO 8601 date-time"),
        ({"id": "CVE-1", "analysis": {"state": "resolved"}, "affects": [{"ref": "pkg:npm"}]},
         "vulnerabilities[0]: 'pkg:npm' is not a valid purl"),
    ],
)
def test_malformed_cyclonedx_vex_is_one_line_error(tmp_path: Path, vulnerability: dict[str, Any], message: str) -> None:
    path = write(tmp_path / "bad.cdx.json", cdx([vulnerability]))
    with pytest.raises(SuppressionError) as info:
        load_suppressions([path])
    assert str(info.value).startswith(f"{path}: {message}")


# ---------------------------------------------------------------------------------------------
# CycloneDX VEX written by cyclonedx-python-lib


def test_vex_document_written_by_cyclonedx_python_lib(tmp_path: Path) -> None:
    log4j_comp = Component(name="log4j-core", group="org.apache.logging.log4j", version="2.14.1",
                           type=ComponentType.LIBRARY, purl=PackageURL.from_string(LOG4J_PURL), bom_ref="log4j-core")
    openssl_comp = Component(name="openssl", version="3.0.15-1~deb12u1", type=ComponentType.LIBRARY,
                             purl=PackageURL.from_string(OPENSSL_PURL), bom_ref="deb-openssl")
    bom = Bom(components=[log4j_comp, openssl_comp])
    bom.vulnerabilities.add(Vulnerability(
        id="CVE-2021-44228",
        source=VulnerabilitySource(name="NVD"),
        references=[VulnerabilityReference(id="GHSA-jfh8-c2jp-5v3q", source=VulnerabilitySource(name="GitHub"))],
        analysis=VulnerabilityAnalysis(state=ImpactAnalysisState.NOT_AFFECTED,
                                       justification=ImpactAnalysisJustification.REQUIRES_CONFIGURATION,
                                       responses=[ImpactAnalysisResponse.WILL_NOT_FIX],
                                       detail="Message lookups are off",
                                       last_updated=datetime(2026, 2, 1, tzinfo=UTC)),
        affects=[BomTarget(ref="log4j-core")],
    ))
    bom.vulnerabilities.add(Vulnerability(
        id="CVE-2023-1234",
        analysis=VulnerabilityAnalysis(state=ImpactAnalysisState.IN_TRIAGE),
        affects=[BomTarget(ref=f"urn:cdx:{bom.serial_number}/{bom.version}#deb-openssl")],
    ))
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    path = write(tmp_path / "lib.cdx.json", text)
    assert json.loads(text)["bomFormat"] == "CycloneDX"

    log4shell = log4j()
    openssl = vuln()
    applied = load_suppressions([path]).apply([log4shell, openssl], today=TODAY)
    assert applied.suppressed == [log4shell]
    assert log4shell.suppressed == Suppression("cyclonedx-vex", str(path),
                                               "requires_configuration: Message lookups are off", "not_affected")
    assert applied.active == [openssl]
    [(_, triage)] = applied.vex_open
    assert triage.status == "in_triage"
    assert triage.products[0].text == OPENSSL_PURL
    assert applied.notices == []
