"""Findings every scanner reports, and the report of one scan (the model outputs render).

A finding has a ``kind`` (``"vulnerability"`` here; secrets and malware follow the same
shape), an ``id``, a ``severity`` word from :data:`SEVERITIES`, and a stable ``fingerprint``
(SHA-256 hex) that identifies it across runs, so baselines and suppressions can refer to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .package import Distro, Location, ScanWarning, TargetInfo

__all__ = [
    "FIX_STATES",
    "SEVERITIES",
    "Cvss",
    "Epss",
    "Finding",
    "Fix",
    "Kev",
    "MalwareFinding",
    "MatchDetail",
    "MisconfigurationFinding",
    "PackageRef",
    "ScanReport",
    "SecretFinding",
    "StringMatch",
    "Suppression",
    "VulnerabilityFinding",
    "redact",
    "secret_hash",
    "severity_from_score",
    "severity_rank",
]

#: Severity words, lowest first. ``unknown`` ranks lowest: ``--fail-on low`` does not fail on it.
SEVERITIES: tuple[str, ...] = ("unknown", "negligible", "low", "medium", "high", "critical")

#: ``fixed``: a fixed version exists (``Fix.versions``); ``not_fixed``: affected, no fix yet;
#: ``wont_fix``: the distro decided not to fix it in this release; ``eol``: the distro release
#: is past its end of life, no fix will come; ``unknown``: the record does not say.
FIX_STATES: tuple[str, ...] = ("fixed", "not_fixed", "wont_fix", "eol", "unknown")
FixState = Literal["fixed", "not_fixed", "wont_fix", "eol", "unknown"]


def severity_rank(word: str) -> int:
    """Position of ``word`` in :data:`SEVERITIES` (case-insensitive; unrecognised words rank as unknown)."""
    try:
        return SEVERITIES.index(word.lower())
    except ValueError:
        return 0


def severity_from_score(score: float) -> str:
    """The CVSS v3/v4 qualitative rating of a base score (0.0 is ``negligible``: CVSS says "None")."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0.0:
        return "low"
    return "negligible"


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Cvss:
    """One CVSS assessment: ``version`` ``"2.0"``/``"3.0"``/``"3.1"``/``"4.0"``, the vector as
    given, the base score, the exploitability and impact sub-scores kept apart (``None`` where
    the version has none, as in v4), and ``source``: who gave it (``nvd``, ``osv:GHSA-...``)."""

    version: str
    vector: str
    base_score: float
    severity: str
    exploitability: float | None = None
    impact: float | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "vector": self.vector,
            "base_score": self.base_score,
            "severity": self.severity,
            "exploitability": self.exploitability,
            "impact": self.impact,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cvss:
        return cls(
            version=str(d["version"]),
            vector=str(d["vector"]),
            base_score=float(d["base_score"]),
            severity=str(d.get("severity") or severity_from_score(float(d["base_score"]))),
            exploitability=d.get("exploitability"),
            impact=d.get("impact"),
            source=str(d.get("source", "")),
        )


@dataclass(frozen=True, slots=True)
class Epss:
    """FIRST EPSS: probability of exploitation in the next 30 days, its percentile, the score date."""

    probability: float
    percentile: float
    date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"probability": self.probability, "percentile": self.percentile, "date": self.date}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Epss:
        return cls(float(d["probability"]), float(d["percentile"]), d.get("date"))


@dataclass(frozen=True, slots=True)
class Kev:
    """CISA Known Exploited Vulnerabilities entry: when it was added, the due date, ransomware use."""

    date_added: str
    due_date: str | None = None
    known_ransomware: bool = False
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "date_added": self.date_added,
            "due_date": self.due_date,
            "known_ransomware": self.known_ransomware,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Kev:
        return cls(str(d["date_added"]), d.get("due_date"), bool(d.get("known_ransomware")), str(d.get("name", "")))


@dataclass(frozen=True, slots=True)
class Fix:
    """The fix state (:data:`FIX_STATES`) and, when fixed, the fixed versions (lowest first)."""

    state: FixState = "unknown"
    versions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "versions": list(self.versions)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fix:
        return cls(d.get("state", "unknown"), tuple(d.get("versions", ())))


