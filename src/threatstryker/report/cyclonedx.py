"""CycloneDX 1.6 JSON with a ``vulnerabilities`` section: the SBOM writer's components plus one vulnerability
per finding, its ``affects`` pointing at the affected package's component.

Components come from ``report.sbom`` through the SBOM writer; a finding's package the SBOM lacks (or every
package, when the report has no SBOM) is added the same way, so each ``affects`` ref resolves. Suppressed
findings, when shown, carry an ``analysis``: the suppression's status as a CycloneDX impact-analysis state
(an ignore-file entry, which has no status, is ``not_affected``), its reason as the detail.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from cyclonedx.exception.model import InvalidUriException
from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisAffectedStatus,
    ImpactAnalysisJustification,
    ImpactAnalysisState,
)
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityAdvisory,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)

from threatstryker.model.finding import Cvss, PackageRef, ScanReport, Suppression, VulnerabilityFinding
from threatstryker.model.package import Package, Sbom
from threatstryker.report.order import vulnerabilities
from threatstryker.sbom.formats.cyclonedx import PROP, bom_to_json, build_bom, package_component

_METHODS = {
    "2.0": VulnerabilityScoreSource.CVSS_V2,
    "3.0": VulnerabilityScoreSource.CVSS_V3,
    "3.1": VulnerabilityScoreSource.CVSS_V3_1,
    "4.0": VulnerabilityScoreSource.CVSS_V4,
}
_SEVERITIES = {
    "critical": VulnerabilitySeverity.CRITICAL,
    "high": VulnerabilitySeverity.HIGH,
    "medium": VulnerabilitySeverity.MEDIUM,
    "low": VulnerabilitySeverity.LOW,
    "negligible": VulnerabilitySeverity.INFO,
    "unknown": VulnerabilitySeverity.UNKNOWN,
}
#: Suppression statuses (OpenVEX and CycloneDX VEX words) as CycloneDX impact-analysis states.
_STATES = {
    "not_affected": ImpactAnalysisState.NOT_AFFECTED,
    "fixed": ImpactAnalysisState.RESOLVED,
    "resolved": ImpactAnalysisState.RESOLVED,
    "resolved_with_pedigree": ImpactAnalysisState.RESOLVED_WITH_PEDIGREE,
    "false_positive": ImpactAnalysisState.FALSE_POSITIVE,
    "affected": ImpactAnalysisState.EXPLOITABLE,
    "exploitable": ImpactAnalysisState.EXPLOITABLE,
    "under_investigation": ImpactAnalysisState.IN_TRIAGE,
    "in_triage": ImpactAnalysisState.IN_TRIAGE,
}
#: OpenVEX justifications as CycloneDX ones; CycloneDX's own words are taken as they are.
_JUSTIFICATIONS = {
    "component_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_in_execute_path": ImpactAnalysisJustification.CODE_NOT_REACHABLE,
    "vulnerable_code_cannot_be_controlled_by_adversary": ImpactAnalysisJustification.REQUIRES_ENVIRONMENT,
    "inline_mitigations_already_exist": ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL,
    **{j.value: j for j in ImpactAnalysisJustification},
}
_CWE = re.compile(r"^CWE-(\d+)$", re.IGNORECASE)


def id_source(vid: str) -> VulnerabilitySource:
    """Who publishes an id: NVD for CVEs, GitHub for GHSAs, OSV (which carries every other kind) otherwise."""
    if vid.upper().startswith("CVE-"):
        return VulnerabilitySource(name="NVD", url=XsUri(f"https://nvd.nist.gov/vuln/detail/{vid}"))
    if vid.upper().startswith("GHSA-"):
        return VulnerabilitySource(name="GitHub", url=XsUri(f"https://github.com/advisories/{vid}"))
    return VulnerabilitySource(name="OSV", url=XsUri(f"https://osv.dev/vulnerability/{vid}"))


def as_package(ref: PackageRef) -> Package:
    """The SBOM package a finding's PackageRef stands for (same purl and locations, so the same bom-ref)."""
    return Package(ecosystem=ref.ecosystem, name=ref.name, version=ref.version, purl=ref.purl,
                   found_by=ref.found_by, locations=list(ref.locations))


def _rating(c: Cvss) -> VulnerabilityRating:
    method = _METHODS.get(c.version) or VulnerabilityScoreSource.get_from_vector(c.vector)
    severity = VulnerabilitySeverity.NONE if c.base_score == 0 else _SEVERITIES.get(c.severity)
    return VulnerabilityRating(source=VulnerabilitySource(name=c.source) if c.source else None,
                               score=Decimal(str(c.base_score)), severity=severity, method=method,
                               vector=c.vector or None)


