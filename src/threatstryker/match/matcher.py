"""Match every package of an SBOM against the vulnerability database and merge the hits into findings.

For each package, :func:`~threatstryker.match.plan.plan_package` gives the lookups; each
record found is evaluated with :func:`~threatstryker.match.ranges.evaluate`. Hits on one package
are merged by vulnerability: records that name each other (``aliases``, ``upstream``) are one
finding, so GHSA + PYSEC + CVE, or a Debian DSA and the Debian tracker's CVE entry, give one
finding with every id. A record that covers several CVEs (a DSA, a USN) is fanned out: it joins
the finding of each of its CVEs instead of fusing them into one. The finding id is the CVE when
there is one, else a GHSA, else the record id.

Nothing is guessed: a package whose version its scheme rejects is reported as a warning when
records exist for it; record ranges the scheme rejects are counted and reported once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from ..model.finding import Fix, MatchDetail, PackageRef, VulnerabilityFinding
from ..model.package import Distro, Package, Sbom, ScanWarning
from ..vulndb.store import AffectedRecord, VulnDB
from .distros import eol_date
from .enrich import enrich
from .plan import OS_TYPES, Lookup, Skip, plan_package
from .ranges import Evaluation, Hit, evaluate, parse_cached

__all__ = ["MatchOptions", "MatchResult", "MatchStats", "match_packages", "match_sbom"]

#: Distro statuses (feed ``database_specific.status``) and the fix state they mean.
_STATUS_FIX = {"ignored": "wont_fix", "end-of-life": "eol", "undetermined": "unknown"}
_FIX_ORDER = ("fixed", "wont_fix", "eol", "not_fixed", "unknown")


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """``comprehensive``: also match OS-owned language packages in their ecosystem;
    ``ignore_unfixed``: drop findings with no fixed version; ``today``: for end-of-life checks."""

    comprehensive: bool = False
    ignore_unfixed: bool = False
    today: date | None = None


@dataclass(slots=True)
class MatchStats:
    packages: int = 0
    looked_up: int = 0
    matched_packages: int = 0
    records_evaluated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unfixed_dropped: int = 0
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "packages": self.packages,
            "looked_up": self.looked_up,
            "matched_packages": self.matched_packages,
            "records_evaluated": self.records_evaluated,
            "skipped": dict(sorted(self.skipped.items())),
            "unfixed_dropped": self.unfixed_dropped,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(slots=True)
class MatchResult:
    findings: list[VulnerabilityFinding]
    warnings: list[ScanWarning]
    notices: list[str]
    stats: MatchStats


@dataclass(slots=True)
class _PkgHit:
    record: AffectedRecord
    lookup: Lookup
    hit: Hit


class _Groups:
    """Union-find over vulnerability ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, ids: Iterable[str]) -> None:
        it = iter(ids)
        first = next(it, None)
        if first is None:
            return
        a = self.find(first)
        for other in it:
            b = self.find(other)
            if a != b:
                self.parent[b] = a


def _linked(rec: AffectedRecord) -> list[str]:
    ids = [*rec.aliases, *rec.upstream]
    if rec.advisory_id.startswith("USN-"):  # Ubuntu notices list the CVEs they fix as "related"
        ids += [r for r in rec.related if r.startswith("CVE-")]
    return ids


def _preferred(ids: Iterable[str]) -> str:
    ordered = sorted(set(ids))
    for prefix in ("CVE-", "GHSA-"):
        for i in ordered:
            if i.startswith(prefix):
                return i
    return ordered[0]


def _fix_of(ph: _PkgHit, scheme: str) -> Fix:
    status = str(ph.record.affected.database_specific.get("status", ""))
    if ph.hit.fixed:
        return Fix("fixed", ph.hit.fixed)
    if status in _STATUS_FIX:
        return Fix(_STATUS_FIX[status])  # type: ignore[arg-type]
    if ph.hit.method == "versions" or ph.hit.last_affected:
        return Fix("unknown")
    return Fix("not_fixed")


def _merge_fix(fixes: list[Fix], scheme: str) -> Fix:
    fixed = [v for f in fixes if f.state == "fixed" for v in f.versions]
    if fixed:
        unique = list(dict.fromkeys(fixed))
        parsed = [(parse_cached(scheme, v), v) for v in unique]
        ordered = [v for p, v in sorted((x for x in parsed if x[0] is not None), key=lambda x: x[0])]  # type: ignore[arg-type,return-value]
        ordered += [v for p, v in parsed if p is None]
        return Fix("fixed", tuple(ordered))
    states = {f.state for f in fixes}
    for state in _FIX_ORDER:
        if state in states:
            return Fix(state)  # type: ignore[arg-type]
    return Fix("unknown")


def _detail(ph: _PkgHit) -> MatchDetail:
    rec, hit = ph.record, ph.hit
    status = str(rec.affected.database_specific.get("status", ""))
    method = hit.method
    ranges = "; ".join(hit.ranges)
    if status and not hit.fixed and status not in ("fixed", "not-affected"):
        method = "status"
        ranges = f"{ranges} [{status}]"
    return MatchDetail(
        feed=rec.feed,
        record=rec.advisory_id,
        ecosystem=rec.affected.ecosystem,
        package=rec.affected.raw_name,
        version=ph.lookup.version,
        scheme=ph.lookup.scheme,
        method=method,
        range=ranges,
        via=ph.lookup.via,
    )


