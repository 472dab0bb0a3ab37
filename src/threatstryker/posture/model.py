"""What a posture check is and what evaluating it gives: statuses, probe results with evidence, checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, MANUAL, NOT_APPLICABLE, ERROR = "PASS", "FAIL", "MANUAL", "NOT_APPLICABLE", "ERROR"
STATUSES: tuple[str, ...] = (PASS, FAIL, MANUAL, NOT_APPLICABLE, ERROR)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a probe looked at: the file (or source such as ``/proc/sys``), the value found and the value
    expected, as text."""

    source: str = ""
    found: str | None = None
    expected: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "found": self.found, "expected": self.expected}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """A probe's verdict: a status from :data:`STATUSES`, a one-line reason, and the evidence."""

    status: str
    reason: str = ""
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    """One check as written in a check file (see ``posture/checks/README.md``)."""

    id: str
    title: str
    benchmark: str
    area: str
    description: str
    rationale: str
    remediation: str
    severity: str
    level: int
    probe: dict[str, Any]
    cis: str = ""
    applies_if: dict[str, Any] | None = None
    examples: dict[str, Any] = field(default_factory=dict, compare=False)
    source: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's outcome on one target."""

    check: Check
    status: str
    reason: str = ""
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        c = self.check
        return {"id": c.id, "title": c.title, "benchmark": c.benchmark, "area": c.area, "cis": c.cis,
                "level": c.level, "severity": c.severity, "status": self.status, "reason": self.reason,
                "evidence": [e.to_dict() for e in self.evidence], "remediation": c.remediation}


__all__ = ["ERROR", "FAIL", "MANUAL", "NOT_APPLICABLE", "PASS", "SEVERITIES", "STATUSES", "Check", "CheckResult",
           "Evidence", "ProbeResult"]
