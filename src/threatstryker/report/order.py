"""The order every format lists findings in: most severe first, then KEV-listed, then likelier exploited (EPSS)."""

from __future__ import annotations

from collections.abc import Iterable

from threatstryker.model.finding import VulnerabilityFinding


def finding_order(f: VulnerabilityFinding) -> tuple[int, int, float, str, str, str]:
    """Sort key: severity (highest first), KEV listing, EPSS probability (highest first), id, package, version."""
    return (-f.rank, 0 if f.kev else 1, -(f.epss.probability if f.epss else 0.0), f.id, f.package.name,
            f.package.version)


def sorted_findings(findings: Iterable[VulnerabilityFinding]) -> list[VulnerabilityFinding]:
    """``findings`` in :func:`finding_order`."""
    return sorted(findings, key=finding_order)
