"""SARIF 2.1.0 output: one rule per vulnerability id or secret rule, one result per finding, warnings as tool
notifications.

Locations are package paths made relative to the target root (a file inside an archive points at the
archive, the full virtual path is the location's message). Rules carry ``security-severity`` (the
highest CVSS base score, omitted when there is none), the property GitHub code scanning ranks by.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from threatstryker import __version__
from threatstryker.model.finding import (
    Finding,
    MalwareFinding,
    MisconfigurationFinding,
    ScanReport,
    SecretFinding,
    Suppression,
    VulnerabilityFinding,
    severity_rank,
)
from threatstryker.model.package import Location
from threatstryker.report.order import sorted_findings

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
#: The partialFingerprints key; bump the version if the fingerprint's recipe ever changes.
FINGERPRINT_KEY = "threatstryker/v1"
_MAX_DESCRIPTION = 1000  # GitHub code scanning cuts rule descriptions at 1024 characters

_LEVELS = {"critical": "error", "high": "error", "medium": "warning"}
_FIX_SENTENCES = {
    "not_fixed": "No fix is available yet.",
    "wont_fix": "The distribution will not fix it in this release.",
    "eol": "The distribution release is past its end of life: no fix will come.",
    "unknown": "Whether a fix exists is not known.",
}


def level(severity: str) -> str:
    """SARIF level of a severity word: critical/high → error, medium → warning, anything lower → note."""
    return _LEVELS.get(severity.lower(), "note")


def artifact_uri(path: str) -> str:
    """A location path as a URI reference relative to the target root: no leading slash, percent-encoded,
    and for a file inside an archive (``/app/a.war:WEB-INF/lib/b.jar``) the archive itself."""
    outer = path.split(":", 1)[0].lstrip("/")
    return quote(outer or ".", safe="/")


def fix_sentence(f: VulnerabilityFinding) -> str:
    if f.fix.state == "fixed":
        return f"Fixed in {', '.join(f.fix.versions)}." if f.fix.versions else "A fix exists."
    return _FIX_SENTENCES.get(f.fix.state, _FIX_SENTENCES["unknown"])


def _short(text: str) -> str:
    return text if len(text) <= _MAX_DESCRIPTION else text[: _MAX_DESCRIPTION - 1] + "…"


def _web_urls(f: VulnerabilityFinding) -> list[str]:
    return [u for u in f.urls if u.startswith(("https://", "http://"))]


def _rule(vid: str, group: list[VulnerabilityFinding]) -> dict[str, Any]:
    severity = max((f.severity for f in group), key=severity_rank)
    summary = next((f.summary for f in group if f.summary), "") or vid
    urls = next((u for f in group if (u := _web_urls(f))), [])
    aliases = sorted({a for f in group for a in f.aliases})
    scores = [c.base_score for f in group for c in f.cvss]
    help_lines = [f"{vid}: {summary}", f"Severity: {severity}"]
    if aliases:
        help_lines.append(f"Also known as: {', '.join(aliases)}")
    help_lines += urls
    rule: dict[str, Any] = {
        "id": vid,
        "shortDescription": {"text": _short(summary)},
        "fullDescription": {"text": _short(summary)},
        "help": {"text": "\n".join(help_lines)},
        "defaultConfiguration": {"level": level(severity)},
        "properties": {"tags": ["security", "vulnerability", severity]},
    }
    if urls:
        rule["helpUri"] = urls[0]
    if scores:
        rule["properties"]["security-severity"] = f"{max(scores):.1f}"
    if aliases:
        rule["properties"]["aliases"] = aliases
    return rule


def _secret_rule(rid: str, group: list[SecretFinding]) -> dict[str, Any]:
    severity = max((f.severity for f in group), key=severity_rank)
    text = next((f.description for f in group if f.description), "") or rid
    return {
        "id": rid,
        "shortDescription": {"text": _short(text)},
        "fullDescription": {"text": _short(text)},
        "help": {"text": f"{rid}: {text}. Revoke and rotate the credential, then remove it from the file and history."},
        "defaultConfiguration": {"level": level(severity)},
        "properties": {"tags": ["security", "secret", severity, group[0].family]},
    }


def _secret_result(f: SecretFinding, rule_index: int) -> dict[str, Any]:
    region: dict[str, Any] = {}
    if f.line:
        region = {"startLine": f.line, "startColumn": max(f.column, 1)}
    physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(f.path)}}
    if region:
        physical["region"] = region
    location: dict[str, Any] = {"physicalLocation": physical}
    if ":" in f.path:
        location["message"] = {"text": f.path}
    props: dict[str, Any] = {"confidence": f.confidence, "preview": f.preview, "secret_sha256": f.secret_sha256,
                             "present": f.present}
    if f.layer:
        props["layer"] = f.layer
    if f.commit:
        props["commit"] = f.commit
    where = " (deleted in a later layer)" if not f.present else ""
    result: dict[str, Any] = {
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": f"{f.description or f.id}: {f.preview}{where}"},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": props,
    }
    if f.suppressed is not None:
        result["suppressions"] = _suppressions(f.suppressed)
    return result


def _malware_rule(rid: str, group: list[MalwareFinding]) -> dict[str, Any]:
    first = group[0]
    severity = max((f.severity for f in group), key=severity_rank)
    text = next((f.description for f in group if f.description), "") or f"YARA rule {first.rule}"
    meta = first.rule_metadata
    props: dict[str, Any] = {"tags": ["security", "malware", severity, *first.tags], "namespace": first.namespace}
    for key in ("author", "reference", "license"):
        if meta.get(key):
            props[key] = str(meta[key])
    rule: dict[str, Any] = {
        "id": rid,
        "shortDescription": {"text": _short(text)},
        "fullDescription": {"text": _short(text)},
        "help": {"text": f"{first.rule}: {text}. Isolate the host or image, confirm the match, remove the file and "
                         "find how it got there." + (f" Rule by {meta['author']}." if meta.get("author") else "")},
        "defaultConfiguration": {"level": level(severity)},
        "properties": props,
    }
    reference = str(meta.get("reference", ""))
    if reference.startswith(("http://", "https://")):
        rule["helpUri"] = reference
    return rule


def _malware_result(f: MalwareFinding, rule_index: int) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(f.path)}}}
    if ":" in f.path:
        location["message"] = {"text": f.path}
    props: dict[str, Any] = {"namespace": f.namespace, "file_sha256": f.file_sha256, "present": f.present,
                             "matches": [m.to_dict() for m in f.matches], "string_count": f.string_count,
                             "rule_metadata": f.rule_metadata}
    if f.layer:
        props["layer"] = f.layer
    if f.escalated:
        props["escalated"] = f.escalated
    where = " (deleted in a later layer)" if not f.present else ""
    author = f" (rule by {f.author})" if f.author else ""
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": f"{f.rule} matched {f.path}{where}{author}"},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": props,
    }
    if f.suppressed is not None:
        result["suppressions"] = _suppressions(f.suppressed)
    return result


def _posture_rule(rid: str, f: MisconfigurationFinding) -> dict[str, Any]:
    return {
        "id": rid,
        "shortDescription": {"text": _short(f.title)},
        "fullDescription": {"text": _short(f.title)},
        "help": {"text": f"{f.title}. Remediation: {f.remediation}"},
        "defaultConfiguration": {"level": level(f.severity)},
        "properties": {"tags": ["security", "misconfiguration", f.severity, f.benchmark], "cis": f.cis,
                       "level": f.level, "frameworks": {k: list(v) for k, v in f.frameworks.items()}},
    }


def _posture_result(f: MisconfigurationFinding, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": f"{f.title}: FAIL ({f.reason})" if f.reason else f"{f.title}: FAIL"},
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": {"status": f.status, "evidence": f.evidence, "remediation": f.remediation},
    }
    if f.path:
        result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(f.path)}}}]
    if f.suppressed is not None:
        result["suppressions"] = _suppressions(f.suppressed)
    return result


def _suppressions(s: Suppression) -> list[dict[str, Any]]:
    """SARIF's record of an accepted suppression (an ignore file, a VEX statement, a baseline)."""
    return [{"kind": "external", "status": "accepted", "justification": s.reason or s.status or s.source,
             "properties": s.to_dict()}]