def _ratings(f: VulnerabilityFinding) -> list[VulnerabilityRating]:
    """Every CVSS assessment, and the finding's own severity when it came from elsewhere (a vendor)."""
    ratings = [_rating(c) for c in f.cvss]
    if f.severity_source and f.severity_source != "cvss":
        ratings.append(VulnerabilityRating(source=VulnerabilitySource(name=f.severity_source),
                                           severity=_SEVERITIES.get(f.severity, VulnerabilitySeverity.UNKNOWN),
                                           method=VulnerabilityScoreSource.OTHER))
    return ratings


def _advisories(urls: tuple[str, ...]) -> list[VulnerabilityAdvisory]:
    out = []
    for url in urls:
        try:
            out.append(VulnerabilityAdvisory(url=XsUri(url)))
        except InvalidUriException:
            continue
    return out


def _published(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _properties(f: VulnerabilityFinding) -> list[Property]:
    props = {
        "fingerprint": f.fingerprint,
        "severity": f.severity,
        "fix:state": f.fix.state,
        "fix:versions": ", ".join(f.fix.versions) or None,
    }
    if f.epss:
        props |= {"epss:probability": str(f.epss.probability), "epss:percentile": str(f.epss.percentile),
                  "epss:date": f.epss.date}
    if f.kev:
        props |= {"kev:date_added": f.kev.date_added, "kev:due_date": f.kev.due_date,
                  "kev:known_ransomware": "true" if f.kev.known_ransomware else "false"}
    out = [Property(name=f"{PROP}:{k}", value=v) for k, v in props.items() if v is not None]
    out += [Property(name=f"{PROP}:matched_by", value=f"{m.feed}:{m.record} {m.method} {m.range}".strip())
            for m in f.matched_by]
    return out


def _analysis(s: Suppression) -> VulnerabilityAnalysis:
    state = _STATES.get((s.status or "").lower(), ImpactAnalysisState.NOT_AFFECTED)
    # a VEX reason starts with the justification word, free text may follow
    first = s.reason.split(maxsplit=1)[0] if s.reason.strip() else ""
    justification = _JUSTIFICATIONS.get(first) if state is ImpactAnalysisState.NOT_AFFECTED else None
    detail = f"{s.reason} ({s.source}: {s.file})" if s.reason else f"suppressed by {s.source}: {s.file}"
    return VulnerabilityAnalysis(state=state, justification=justification, detail=detail)


def _recommendation(f: VulnerabilityFinding) -> str | None:
    if f.fix.state == "fixed" and f.fix.versions:
        return f"Upgrade {f.package.name} to a fixed version: {', '.join(f.fix.versions)}"
    return None


def vulnerability(f: VulnerabilityFinding, component_ref: str) -> Vulnerability:
    """The CycloneDX vulnerability of one finding, affecting the component with bom-ref ``component_ref``."""
    return Vulnerability(
        bom_ref=f"{f.id}:{f.fingerprint[:16]}",
        id=f.id,
        source=id_source(f.id),
        references=[VulnerabilityReference(id=a, source=id_source(a)) for a in f.aliases],
        ratings=_ratings(f),
        cwes=[int(m.group(1)) for c in f.cwes if (m := _CWE.match(c.strip()))],
        description=f.summary or None,
        recommendation=_recommendation(f),
        advisories=_advisories(f.urls),
        published=_published(f.published),
        affects=[BomTarget(ref=component_ref, versions=[
            BomTargetVersionRange(version=f.package.version or "unknown", status=ImpactAnalysisAffectedStatus.AFFECTED)
        ])],
        properties=_properties(f),
        analysis=_analysis(f.suppressed) if f.suppressed is not None else None,
    )


def build_report_bom(report: ScanReport, *, show_suppressed: bool = False) -> Bom:
    """The SBOM writer's Bom of the report's SBOM (or of the findings' packages), with the vulnerability findings
    added. CycloneDX has no place for secrets or malware: those findings are left out of this format."""
    findings = vulnerabilities(report.findings)
    if show_suppressed:
        findings += vulnerabilities(report.suppressed)
    sbom = report.sbom if isinstance(report.sbom, Sbom) else Sbom(target=report.target, distro=report.distro)
    bom = build_bom(sbom)
    refs = {c.bom_ref.value for c in bom.components}
    for f in findings:
        pkg = as_package(f.package)
        if pkg.id not in refs:
            bom.components.add(package_component(pkg))
            refs.add(pkg.id)
        bom.vulnerabilities.add(vulnerability(f, pkg.id))
    return bom


def render_cyclonedx(report: ScanReport, *, show_suppressed: bool = False, validate: bool = False) -> str:
    """CycloneDX 1.6 JSON text; with ``validate``, raises CycloneDXError when the schema rejects it."""
    return bom_to_json(build_report_bom(report, show_suppressed=show_suppressed), validate=validate)
