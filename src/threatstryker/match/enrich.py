"""Give each finding its severity, CVSS scores, EPSS, KEV, CWEs and links from the database, in batched queries.

Severity is chosen in this order (``severity_source`` names the one used):

* OS packages: the distro's own rating (Debian urgency, Ubuntu priority, Red Hat/SUSE
  severity) — it weighs the flaw in the distro's build — then CVSS as below;
* language packages: the advisory's CVSS v3.x, then its CVSS v4.0, then the database's word
  (GitHub's ``MODERATE``...), then NVD;
* CVSS v3.x is preferred to v4.0 and v4.0 to v2 (most feeds and policies still rate by v3),
  NVD's primary score before secondary ones.

EPSS is the highest score among the finding's CVE ids; KEV the first listed one found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..model.finding import Cvss, Epss, Kev, VulnerabilityFinding
from ..vulndb.advisory import DATABASE_SPECIFIC, Severity
from ..vulndb.cvss import from_severity, normalise_word
from ..vulndb.store import AffectedRecord, VulnDB
from .plan import OS_TYPES

__all__ = ["enrich"]

_CHUNK = 500
_VENDOR_TYPES = {"Ubuntu", "Debian", "Red Hat", "SUSE", "Alpine", "AlmaLinux", "Rocky Linux"}
_MAX_URLS = 12


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _batch(db: VulnDB, sql: str, ids: Sequence[str]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for part in _chunks(ids):
        marks = ",".join("?" * len(part))
        rows.extend(db.connection.execute(sql.format(marks=marks), tuple(part)).fetchall())
    return rows


def _cvss_rank(c: Cvss) -> tuple[int, int]:
    order = {"3.1": 0, "3.0": 0, "4.0": 1, "2.0": 2}
    return order.get(c.version, 3), 0 if "primary" in c.source.lower() or not c.source.startswith("nvd") else 1


def _record_scores(records: list[AffectedRecord]) -> tuple[list[Cvss], list[str], list[str]]:
    """CVSS from the records, vendor words (OS feeds) and database words (GitHub...)."""
    cvss: list[Cvss] = []
    vendor: list[str] = []
    words: list[str] = []
    for rec in records:
        severities: list[Severity] = [*rec.severity, *rec.affected.severity]
        for sev in severities:
            if sev.type.startswith("CVSS_"):
                try:
                    parsed = from_severity(sev, f"{rec.feed}:{rec.advisory_id}")
                except ValueError:
                    continue
                if parsed is not None:
                    cvss.append(parsed)
            elif sev.type in _VENDOR_TYPES:
                vendor.append(sev.score)
            elif sev.type == DATABASE_SPECIFIC:
                words.append(sev.score)
        priority = rec.affected.ecosystem_specific.get("ubuntu_priority") or rec.affected.ecosystem_specific.get(
            "severity"
        )
        if isinstance(priority, str):
            vendor.append(priority)
    return cvss, vendor, words


def _first_known(words: Iterable[str]) -> str | None:
    for word in words:
        norm = normalise_word(word)
        if norm != "unknown":
            return norm
    return None


def _choose(
    finding: VulnerabilityFinding, rec_cvss: list[Cvss], nvd_cvss: list[Cvss], vendor: list[str], words: list[str]
) -> tuple[str, str]:
    own = sorted(rec_cvss, key=_cvss_rank)
    nvd = sorted(nvd_cvss, key=_cvss_rank)
    own_new, own_v2 = [c for c in own if c.version != "2.0"], [c for c in own if c.version == "2.0"]
    nvd_new, nvd_v2 = [c for c in nvd if c.version != "2.0"], [c for c in nvd if c.version == "2.0"]
    candidates: list[tuple[str, list[Cvss] | list[str]]]
    if finding.package.ecosystem in OS_TYPES:
        candidates = [
            ("vendor", vendor), ("cvss", nvd_new), ("cvss", own_new), ("cvss", nvd_v2), ("cvss", own_v2),
            ("database", words),
        ]
    else:
        candidates = [
            ("cvss", own_new), ("database", words), ("cvss", nvd_new), ("cvss", own_v2), ("cvss", nvd_v2),
            ("vendor", vendor),
        ]
    for kind, items in candidates:
        if kind == "cvss" and items:
            best = items[0]
            assert isinstance(best, Cvss)
            return best.severity, f"cvss:{best.version}:{best.source}"
        if kind != "cvss" and (word := _first_known(str(i) for i in items)):
            return word, kind
    return "unknown", ""


def enrich(db: VulnDB, matched: list[tuple[VulnerabilityFinding, list[AffectedRecord]]]) -> list[VulnerabilityFinding]:
    """Fill severity, CVSS, EPSS, KEV, CWEs, links and a summary into each finding; returns the findings."""
    cve_ids = sorted({i for f, _ in matched for i in f.ids if i.startswith("CVE-")})
    kev_sql = "SELECT cve_id, date_added, due_date, known_ransomware, name FROM kev WHERE cve_id IN ({marks})"
    kev = {row[0]: Kev(row[1], row[2], bool(row[3]), row[4]) for row in _batch(db, kev_sql, cve_ids)}
    epss = {
        row[0]: Epss(row[1], row[2], row[3][:10] if row[3] else None)
        for row in _batch(
            db, "SELECT cve_id, probability, percentile, score_date FROM epss WHERE cve_id IN ({marks})", cve_ids
        )
    }
    nvd = db.cves(cve_ids)
    keys = sorted({(r.advisory_id, r.feed) for _, recs in matched for r in recs})
    details: dict[tuple[str, str], tuple[list[list[str]], list[str]]] = {}
    for adv_id, feed in keys:
        row = db.connection.execute(
            "SELECT refs, cwes FROM advisories WHERE id = ? AND feed = ?", (adv_id, feed)
        ).fetchone()
        if row is not None:
            details[(adv_id, feed)] = (json.loads(row[0]), json.loads(row[1]))
    out = []
    for finding, records in matched:
        cves = [i for i in finding.ids if i.startswith("CVE-")]
        rec_cvss, vendor, words = _record_scores(records)
        nvd_records = [nvd[c] for c in cves if c in nvd]
        nvd_cvss = [c for r in nvd_records for c in r.cvss]
        finding.severity, finding.severity_source = _choose(finding, rec_cvss, nvd_cvss, vendor, words)
        seen: set[tuple[str, str]] = set()
        cvss: list[Cvss] = []
        for c in sorted(rec_cvss, key=_cvss_rank) + sorted(nvd_cvss, key=_cvss_rank):
            if (c.version, c.vector) not in seen:
                seen.add((c.version, c.vector))
                cvss.append(c)
        finding.cvss = tuple(cvss)
        scores = [epss[c] for c in cves if c in epss]
        finding.epss = max(scores, key=lambda e: e.probability) if scores else None
        finding.kev = next((kev[c] for c in cves if c in kev), None)
        cwes: list[str] = []
        urls: list[str] = []
        for rec in records:
            refs, rec_cwes = details.get((rec.advisory_id, rec.feed), ([], []))
            cwes.extend(rec_cwes)
            urls.extend(url for kind, url in sorted(refs, key=lambda r: r[0] not in ("ADVISORY", "WEB")))
        for r in nvd_records:
            cwes.extend(r.cwes)
            urls.extend(r.refs)
        finding.cwes = tuple(dict.fromkeys(cwes))
        finding.urls = tuple(dict.fromkeys(urls))[:_MAX_URLS]
        if not finding.summary:
            finding.summary = next((r.description for r in nvd_records if r.description), "")
        out.append(finding)
    return out