def _location(loc: Location) -> dict[str, Any]:
    out: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(loc.path)}}}
    if ":" in loc.path:
        out["message"] = {"text": loc.path}
    if loc.layer:
        out["properties"] = {"layer": loc.layer}
    return out


def _result(f: VulnerabilityFinding, rule_index: int) -> dict[str, Any]:
    p = f.package
    props: dict[str, Any] = {"purl": p.purl, "ecosystem": p.ecosystem, "severity": f.severity,
                             "fix": f.fix.to_dict()}
    if f.epss:
        props["epss"] = f.epss.to_dict()
    if f.kev:
        props["kev"] = f.kev.to_dict()
    result: dict[str, Any] = {
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": f"{p.name} {p.version} is affected by {f.id} ({f.severity}). {fix_sentence(f)}"},
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": props,
    }
    if p.locations:
        result["locations"] = [_location(loc) for loc in p.locations]
    if f.suppressed is not None:
        result["suppressions"] = _suppressions(f.suppressed)
    return result


def _any_rule(rid: str, group: list[Finding]) -> dict[str, Any]:
    secrets = [f for f in group if isinstance(f, SecretFinding)]
    if secrets:
        return _secret_rule(rid, secrets)
    found = [f for f in group if isinstance(f, MalwareFinding)]
    if found:
        return _malware_rule(rid, found)
    failed = [f for f in group if isinstance(f, MisconfigurationFinding)]
    if failed:
        return _posture_rule(rid, failed[0])
    return _rule(rid, [f for f in group if isinstance(f, VulnerabilityFinding)])


