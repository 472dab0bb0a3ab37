"""One-line texts of a report's notices and warnings, for the table footer and for stderr beside other formats."""

from __future__ import annotations

from threatstryker.model.finding import ScanReport

#: How many notices and how many warnings are spelled out before "... N more".
SHOWN = 5


def note_lines(report: ScanReport, limit: int = SHOWN) -> list[str]:
    """Counts, then the first ``limit`` notices and warnings one per line, and whether results are partial."""
    lines: list[str] = []
    if report.notices:
        lines.append(f"Notices: {len(report.notices)}")
        lines += [f"  notice: {n}" for n in report.notices[:limit]]
        if len(report.notices) > limit:
            lines.append(f"  ... {len(report.notices) - limit} more notices (see --format json)")
    if report.warnings:
        lines.append(f"Warnings: {len(report.warnings)}")
        lines += [f"  warning: {w}" for w in report.warnings[:limit]]
        if len(report.warnings) > limit:
            lines.append(f"  ... {len(report.warnings) - limit} more warnings (see --format json)")
    if report.partial:
        lines.append("PARTIAL RESULT: some of the target could not be read, findings may be missing")
    return lines
