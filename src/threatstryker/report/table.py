"""Human-readable output: a Rich table of findings (most severe first), a summary line, notices and warnings."""

from __future__ import annotations

import io
import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from threatstryker.model.finding import (
    SEVERITIES,
    MalwareFinding,
    MisconfigurationFinding,
    ScanReport,
    SecretFinding,
    VulnerabilityFinding,
)
from threatstryker.report.notes import note_lines
from threatstryker.report.order import malware, misconfigurations, secrets, vulnerabilities

SEVERITY_STYLES = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "green",
    "negligible": "dim",
    "unknown": "dim",
}
_WHOLE = ("Severity", "ID")
_FIX_WORDS = {"not_fixed": "not fixed", "wont_fix": "won't fix", "eol": "EOL", "unknown": ""}


def render_table(report: ScanReport, *, show_suppressed: bool = False, width: int | None = None,
                 color: bool = False) -> str:
    """The report as text: header, findings table, summary, notices and warnings, and with ``show_suppressed``
    a second table of the suppressed findings. ``color`` keeps ANSI styles (for a terminal)."""
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=color, no_color=not color, highlight=False,
                      color_system="standard" if color else None, emoji=False)
    console.print(_header(report), soft_wrap=True)
    if "vuln" in report.scanners or vulnerabilities(report.findings):
        if vulnerabilities(report.findings):
            console.print(_findings_table(report))
        else:
            console.print("No vulnerabilities found.")
    if "secret" in report.scanners or secrets(report.findings):
        if secrets(report.findings):
            console.print(_secrets_table(secrets(report.findings), "Secrets"))
        else:
            console.print("No secrets found.")
    if "malware" in report.scanners or malware(report.findings):
        if malware(report.findings):
            console.print(_malware_table(malware(report.findings), "Malware"))
        else:
            console.print("No malware found.")
    if "posture" in report.scanners or misconfigurations(report.findings):
        if misconfigurations(report.findings):
            console.print(_posture_table(misconfigurations(report.findings), "Failed checks"))
        posture = report.db.get("posture") or {}
        if posture:
            counts = ", ".join(f"{n} {s}" for s, n in posture.get("by_status", {}).items())
            scope = posture.get("scope") or ["*/*"]
            within = "" if scope == ["*/*"] else f" (only {', '.join(scope)} apply to this target)"
            console.print(f"Posture: {posture.get('checks', 0)} checks{within}: {counts}", soft_wrap=True)
            frameworks = posture.get("frameworks") or {}
            if frameworks:
                console.print(_compliance_table(frameworks))
            for fw in frameworks.values():
                if fw.get("requirements"):
                    console.print(_requirements_table(fw))
    console.print(_summary(report), soft_wrap=True)
    if show_suppressed and report.suppressed:
        for table in _suppressed_tables(report):
            console.print(table)
    for line in note_lines(report):
        console.print(escape(line), style="yellow" if "warning" in line.lower() or "PARTIAL" in line else None,
                      soft_wrap=True)
    return out.getvalue()


def _header(report: ScanReport) -> str:
    distro = report.distro
    distro_text = f"{distro.name or distro.id} ({distro.purl_distro})" if distro else "none detected"
    text = f"Target: {report.target.ref}   Distro: {distro_text}"
    if "vuln" in report.scanners:
        text += f"   Packages scanned: {report.packages}   DB built: {report.db.get('built_at') or 'unknown'}"
    return escape(text)


def _summary(report: ScanReport) -> str:
    counts = report.counts()
    parts = [f"{counts[word]} {word}" for word in reversed(SEVERITIES)]
    total = sum(counts.values())
    return f"Findings: {total} ({', '.join(parts)})   Suppressed: {len(report.suppressed)}"


def severity_text(word: str) -> Text:
    return Text(word, style=SEVERITY_STYLES.get(word, "dim"))


def id_text(f: VulnerabilityFinding) -> str:
    """The id, with the number of aliases it also goes by: ``CVE-2024-22195 (+1)``."""
    return f"{f.id} (+{len(f.aliases)})" if f.aliases else f.id