def _findings_for(pkg: Package, hits: list[_PkgHit]) -> list[tuple[VulnerabilityFinding, list[AffectedRecord]]]:
    groups = _Groups()
    attach: list[tuple[str, _PkgHit, set[str]]] = []
    for ph in hits:
        ids = [ph.record.advisory_id, *_linked(ph.record)]
        cves = sorted({i for i in ids if i.startswith("CVE-")})
        if len(cves) > 1:
            others = {i for i in ids if not i.startswith("CVE-")}
            for cve in cves:
                groups.find(cve)
                attach.append((cve, ph, others | {cve}))
        else:
            groups.union(ids)
            attach.append((ph.record.advisory_id, ph, set(ids)))
    by_root: dict[str, tuple[list[_PkgHit], set[str]]] = {}
    for node, ph, linked in attach:
        entry = by_root.setdefault(groups.find(node), ([], set()))
        if ph not in entry[0]:
            entry[0].append(ph)
        entry[1].update(linked)
    ref = PackageRef(
        ecosystem=pkg.ecosystem,
        name=pkg.name,
        version=pkg.version,
        purl=pkg.purl,
        locations=tuple(pkg.locations),
        found_by=pkg.found_by,
    )
    out = []
    for group_hits, group_ids in by_root.values():
        vuln_id = _preferred(group_ids)
        scheme = group_hits[0].lookup.scheme
        published = [r.record.published for r in group_hits if r.record.published is not None]
        summaries = [r.record.summary for r in group_hits if r.record.summary]
        finding = VulnerabilityFinding(
            id=vuln_id,
            package=ref,
            aliases=tuple(sorted(group_ids - {vuln_id})),
            fix=_merge_fix([_fix_of(r, scheme) for r in group_hits], scheme),
            matched_by=tuple(dict.fromkeys(_detail(r) for r in group_hits)),
            summary=summaries[0] if summaries else "",
            published=min(published).isoformat() if published else None,
        )
        out.append((finding, [r.record for r in group_hits]))
    return out


def match_packages(
    packages: Iterable[Package],
    distro: Distro | None,
    db: VulnDB,
    options: MatchOptions | None = None,
) -> MatchResult:
    """Match ``packages`` (of a tree whose distro is ``distro``) against ``db``."""
    options = options or MatchOptions()
    started = time.perf_counter()
    stats = MatchStats()
    ev = Evaluation()
    warnings: list[ScanWarning] = []
    notices: list[str] = []
    matched: list[tuple[VulnerabilityFinding, list[AffectedRecord]]] = []
    today = options.today or datetime.now(UTC).date()
    os_eol: dict[str, date] = {}
    for pkg in packages:
        stats.packages += 1
        plan = plan_package(pkg, distro, comprehensive=options.comprehensive)
        if isinstance(plan, Skip):
            stats.skipped[plan.reason] = stats.skipped.get(plan.reason, 0) + 1
            continue
        stats.looked_up += 1
        hits: list[_PkgHit] = []
        seen: set[tuple[str, str]] = set()
        for lookup in plan:
            records = db.advisories_for(
                lookup.key.ecosystem, lookup.key.release, lookup.name, release_prefix=lookup.key.prefix
            )
            if not records:
                continue
            version = parse_cached(lookup.scheme, lookup.version)
            if version is None:
                where = pkg.locations[0].path if pkg.locations else pkg.purl
                warnings.append(
                    ScanWarning(
                        where,
                        f"{pkg.name} {lookup.version!r}: not a valid {lookup.scheme} version; "
                        f"{len(records)} advisories for it in {lookup.key.label} could not be checked",
                    )
                )
                continue
            for rec in records:
                if (rec.advisory_id, rec.feed) in seen:
                    continue
                stats.records_evaluated += 1
                hit = evaluate(rec.affected, version, ev, f"{rec.feed}:{rec.advisory_id}")
                if hit is not None:
                    seen.add((rec.advisory_id, rec.feed))
                    hits.append(_PkgHit(rec, lookup, hit))
        if not hits:
            continue
        stats.matched_packages += 1
        found = _findings_for(pkg, hits)
        if pkg.ecosystem in OS_TYPES and distro is not None:
            end = eol_date(distro)
            if end is not None and end < today:
                os_eol[f"{distro.id} {distro.version_id}"] = end
                for finding, _ in found:
                    if finding.fix.state in ("not_fixed", "unknown"):
                        finding.fix = Fix("eol")
        matched.extend(found)
    if options.ignore_unfixed:
        kept = [(f, r) for f, r in matched if f.fix.state == "fixed"]
        stats.unfixed_dropped = len(matched) - len(kept)
        matched = kept
    findings = enrich(db, matched)
    findings.sort(key=lambda f: (-f.rank, f.package.name, f.package.version, f.id))
    for name, end in os_eol.items():
        notices.append(
            f"{name} reached its end of life on {end.isoformat()}: no more fixes will come, and feeds may stop "
            "tracking it, so findings for its packages can be incomplete"
        )
    if ev.bad_ranges:
        notices.append(
            f"{ev.bad_ranges} advisory ranges could not be evaluated (versions their scheme rejects), "
            f"e.g. {ev.bad_range_examples[0]}"
        )
    stats.duration_s = time.perf_counter() - started
    return MatchResult(findings, warnings, notices, stats)


def match_sbom(sbom: Sbom, db: VulnDB, options: MatchOptions | None = None) -> MatchResult:
    """Match every package of ``sbom`` against ``db`` (the SBOM's distro picks the OS feeds)."""
    return match_packages(sbom.packages, sbom.distro, db, options)
