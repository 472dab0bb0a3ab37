"""Run the requested scanners over one cataloged target and assemble the :class:`ScanReport`.

The SBOM is made first (every scanner works from it or from the same target); then, for
``vuln``, the database is opened read-only, the packages matched, the findings enriched, and
the ignore file / VEX documents applied. Problems that make a scanner unusable (no database,
a malformed ignore file) raise :class:`ScanError` with one line for the user.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .model.finding import ScanReport
from .model.package import Sbom

__all__ = ["DEFAULT_DB", "DEFAULT_IGNORE_FILE", "SCANNERS", "ScanError", "ScanOptions", "db_info", "run_scan"]

#: Scanners ``threatstryker scan`` knows; ``sbom`` lists packages, ``vuln`` matches them.
SCANNERS: tuple[str, ...] = ("sbom", "vuln")
#: The vulnerability database's default location.
DEFAULT_DB = "~/.cache/threatstryker/vuln.db"
#: Read from the working directory when present and no ignore file is named.
DEFAULT_IGNORE_FILE = ".threatstryker-ignore.yaml"


class ScanError(Exception):
    """A scanner cannot run; one line naming the problem and, where there is one, the fix."""


@dataclass(frozen=True, slots=True)
class ScanOptions:
    scanners: tuple[str, ...] = ("vuln",)
    db_path: str = DEFAULT_DB
    comprehensive: bool = False
    ignore_unfixed: bool = False
    #: Ignore files and VEX documents, in order.
    suppressions: Sequence[str] = field(default_factory=tuple)
    #: Add a notice when any feed's data is older than this many days (None: never).
    max_db_age_days: float | None = 7.0
    today: date | None = None


def db_info(db: Any, now: datetime, max_age_days: float | None) -> tuple[dict[str, Any], list[str]]:
    """A summary of the database for the report, and notices about stale feeds."""
    status = db.status()
    feeds: dict[str, Any] = {}
    notices: list[str] = []
    for feed in status.feeds:
        age = feed.age(now)
        feeds[feed.name] = {
            "records": feed.records,
            "fetched_at": feed.fetched_at.isoformat() if feed.fetched_at else None,
            "age_days": round(age / 86400, 1) if age is not None else None,
        }
        if max_age_days is not None and age is not None and age > max_age_days * 86400:
            notices.append(
                f"vulnerability feed {feed.name} is {age / 86400:.0f} days old (older than {max_age_days:g}); "
                "run `threatstryker db update` for current data"
            )
    info = {
        "path": status.path,
        "schema_version": status.schema_version,
        "built_at": status.built_at.isoformat() if status.built_at else None,
        "advisories": status.advisories,
        "feeds": feeds,
    }
    return info, notices


def _vulnerabilities(sbom: Sbom, report: ScanReport, options: ScanOptions) -> None:
    from .match.matcher import MatchOptions, match_sbom
    from .vulndb.store import VulnDB, VulnDBError

    try:
        db = VulnDB.open(os.path.expanduser(options.db_path))
    except VulnDBError as exc:
        raise ScanError(str(exc)) from None
    with db:
        now = datetime.now(UTC)
        report.db, stale = db_info(db, now, options.max_db_age_days)
        result = match_sbom(
            sbom,
            db,
            MatchOptions(
                comprehensive=options.comprehensive, ignore_unfixed=options.ignore_unfixed, today=options.today
            ),
        )
    report.findings = list(result.findings)
    report.warnings += result.warnings
    report.notices += stale + result.notices
    report.db["match"] = result.stats.to_dict()


def _suppress(report: ScanReport, options: ScanOptions) -> None:
    from .suppress import SuppressionError, apply_to_report, load_suppressions

    paths = list(options.suppressions)
    if not paths and Path(DEFAULT_IGNORE_FILE).is_file():
        paths = [DEFAULT_IGNORE_FILE]
    if not paths:
        return
    try:
        suppressions = load_suppressions(paths)
    except SuppressionError as exc:
        raise ScanError(str(exc)) from None
    apply_to_report(report, suppressions, options.today)


def run_scan(sbom: Sbom, options: ScanOptions) -> ScanReport:
    """The report of ``options.scanners`` over the target ``sbom`` was made from."""
    unknown = set(options.scanners) - set(SCANNERS)
    if unknown:
        raise ScanError(f"unknown scanner(s): {', '.join(sorted(unknown))}; available: {', '.join(SCANNERS)}")
    report = ScanReport(
        target=sbom.target,
        scanners=tuple(s for s in SCANNERS if s in options.scanners),
        warnings=list(sbom.warnings),
        distro=sbom.distro,
        partial=sbom.partial,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        tool_version=__version__,
        duration_s=sbom.duration_s,
        packages=len(sbom.packages),
        sbom=sbom,
    )
    started = datetime.now(UTC)
    if "vuln" in options.scanners:
        _vulnerabilities(sbom, report, options)
        _suppress(report, options)
    report.duration_s += (datetime.now(UTC) - started).total_seconds()
    return report
