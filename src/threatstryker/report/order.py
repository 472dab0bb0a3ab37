"""The order every format lists findings in: most severe first; vulnerabilities then by KEV and EPSS, secrets by
confidence and place, malware by place and rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from threatstryker.model.finding import (
    Finding,
    MalwareFinding,
    MisconfigurationFinding,
    SecretFinding,
    VulnerabilityFinding,
)

_CONFIDENCE = {"high": 0, "medium": 1, "low": 2}


def finding_order(f: Finding) -> tuple[Any, ...]:
    """Sort key: severity (highest first), then for vulnerabilities KEV listing, EPSS probability (highest first),
    id, package, version; for secrets confidence (highest first), path, line, column, rule id; for malware path,
    rule, layer."""
    if isinstance(f, SecretFinding):
        return (-f.rank, 1, _CONFIDENCE.get(f.confidence, 3), f.path, f.line, f.column, f.id)
    if isinstance(f, MalwareFinding):
        return (-f.rank, 2, f.path, f.rule, not f.present, f.layer or "")
    if isinstance(f, MisconfigurationFinding):
        return (-f.rank, 3, f.benchmark, f.id)
    return (-f.rank, 0, 0 if f.kev else 1, -(f.epss.probability if f.epss else 0.0), f.id, f.package.name,
            f.package.version)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` in :func:`finding_order`."""
    return sorted(findings, key=finding_order)


def vulnerabilities(findings: Iterable[Finding]) -> list[VulnerabilityFinding]:
    """The vulnerability findings of ``findings``, in order."""
    return [f for f in sorted_findings(findings) if isinstance(f, VulnerabilityFinding)]


def secrets(findings: Iterable[Finding]) -> list[SecretFinding]:
    """The secret findings of ``findings``, in order."""
    return [f for f in sorted_findings(findings) if isinstance(f, SecretFinding)]


def malware(findings: Iterable[Finding]) -> list[MalwareFinding]:
    """The malware findings of ``findings``, in order."""
    return [f for f in sorted_findings(findings) if isinstance(f, MalwareFinding)]


def misconfigurations(findings: Iterable[Finding]) -> list[MisconfigurationFinding]:
    """The failed posture checks of ``findings``, in order."""
    return [f for f in sorted_findings(findings) if isinstance(f, MisconfigurationFinding)]
