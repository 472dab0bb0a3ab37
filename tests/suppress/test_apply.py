"""Loading several files by content, precedence between ignore entries and VEX, findings of other kinds,
and moving findings within a ScanReport."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import ClassVar

import pytest

from threatstryker.model import Location, TargetInfo
from threatstryker.model.finding import PackageRef, ScanReport, Suppression
from threatstryker.suppress import Suppressible, SuppressionError, apply_to_report, load_suppressions

from .builders import LOG4J_PURL, log4j, vuln, write

TODAY = date(2026, 6, 1)


def openvex_log4j(status: str, timestamp: str) -> dict[str, object]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://openvex.dev/docs/example/vex-apply-test",
        "author": "Security Team",
        "timestamp": timestamp,
        "version": 1,
        "statements": [{"vulnerability": {"name": "CVE-2021-44228"}, "products": [{"@id": LOG4J_PURL}],
                        "status": status, "justification": "vulnerable_code_not_present"}],
    }


def cdx_log4j(state: str, last_updated: str) -> dict[str, object]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "vulnerabilities": [{"id": "CVE-2021-44228", "affects": [{"ref": LOG4J_PURL}],
                             "analysis": {"state": state, "lastUpdated": last_updated}}],
    }


@dataclass
class SecretFinding:
    """A finding of another kind, shaped as the secrets scanner's will be: id, fingerprint, locations."""

    kind: ClassVar[str] = "secret"

    id: str
    locations: tuple[Location, ...]
    suppressed: Suppression | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id,)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.kind}\x00{self.id}\x00{self.locations[0].path}".encode()).hexdigest()


@dataclass
class MalwareFinding:
    """A finding of another kind about a package (a known-malicious npm package)."""

    kind: ClassVar[str] = "malware"

    id: str
    package: PackageRef
    suppressed: Suppression | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id,)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.kind}\x00{self.id}\x00{self.package.purl}".encode()).hexdigest()


def test_files_are_recognised_by_content_whatever_their_names(tmp_path: Path) -> None:
    ignore = write(tmp_path / "a.json", '{"ignore": [\n  {"id": "CVE-2023-1234",\n   "reason": "json ignore file"}]}\n')
    vex = write(tmp_path / "b.yaml", openvex_log4j("not_affected", "2026-01-10T00:00:00Z"))
    cdx = write(tmp_path / "c.txt", cdx_log4j("in_triage", "2026-01-01T00:00:00Z"))
    suppressions = load_suppressions([ignore, vex, cdx])
    assert suppressions.files == [str(ignore), str(vex), str(cdx)]
    assert [(e.id, e.line) for e in suppressions.entries] == [("CVE-2023-1234", 2)]
    assert [(s.source, s.status) for s in suppressions.statements] == [("openvex", "not_affected"),
                                                                       ("cyclonedx-vex", "in_triage")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"statements": []}', "JSON that is neither OpenVEX"),
        ("[1, 2]", "JSON that is neither OpenVEX"),
        ('<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>', "XML is not read"),
        ('{"@context": "https://openvex.dev/ns/v0.2.0"}', "OpenVEX document has no 'statements' list"),
    ],
)
def test_unrecognised_documents_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path / "doc", content)
    with pytest.raises(SuppressionError, match=re.escape(f"{path}: {message}")):
        load_suppressions([path])


def test_latest_vex_statement_wins_across_documents(tmp_path: Path) -> None:
    older_not_affected = write(tmp_path / "old.openvex.json", openvex_log4j("not_affected", "2026-01-10T00:00:00Z"))
    newer_exploitable = write(tmp_path / "new.cdx.json", cdx_log4j("exploitable", "2026-02-01T00:00:00Z"))
    finding = log4j()
    applied = load_suppressions([newer_exploitable, older_not_affected]).apply([finding], today=TODAY)
    assert applied.active == [finding]
    assert [(s.source, s.status) for _, s in applied.vex_open] == [("cyclonedx-vex", "exploitable")]

    newer_resolved = write(tmp_path / "resolved.cdx.json", cdx_log4j("resolved", "2026-03-01T00:00:00Z"))
    applied = load_suppressions([newer_exploitable, newer_resolved]).apply([finding], today=TODAY)
    assert applied.suppressed == [finding]
    assert finding.suppressed == Suppression("cyclonedx-vex", str(newer_resolved), "resolved", "resolved")