def _rule_id(f: Finding) -> str:
    return f.rule if isinstance(f, MalwareFinding) else f.id


def _any_result(f: Finding, rule_index: int) -> dict[str, Any]:
    if isinstance(f, SecretFinding):
        return _secret_result(f, rule_index)
    if isinstance(f, MalwareFinding):
        return _malware_result(f, rule_index)
    if isinstance(f, MisconfigurationFinding):
        return _posture_result(f, rule_index)
    return _result(f, rule_index)


def _notification(text: str, lvl: str, path: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"level": lvl, "message": {"text": text}}
    if path:
        out["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(path)}}}]
    return out


def sarif_log(report: ScanReport, *, show_suppressed: bool = False) -> dict[str, Any]:
    """The SARIF log as a dict: one run, its rules, results, and notices/warnings as notifications."""
    findings = sorted_findings(report.findings)
    if show_suppressed:
        findings += sorted_findings(report.suppressed)
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.kind, _rule_id(f)), []).append(f)
    index = {key: i for i, key in enumerate(groups)}
    notifications = [_notification(n, "note") for n in report.notices]
    notifications += [_notification(str(w), "warning", w.path) for w in report.warnings]
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "threatstryker",
            "version": report.tool_version or __version__,
            "rules": [_any_rule(key[1], group) for key, group in groups.items()],
        }},
        "invocations": [{
            "executionSuccessful": True,
            "toolExecutionNotifications": notifications,
            "properties": {"partial": report.partial},
        }],
        "results": [_any_result(f, index[(f.kind, _rule_id(f))]) for f in findings],
        "properties": {
            "target": report.target.to_dict(),
            "distro": report.distro.to_dict() if report.distro else None,
            "packages": report.packages,
            "db": report.db,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report: ScanReport, *, show_suppressed: bool = False) -> str:
    """SARIF 2.1.0 JSON text, indent 2."""
    return json.dumps(sarif_log(report, show_suppressed=show_suppressed), indent=2, ensure_ascii=False,
                      default=str) + "\n"