@dataclass(frozen=True, slots=True)
class MatchDetail:
    """Why a package matched one feed record.

    ``feed`` and ``record`` name the record; ``ecosystem`` and ``package`` are as the record
    gives them (``Debian:12``/``openssl``); ``version`` is the package version compared and
    ``scheme`` the version scheme used (``deb``, ``pep440``, ...); ``method`` is ``range``
    (``range`` then says which, e.g. ``>=0, <3.0.11-1~deb12u2 (ECOSYSTEM)``), ``versions`` (listed
    explicitly) or ``status`` (the distro marks every version affected); ``via`` says which
    name of the package was used: ``package``, ``source-package``, ``owner`` (the OS package
    that installed a language package) or ``stdlib`` (a Go toolchain version).
    """

    feed: str
    record: str
    ecosystem: str
    package: str
    version: str
    scheme: str
    method: str
    range: str = ""
    via: str = "package"

    def to_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "record": self.record,
            "ecosystem": self.ecosystem,
            "package": self.package,
            "version": self.version,
            "scheme": self.scheme,
            "method": self.method,
            "range": self.range,
            "via": self.via,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MatchDetail:
        return cls(**{k: str(d.get(k, "")) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class PackageRef:
    """The package a finding is about, as the SBOM gave it."""

    ecosystem: str
    name: str
    version: str
    purl: str
    locations: tuple[Location, ...] = ()
    found_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ecosystem": self.ecosystem,
            "name": self.name,
            "version": self.version,
            "purl": self.purl,
            "locations": [loc.to_dict() for loc in self.locations],
            "found_by": self.found_by,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PackageRef:
        return cls(
            ecosystem=str(d["ecosystem"]),
            name=str(d["name"]),
            version=str(d["version"]),
            purl=str(d.get("purl", "")),
            locations=tuple(Location(loc["path"], loc.get("layer")) for loc in d.get("locations", ())),
            found_by=str(d.get("found_by", "")),
        )


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why a finding is suppressed: ``source`` (``ignore``, ``openvex``, ``cyclonedx-vex``), the
    file it came from, the reason/justification given, the VEX status, and an expiry date."""

    source: str
    file: str
    reason: str = ""
    status: str | None = None
    expires: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "source": self.source,
                "file": self.file,
                "reason": self.reason,
                "status": self.status,
                "expires": self.expires,
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Suppression:
        return cls(
            str(d["source"]), str(d.get("file", "")), str(d.get("reason", "")), d.get("status"), d.get("expires")
        )


@dataclass(slots=True)
class VulnerabilityFinding:
    """A package affected by a vulnerability, with everything needed to rank and explain it.

    ``id`` is the preferred identifier (the CVE when there is one), ``aliases`` every other id
    the merged records carry; ``severity`` is the word used for ``--fail-on`` and sorting, and
    ``severity_source`` says where it came from (``cvss``, ``vendor``, a feed name).
    """

    kind: ClassVar[str] = "vulnerability"

    id: str
    package: PackageRef
    aliases: tuple[str, ...] = ()
    severity: str = "unknown"
    severity_source: str = ""
    cvss: tuple[Cvss, ...] = ()
    epss: Epss | None = None
    kev: Kev | None = None
    fix: Fix = field(default_factory=Fix)
    matched_by: tuple[MatchDetail, ...] = ()
    summary: str = ""
    urls: tuple[str, ...] = ()
    cwes: tuple[str, ...] = ()
    published: str | None = None
    suppressed: Suppression | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        """``id`` followed by every alias."""
        return (self.id, *self.aliases)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of kind, id, purl and first location: stable across runs and machines."""
        where = self.package.locations[0].path if self.package.locations else ""
        text = "\x00".join((self.kind, self.id, self.package.purl or self.package.name, where))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def rank(self) -> int:
        return severity_rank(self.severity)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "aliases": list(self.aliases),
            "package": self.package.to_dict(),
            "severity": self.severity,
            "severity_source": self.severity_source,
            "cvss": [c.to_dict() for c in self.cvss],
            "epss": self.epss.to_dict() if self.epss else None,
            "kev": self.kev.to_dict() if self.kev else None,
            "fix": self.fix.to_dict(),
            "matched_by": [m.to_dict() for m in self.matched_by],
            "summary": self.summary,
            "urls": list(self.urls),
            "cwes": list(self.cwes),
            "published": self.published,
            "fingerprint": self.fingerprint,
        }
        if self.suppressed is not None:
            d["suppressed"] = self.suppressed.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VulnerabilityFinding:
        return cls(
            id=str(d["id"]),
            package=PackageRef.from_dict(d["package"]),
            aliases=tuple(d.get("aliases", ())),
            severity=str(d.get("severity", "unknown")),
            severity_source=str(d.get("severity_source", "")),
            cvss=tuple(Cvss.from_dict(c) for c in d.get("cvss", ())),
            epss=Epss.from_dict(d["epss"]) if d.get("epss") else None,
            kev=Kev.from_dict(d["kev"]) if d.get("kev") else None,
            fix=Fix.from_dict(d.get("fix") or {}),
            matched_by=tuple(MatchDetail.from_dict(m) for m in d.get("matched_by", ())),
            summary=str(d.get("summary", "")),
            urls=tuple(d.get("urls", ())),
            cwes=tuple(d.get("cwes", ())),
            published=d.get("published"),
            suppressed=Suppression.from_dict(d["suppressed"]) if d.get("suppressed") else None,
        )


def redact(secret: str, keep: int = 4) -> str:
    """The first ``keep`` characters then ``***`` (the whole value is never shown; short values keep less)."""
    shown = secret[: min(keep, max(len(secret) // 4, 1))] if secret else ""
    return f"{shown}***"


def secret_hash(secret: str) -> str:
    """SHA-256 (hex) of a secret value: the only form of the value that is ever stored."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(slots=True)
class SecretFinding:
    """An exposed secret (or a sensitive file) found by a rule.

    ``id`` is the rule id; ``path`` the file (``archive.zip:inner/path`` inside archives), with
    ``line``/``column`` (1-based; 0 for a whole-file finding such as a sensitive file name);
    ``layer`` the image layer the file came from and ``present`` whether the file is still in the
    final (squashed) view, False for a secret a later layer deleted. The value itself is never
    kept: ``preview`` is its first characters then ``***``, ``secret_sha256`` its hash.
    ``commit`` is set for secrets found in git history.
    """

    kind: ClassVar[str] = "secret"

    id: str
    path: str
    severity: str = "high"
    confidence: str = "high"
    description: str = ""
    line: int = 0
    column: int = 0
    layer: str | None = None
    present: bool = True
    preview: str = ""
    secret_sha256: str = ""
    family: str = ""
    commit: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    suppressed: Suppression | None = None
    #: The clear value, set only when the user asked for it (``--show-secrets``); never in ``to_dict`` unless
    #: ``reveal`` is passed, never written anywhere else.
    revealed: str | None = field(default=None, repr=False)

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id,)

    @property
    def aliases(self) -> tuple[str, ...]:
        return ()

    @property
    def locations(self) -> tuple[Location, ...]:
        return (Location(self.path, self.layer),)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of kind, rule, secret hash and path: stable when lines move, used by baselines."""
        text = "\x00".join((self.kind, self.id, self.secret_sha256, self.path))
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    @property
    def rank(self) -> int:
        return severity_rank(self.severity)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "family": self.family,
            "description": self.description,
            "severity": self.severity,
            "confidence": self.confidence,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "layer": self.layer,
            "present": self.present,
            "preview": self.preview,
            "secret_sha256": self.secret_sha256,
            "commit": self.commit,
            "metadata": dict(self.metadata),
            "fingerprint": self.fingerprint,
        }
        if self.revealed is not None:  # only ever set by an explicit --show-secrets
            d["secret"] = self.revealed
        if self.suppressed is not None:
            d["suppressed"] = self.suppressed.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SecretFinding:
        return cls(
            id=str(d["id"]),
            path=str(d["path"]),
            severity=str(d.get("severity", "high")),
            confidence=str(d.get("confidence", "high")),
            description=str(d.get("description", "")),
            line=int(d.get("line", 0)),
            column=int(d.get("column", 0)),
            layer=d.get("layer"),
            present=bool(d.get("present", True)),
            preview=str(d.get("preview", "")),
            secret_sha256=str(d.get("secret_sha256", "")),
            family=str(d.get("family", "")),
            commit=d.get("commit"),
            metadata=dict(d.get("metadata", {})),
            suppressed=Suppression.from_dict(d["suppressed"]) if d.get("suppressed") else None,
        )


@dataclass(frozen=True, slots=True)
class StringMatch:
    """Where a rule's string matched in a file: its identifier (``$a``), byte offset and length; never the
    bytes themselves."""

    identifier: str
    offset: int
    length: int

    def to_dict(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "offset": self.offset, "length": self.length}


@dataclass(slots=True)
class MalwareFinding:
    """A file a YARA rule matched.

    ``id`` is the rule's identifier and ``namespace`` its rule file's namespace; ``path`` the file
    (``archive.zip:inner/path`` inside archives), ``layer``/``present`` as for secrets; ``file_sha256`` the
    SHA-256 of the content the rule matched. ``matches`` lists matched strings with offsets (the first few per
    string; ``string_count`` is how many matches there were in all). ``rule_metadata`` carries the rule's
    metadata as written (author, reference, license, description...): a rule's license may require its
    author to be shown with every match. ``severity`` comes from the rule's metadata and is raised one level
    when several rules or many strings match the file (``escalated`` says why).
    """

    kind: ClassVar[str] = "malware"

    id: str
    path: str
    namespace: str = ""
    severity: str = "medium"
    description: str = ""
    layer: str | None = None
    present: bool = True
    file_sha256: str = ""
    file_size: int = 0
    matches: list[StringMatch] = field(default_factory=list)
    string_count: int = 0
    tags: tuple[str, ...] = ()
    rule_metadata: dict[str, Any] = field(default_factory=dict)
    escalated: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    suppressed: Suppression | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, f"{self.namespace}:{self.id}") if self.namespace else (self.id,)

    @property
    def aliases(self) -> tuple[str, ...]:
        return ()

    @property
    def locations(self) -> tuple[Location, ...]:
        return (Location(self.path, self.layer),)

    @property
    def rule(self) -> str:
        """``namespace:identifier`` (the identifier alone without a namespace)."""
        return f"{self.namespace}:{self.id}" if self.namespace else self.id

    @property
    def author(self) -> str:
        return str(self.rule_metadata.get("author", ""))

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of kind, rule, path and file hash: the same file matched by the same rule."""
        text = "\x00".join((self.kind, self.rule, self.path, self.file_sha256))
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    @property
    def rank(self) -> int:
        return severity_rank(self.severity)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "namespace": self.namespace,
            "rule": self.rule,
            "description": self.description,
            "severity": self.severity,
            "escalated": self.escalated or None,
            "path": self.path,
            "layer": self.layer,
            "present": self.present,
            "file_sha256": self.file_sha256,
            "file_size": self.file_size,
            "tags": list(self.tags),
            "matches": [m.to_dict() for m in self.matches],
            "string_count": self.string_count,
            "rule_metadata": dict(self.rule_metadata),
            "metadata": dict(self.metadata),
            "fingerprint": self.fingerprint,
        }
        if self.suppressed is not None:
            d["suppressed"] = self.suppressed.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MalwareFinding:
        return cls(
            id=str(d["id"]),
            path=str(d["path"]),
            namespace=str(d.get("namespace", "")),
            severity=str(d.get("severity", "medium")),
            description=str(d.get("description", "")),
            layer=d.get("layer"),
            present=bool(d.get("present", True)),
            file_sha256=str(d.get("file_sha256", "")),
            file_size=int(d.get("file_size", 0)),
            matches=[StringMatch(str(m["identifier"]), int(m["offset"]), int(m["length"]))
                     for m in d.get("matches", [])],
            string_count=int(d.get("string_count", 0)),
            tags=tuple(d.get("tags", ())),
            rule_metadata=dict(d.get("rule_metadata", {})),
            escalated=str(d.get("escalated") or ""),
            metadata=dict(d.get("metadata", {})),
            suppressed=Suppression.from_dict(d["suppressed"]) if d.get("suppressed") else None,
        )


@dataclass(slots=True)
class MisconfigurationFinding:
    """A posture check that failed on the target.

    ``id`` is the check id; ``status`` FAIL (the other statuses are counted in the report, not findings);
    ``evidence`` lists what was looked at (``source``: the file or ``/proc/sys``; ``found`` and ``expected``
    values); ``remediation`` is the command or configuration change that fixes it.
    """

    kind: ClassVar[str] = "misconfiguration"

    id: str
    title: str
    severity: str = "medium"
    status: str = "FAIL"
    benchmark: str = ""
    area: str = ""
    cis: str = ""
    level: int = 1
    reason: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    remediation: str = ""
    #: the requirement ids of each compliance framework the check serves (``{"pci-dss": ["2.2.4"], ...}``)
    frameworks: dict[str, list[str]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    suppressed: Suppression | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id,)

    @property
    def aliases(self) -> tuple[str, ...]:
        return ()

    @property
    def path(self) -> str:
        """The first file the evidence names ("" when it names none: a package database, a process)."""
        for e in self.evidence:
            source = str(e.get("source", ""))
            if source.startswith("/") and not source.startswith(("/proc/", "/proc ")):
                return source.split(",")[0].split(" (")[0]
        return ""

    @property
    def locations(self) -> tuple[Location, ...]:
        return (Location(self.path, None),) if self.path else ()

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of kind and check id: the same failed check on the same target."""
        return hashlib.sha256("\x00".join((self.kind, self.id)).encode()).hexdigest()

    @property
    def rank(self) -> int:
        return severity_rank(self.severity)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind, "id": self.id, "title": self.title, "severity": self.severity,
            "status": self.status, "benchmark": self.benchmark, "area": self.area, "cis": self.cis,
            "level": self.level, "reason": self.reason, "evidence": list(self.evidence),
            "remediation": self.remediation, "frameworks": {k: list(v) for k, v in self.frameworks.items()},
            "metadata": dict(self.metadata), "fingerprint": self.fingerprint,
        }
        if self.suppressed is not None:
            d["suppressed"] = self.suppressed.to_dict()
        return d


#: Every kind of finding a report can hold.
Finding = VulnerabilityFinding | SecretFinding | MalwareFinding | MisconfigurationFinding


@dataclass(slots=True)
class ScanReport:
    """Everything one ``threatstryker scan`` produced, for every output format.

    ``findings`` are the active findings (most severe first), ``suppressed`` the ones an ignore
    file or VEX document suppressed (each with its :class:`Suppression`), ``notices`` one-line
    messages the user should see that are not problems with the target (an expired ignore
    entry, a stale database), ``warnings`` problems met while scanning (``partial`` is then
    set when results may be incomplete). ``sbom`` is kept for formats that embed the
    components (CycloneDX).
    """

    target: TargetInfo
    scanners: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    distro: Distro | None = None
    partial: bool = False
    created: str = ""
    tool_version: str = ""
    duration_s: float = 0.0
    db: dict[str, Any] = field(default_factory=dict)
    packages: int = 0
    sbom: Any = None  # threatstryker.model.package.Sbom, when the scan made one

    def counts(self) -> dict[str, int]:
        """Active findings per severity word, every word of :data:`SEVERITIES` present."""
        out = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            out[f.severity if f.severity in out else "unknown"] += 1
        return out

    def to_dict(self, *, show_suppressed: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": "threatstryker-report/1",
            "target": self.target.to_dict(),
            "distro": self.distro.to_dict() if self.distro else None,
            "scanners": list(self.scanners),
            "created": self.created,
            "tool_version": self.tool_version,
            "duration_s": round(self.duration_s, 3),
            "partial": self.partial,
            "packages": self.packages,
            "db": self.db,
            "summary": {"by_severity": self.counts(), "suppressed": len(self.suppressed)},
            "findings": [f.to_dict() for f in self.findings],
            "notices": list(self.notices),
            "warnings": [w.to_dict() for w in self.warnings],
        }
        if show_suppressed:
            d["suppressed"] = [f.to_dict() for f in self.suppressed]
        return d
