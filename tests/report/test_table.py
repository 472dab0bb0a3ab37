"""The table format: rows most severe first, the right cells on each row, the summary and the notes."""

from __future__ import annotations

from threatstryker.model import Location, ScanWarning
from threatstryker.model.finding import Fix, PackageRef, ScanReport, VulnerabilityFinding
from threatstryker.report import render

from .conftest import EXPECTED_ORDER, empty_report, make_report

WIDE = 240


def row_of(text: str, vid: str) -> str:
    """The first line of the table row naming ``vid``."""
    return next(line for line in text.splitlines() if f" {vid} " in line)


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("│")]


def test_rows_are_sorted_most_severe_then_kev_then_epss(report: ScanReport) -> None:
    text = render(report, "table", console_width=WIDE)
    positions = [text.index(f" {vid} ") for vid in EXPECTED_ORDER]
    assert positions == sorted(positions)
    # log4j and openssl are both critical: the KEV-listed one comes first
    assert text.index("CVE-2021-44228") < text.index("CVE-2024-5535")


def test_row_cells(report: ScanReport) -> None:
    text = render(report, "table", console_width=WIDE)
    log4j = row_of(text, "CVE-2021-44228")
    assert cells(log4j)[0] == "critical"
    assert "CVE-2021-44228 (+1)" in log4j  # one alias
    assert "org.apache.logging.log4j:log4j-core" in log4j and " 2.14.1 " in log4j and " 2.15.0 " in log4j
    assert "94.36% (p99)" in log4j
    assert "yes, ransomware" in log4j
    assert "/app/shop-api.jar:BOOT-INF/lib/log4j-core-2.14.1.jar" in log4j
    assert "layer 9c9c9c9c9c9c" in text  # the short id of the layer, on the row's second line

    openssl = row_of(text, "CVE-2024-5535")
    assert "3.0.11-1~deb12u2" in openssl and "3.0.14-1~deb12u1" in openssl
    assert "0.47% (p72)" in openssl and "yes" not in openssl
    assert "not fixed" in row_of(text, "CVE-2023-31484")
    assert "won't fix" in row_of(text, "CVE-2023-52356")
    assert cells(row_of(text, "CVE-2016-2781"))[0] == "negligible"
    assert cells(row_of(text, "PYSEC-2023-192"))[0] == "unknown"


def test_header_summary_and_notes(report: ScanReport) -> None:
    text = render(report, "table", console_width=WIDE)
    lines = text.splitlines()
    assert lines[0] == ("Target: docker-archive:/tmp/shop-api.tar   Distro: Debian GNU/Linux 12 (bookworm) "
                        "(debian-12)   Packages scanned: 143   DB built: 2025-06-01T04:00:00Z")
    assert ("Findings: 7 (2 critical, 2 high, 1 medium, 0 low, 1 negligible, 1 unknown)   Suppressed: 2"
            in lines)
    assert "Notices: 1" in lines and "Warnings: 1" in lines
    assert "  warning: /usr/lib/x86_64-linux-gnu/libbroken.so.1: truncated ELF header" in lines
    assert "PARTIAL" not in text
    # suppressed findings stay out of the table unless asked for
    assert "CVE-2023-45853" not in text and "Suppressed by" not in text


def test_suppressed_table_names_source_and_reason(report: ScanReport) -> None:
    text = render(report, "table", show_suppressed=True, console_width=WIDE)
    zlib = row_of(text, "CVE-2023-45853")
    assert "openvex: vex/openvex.json" in zlib
    assert "not_affected, vulnerable_code_not_present minizip is not built" in zlib
    ignored = row_of(text, "CVE-2024-34064")
    assert "ignore: .threatstryker-ignore.yaml" in ignored and "(until 2026-12-31)" in ignored
    assert text.index("Suppressed by") > text.index("Findings: 7")


def test_many_warnings_are_cut_and_partial_is_said() -> None:
    warnings = [ScanWarning(f"/layer/{i}", "unreadable tar member") for i in range(12)]
    report = make_report(warnings=warnings, partial=True)
    lines = render(report, "table", console_width=WIDE).splitlines()
    shown = [line for line in lines if line.startswith("  warning: ")]
    assert shown == [f"  warning: /layer/{i}: unreadable tar member" for i in range(5)]
    assert "Warnings: 12" in lines
    assert "  ... 7 more warnings (see --format json)" in lines
    assert any(line.startswith("PARTIAL RESULT") for line in lines)


def test_eol_state_and_location_without_layer() -> None:
    pkg = PackageRef("deb", "bash", "4.4-5", "pkg:deb/debian/bash@4.4-5?distro=debian-9",
                     (Location("/var/lib/dpkg/status"), Location("/var/lib/dpkg/status.d/bash")))
    report = make_report(findings=[VulnerabilityFinding("CVE-2019-18276", pkg, severity="high", fix=Fix("eol"))],
                         suppressed=[], warnings=[], notices=[])
    text = render(report, "table", console_width=WIDE)
    row = cells(row_of(text, "CVE-2019-18276"))
    assert row[4] == "EOL" and row[7] == "/var/lib/dpkg/status"
    assert "layer" not in text and "(+1 more)" in text


def test_colour_only_when_asked(report: ScanReport) -> None:
    assert "\x1b[" not in render(report, "table", console_width=WIDE)
    coloured = render(report, "table", console_width=WIDE, color=True)
    assert "\x1b[1;31mcritical" in coloured  # bold red


def test_empty_report_table() -> None:
    text = render(empty_report(), "table", console_width=100)
    assert "No vulnerabilities found." in text
    assert "Findings: 0 (0 critical, 0 high, 0 medium, 0 low, 0 negligible, 0 unknown)   Suppressed: 0" in text
    assert "Distro: none detected" in text and "DB built: unknown" in text