def test_live_ignore_entry_takes_precedence_over_vex(tmp_path: Path) -> None:
    ignore = write(tmp_path / ".threatstryker-ignore.yaml",
                   "ignore:\n  - id: CVE-2021-44228\n    reason: app retired next month\n    expires: 2026-07-01\n")
    affected = write(tmp_path / "vex.json", openvex_log4j("affected", "2026-01-10T00:00:00Z"))
    finding = log4j()
    applied = load_suppressions([affected, ignore]).apply([finding], today=TODAY)
    assert applied.suppressed == [finding]
    assert finding.suppressed == Suppression("ignore", str(ignore), "app retired next month", None, "2026-07-01")
    assert [s.status for _, s in applied.vex_open] == ["affected"]  # still handed back

    # Once the entry has expired, the VEX statement is what decides again.
    applied = load_suppressions([affected, ignore]).apply([finding], today=date(2026, 7, 1))
    assert applied.active == [finding] and finding.suppressed is None
    assert applied.notices == [f"{ignore}:2: ignore entry (id CVE-2021-44228) expired on 2026-07-01 and no longer "
                               "suppresses the 1 finding(s) it matches"]


def test_findings_of_other_kinds_match_ignore_entries_but_not_vex(tmp_path: Path) -> None:
    ignore = write(tmp_path / ".threatstryker-ignore.yaml",
                   "ignore:\n  - path: tests/fixtures/**\n    reason: test keys, never deployed\n")
    statement = {"vulnerability": {"name": "MAL-2025-1"}, "products": [{"@id": "pkg:npm/evil-pkg"}],
                 "status": "not_affected", "justification": "component_not_present"}
    vex = write(tmp_path / "vex.json", {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "x", "author": "a",
                                        "timestamp": "2026-01-01T00:00:00Z", "version": 1, "statements": [statement]})
    fixture_key = SecretFinding("aws-access-key", (Location("/src/tests/fixtures/creds.env"),))
    real_key = SecretFinding("aws-access-key", (Location("/src/app/settings.py"),))
    malware = MalwareFinding("MAL-2025-1", PackageRef("npm", "evil-pkg", "1.0.1", "pkg:npm/evil-pkg@1.0.1",
                                                      (Location("/srv/app/node_modules/evil-pkg/package.json"),)))
    same_as_vulnerability = vuln("MAL-2025-1", ecosystem="npm", name="evil-pkg", version="1.0.1",
                                 purl="pkg:npm/evil-pkg@1.0.1")
    findings: list[Suppressible] = [fixture_key, real_key, malware, same_as_vulnerability]
    applied = load_suppressions([ignore, vex]).apply(findings, today=TODAY)
    assert applied.suppressed == [fixture_key, same_as_vulnerability]  # VEX speaks about vulnerabilities only
    assert fixture_key.suppressed == Suppression("ignore", str(ignore), "test keys, never deployed")
    assert applied.active == [real_key, malware]
    assert real_key.suppressed is None and malware.suppressed is None

    by_fingerprint = write(tmp_path / "fp.yaml", f"ignore:\n  - id: {real_key.fingerprint}\n    reason: rotated\n")
    secrets = load_suppressions([by_fingerprint]).apply([fixture_key, real_key], today=TODAY)
    assert secrets.suppressed == [real_key]


def test_apply_to_report_moves_findings_both_ways_and_keeps_severity_order(tmp_path: Path) -> None:
    ignore = write(tmp_path / ".threatstryker-ignore.yaml",
                   "ignore:\n"
                   "  - package: pkg:deb/debian/openssl\n    reason: rebuilt without the module\n"
                   "  - id: CVE-2019-0001\n    reason: old\n    expires: 2026-01-01\n")
    critical = log4j()
    high = vuln("CVE-2023-1234", severity="high")
    medium = vuln("CVE-2023-5678", name="curl", purl="pkg:deb/debian/curl@7.88.1-10?arch=amd64", severity="medium")
    previously_suppressed = vuln("CVE-2022-0001", name="zlib1g", purl="pkg:deb/debian/zlib1g@1.2.13?arch=amd64",
                                 severity="low")
    previously_suppressed.suppressed = Suppression("ignore", "old-ignore.yaml", "a rule since removed")
    report = ScanReport(target=TargetInfo("dir", str(tmp_path)), scanners=("vulnerability",),
                        findings=[critical, high, medium], suppressed=[previously_suppressed],
                        notices=["vulnerability database is 3 days old"])

    suppressions = load_suppressions([ignore])
    applied = apply_to_report(report, suppressions, today=TODAY)
    assert report.findings == [critical, medium, previously_suppressed]
    assert previously_suppressed.suppressed is None
    assert report.suppressed == [high]
    expired = f"{ignore}:4: ignore entry (id CVE-2019-0001) expired on 2026-01-01 and matches no finding; remove it"
    assert applied.notices == [expired]
    assert report.notices == ["vulnerability database is 3 days old", expired]

    apply_to_report(report, suppressions, today=TODAY)  # applying again changes nothing, adds no duplicate
    assert report.findings == [critical, medium, previously_suppressed] and report.suppressed == [high]
    assert report.notices == ["vulnerability database is 3 days old", expired]

    doc = report.to_dict(show_suppressed=True)
    assert doc["summary"]["suppressed"] == 1
    assert doc["suppressed"][0]["suppressed"] == {"source": "ignore", "file": str(ignore),
                                                  "reason": "rebuilt without the module"}
    assert "suppressed" not in report.to_dict()