def fix_text(f: VulnerabilityFinding) -> str:
    if f.fix.state == "fixed":
        return ", ".join(f.fix.versions) or "fixed"
    return _FIX_WORDS.get(f.fix.state, f.fix.state)


def epss_text(f: VulnerabilityFinding) -> str:
    """Probability as a percentage and the percentile it ranks at: ``94.36% (p99)``."""
    if f.epss is None:
        return ""
    return f"{f.epss.probability:.2%} (p{math.floor(f.epss.percentile * 100)})"


def kev_text(f: VulnerabilityFinding) -> str:
    if f.kev is None:
        return ""
    return "yes, ransomware" if f.kev.known_ransomware else "yes"


def location_text(f: VulnerabilityFinding) -> str:
    """The first location, and below it the short id of the layer that brought it in."""
    if not f.package.locations:
        return ""
    loc = f.package.locations[0]
    text = loc.path
    if loc.layer:
        text += f"\nlayer {loc.layer.split(':', 1)[-1][:12]}"
    if len(f.package.locations) > 1:
        text += f"\n(+{len(f.package.locations) - 1} more)"
    return text


def _findings_table(report: ScanReport) -> Table:
    table = Table(title="Vulnerabilities", header_style="bold", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("Severity", "ID", "Package", "Installed", "Fixed in", "EPSS", "KEV", "Location"):
        # ids stay whole (they are searched for and copied); the rest folds on a narrow terminal
        table.add_column(col, overflow="fold", no_wrap=col in _WHOLE)
    for f in vulnerabilities(report.findings):
        table.add_row(severity_text(f.severity), escape(id_text(f)), escape(f.package.name),
                      escape(f.package.version), escape(fix_text(f)), epss_text(f),
                      Text(kev_text(f), style="bold red" if f.kev else ""), escape(location_text(f)))
    return table


def secret_location(f: SecretFinding) -> str:
    """``path:line:column``, then the layer's short id, ``deleted in a later layer`` and the commit when known."""
    text = f.path + (f":{f.line}:{f.column}" if f.line else "")
    if f.layer:
        text += f"\nlayer {f.layer.split(':', 1)[-1][:12]}"
    if not f.present:
        text += "\n(deleted in a later layer)"
    if f.commit:
        text += f"\ncommit {f.commit[:12]}"
    return text


def _secrets_table(findings: list[SecretFinding], title: str) -> Table:
    table = Table(title=title, header_style="bold", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("Severity", "Confidence", "Rule", "Location", "Preview", "Suppressed by"):
        table.add_column(col, overflow="fold", no_wrap=col in ("Severity", "Rule"))
    for f in findings:
        s = f.suppressed
        by = f"{s.source}: {s.reason}" if s else ""
        table.add_row(severity_text(f.severity), f.confidence, escape(f.id), escape(secret_location(f)),
                      escape(f.revealed if f.revealed is not None else f.preview), escape(by))
    return table


def malware_location(f: MalwareFinding) -> str:
    """The path, the file's short SHA-256, the layer's short id and ``deleted in a later layer`` when so."""
    text = f.path
    if f.file_sha256:
        text += f"\nsha256 {f.file_sha256[:16]}"
    if f.layer:
        text += f"\nlayer {f.layer.split(':', 1)[-1][:12]}"
    if not f.present:
        text += "\n(deleted in a later layer)"
    return text


def malware_evidence(f: MalwareFinding) -> str:
    """The matched strings (identifier@offset, the first few) and the rule's author, which some rule
    licenses require to be shown with every match."""
    shown = ", ".join(f"{m.identifier}@{m.offset}" for m in f.matches[:4])
    if f.string_count > 4:
        shown += f" (+{f.string_count - 4})"
    if f.author:
        shown += f"\nauthor: {f.author}"
    if f.escalated:
        shown += f"\nescalated: {f.escalated}"
    return shown


def _malware_table(findings: list[MalwareFinding], title: str) -> Table:
    table = Table(title=title, header_style="bold", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("Severity", "Rule", "Location", "Matched", "Suppressed by"):
        table.add_column(col, overflow="fold", no_wrap=col == "Severity")
    for f in findings:
        s = f.suppressed
        by = f"{s.source}: {s.reason}" if s else ""
        table.add_row(severity_text(f.severity), escape(f.rule + (f"\n{f.description}" if f.description else "")),
                      escape(malware_location(f)), escape(malware_evidence(f)), escape(by))
    return table


def _posture_table(findings: list[MisconfigurationFinding], title: str) -> Table:
    table = Table(title=title, header_style="bold", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("Severity", "Check", "CIS", "Found", "Remediation"):
        table.add_column(col, overflow="fold", no_wrap=col == "Severity")
    for f in findings:
        found = f.reason
        if f.path:
            found += f"\n{f.path}"
        table.add_row(severity_text(f.severity), escape(f"{f.id}\n{f.title}"), escape(f.cis), escape(found),
                      escape(f.remediation))
    return table


_STATUS_STYLES = {"PASS": "green", "FAIL": "red", "ERROR": "magenta", "MANUAL": "yellow", "NOT_APPLICABLE": "dim"}


def _compliance_table(frameworks: dict[str, dict[str, object]]) -> Table:
    table = Table(title="Compliance (score: passed / (passed + failed + error) of the automated checks mapped)",
                  header_style="bold", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("Framework", "Score", "Requirements: pass / fail / error / manual / n.a.", "Checks mapped"):
        table.add_column(col, overflow="fold")
    for fw in frameworks.values():
        reqs: dict[str, int] = fw["requirements_by_status"]  # type: ignore[assignment]
        checks: dict[str, int] = fw["checks"]  # type: ignore[assignment]
        score = fw["score"]
        table.add_row(escape(f"{fw['name']} {fw['version']} ({fw['id']})"),
                      "n/a" if score is None else f"{score:.1f}%",
                      " / ".join(str(reqs.get(s, 0)) for s in ("PASS", "FAIL", "ERROR", "MANUAL", "NOT_APPLICABLE")),
                      str(sum(checks.values())))
    return table


def _requirements_table(fw: dict[str, object]) -> Table:
    table = Table(title=f"{fw['name']} {fw['version']}: requirements", header_style="bold", title_justify="left",
                  show_edge=False, pad_edge=False)
    for col in ("Requirement", "Status", "Checks (pass/fail/error)", "Failed or not checked"):
        table.add_column(col, overflow="fold", no_wrap=col == "Status")
    for req in fw["requirements"]:  # type: ignore[attr-defined]
        counts = req["checks"]
        bad = [*req["failed"], *(f"{e} (error)" for e in req["errors"])]
        shown = ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
        table.add_row(escape(f"{req['id']} {req['title']}"),
                      Text(req["status"], style=_STATUS_STYLES.get(req["status"], "")),
                      f"{counts['PASS']}/{counts['FAIL']}/{counts['ERROR']}", escape(shown))
    return table


def _suppressed_tables(report: ScanReport) -> list[Table]:
    out = []
    if vulnerabilities(report.suppressed):
        out.append(_suppressed_table(report))
    if secrets(report.suppressed):
        out.append(_secrets_table(secrets(report.suppressed), "Suppressed secrets"))
    if malware(report.suppressed):
        out.append(_malware_table(malware(report.suppressed), "Suppressed malware"))
    return out


def _suppressed_table(report: ScanReport) -> Table:
    table = Table(title="Suppressed", header_style="bold", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("Severity", "ID", "Package", "Installed", "Suppressed by", "Reason"):
        table.add_column(col, overflow="fold", no_wrap=col in _WHOLE)
    for f in vulnerabilities(report.suppressed):
        s = f.suppressed
        by = f"{s.source}: {s.file}" if s and s.file else (s.source if s else "")
        reason = ""
        if s is not None:
            reason = ", ".join(x for x in (s.status or "", s.reason) if x)
            if s.expires:
                reason += f" (until {s.expires})"
        table.add_row(severity_text(f.severity), escape(id_text(f)), escape(f.package.name),
                      escape(f.package.version), escape(by), escape(reason))
    return table
