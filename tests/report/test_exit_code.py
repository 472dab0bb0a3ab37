"""``--fail-on``: which thresholds fail which reports, and what never counts (unknown, suppressed, partial)."""

from __future__ import annotations

import pytest

from threatstryker.model import ScanWarning
from threatstryker.model.finding import ScanReport, Suppression, VulnerabilityFinding
from threatstryker.report import FAIL_ON_CHOICES, exit_code, parse_fail_on

from .conftest import PERL, empty_report, make_report


def only(severity: str, suppressed: bool = False) -> ScanReport:
    finding = VulnerabilityFinding("CVE-2023-31484", PERL, severity=severity)
    if suppressed:
        finding.suppressed = Suppression("ignore", ".threatstryker-ignore.yaml", "accepted risk")
        return make_report(findings=[], suppressed=[finding])
    return make_report(findings=[finding], suppressed=[])


# report's only finding -> the thresholds that fail it
FAILS = {
    "critical": {"negligible", "low", "medium", "high", "critical"},
    "high": {"negligible", "low", "medium", "high"},
    "medium": {"negligible", "low", "medium"},
    "low": {"negligible", "low"},
    "negligible": {"negligible"},
    "unknown": set(),
}


@pytest.mark.parametrize("severity", list(FAILS))
@pytest.mark.parametrize("threshold", ["negligible", "low", "medium", "high", "critical"])
def test_threshold(severity: str, threshold: str) -> None:
    assert exit_code(only(severity), threshold) == (1 if threshold in FAILS[severity] else 0)


def test_realistic_report(report: ScanReport) -> None:
    assert exit_code(report, None) == 0
    assert {t: exit_code(report, t) for t in FAIL_ON_CHOICES} == dict.fromkeys(FAIL_ON_CHOICES, 1)


def test_suppressed_findings_never_fail() -> None:
    assert exit_code(only("critical", suppressed=True), "negligible") == 0
    # the realistic report minus its two critical findings: its suppressed critical does not count
    report = make_report()
    report.findings = [f for f in report.findings if f.severity != "critical"]
    assert exit_code(report, "critical") == 0 and exit_code(report, "high") == 1


def test_partial_does_not_change_the_exit_code() -> None:
    partial = empty_report()
    partial.partial = True
    partial.warnings = [ScanWarning("/layers/3.tar", "unexpected end of archive")]
    assert exit_code(partial, "negligible") == 0
    report = make_report(partial=True)
    assert exit_code(report, "critical") == 1


def test_parse_fail_on() -> None:
    assert parse_fail_on(" HIGH ") == "high"
    assert FAIL_ON_CHOICES == ("negligible", "low", "medium", "high", "critical")
    with pytest.raises(ValueError, match=r"one of negligible, low, medium, high, critical, not 'unknown'"):
        parse_fail_on("unknown")
    with pytest.raises(ValueError, match="'severe'"):
        parse_fail_on("severe")
    with pytest.raises(ValueError, match="--fail-on"):
        exit_code(empty_report(), "important")
