"""The framework crosswalk: which requirements of PCI DSS, HIPAA, NIST SP 800-53, SOC 2 and GDPR (data files
in ``posture/frameworks/``) and which CIS sections (the checks' own ``cis`` ids) each check serves, and what a
scan's check results say about each requirement: its status and a compliance score per framework."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from threatstryker.posture.model import ERROR, FAIL, MANUAL, NOT_APPLICABLE, PASS, STATUSES, Check, CheckResult

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: The CIS "framework" is built from the checks' own section ids, per benchmark.
CIS = "cis"
CIS_BENCHMARKS = {"linux": "Linux (Debian 12 numbering)", "docker": "Docker", "kubernetes": "Kubernetes",
                  "image": "Docker"}
#: A requirement's status from its checks' statuses: the first of these present wins. A requirement with a
#: failed check fails; one that could not be checked is ERROR even when other checks passed; one where a
#: person still has to look is MANUAL; PASS only when every applicable check passed.
_PRECEDENCE = (FAIL, ERROR, MANUAL, PASS)


class FrameworkError(ValueError):
    """A framework file is malformed or a framework name is unknown; the message says which."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement (or control) of a framework and the checks that serve it: check-id globs and
    ``benchmark/area`` globs."""

    id: str
    title: str
    checks: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()

    def covers(self, check: Check) -> bool:
        return bool(_globs(self.checks).match(check.id) or _globs(self.areas).match(f"{check.benchmark}/{check.area}"))


@lru_cache(maxsize=4096)
def _globs(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regular expression matching what any of the fnmatch ``patterns`` matches (none: matches nothing)."""
    if not patterns:
        return re.compile(r"(?!)")
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True, slots=True)
class Framework:
    id: str
    name: str
    version: str
    requirements: tuple[Requirement, ...]
    url: str = ""
    source: str = ""


@dataclass(slots=True)
class RequirementResult:
    requirement: Requirement
    status: str
    counts: dict[str, int]
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        r = self.requirement
        return {"id": r.id, "title": r.title, "status": self.status, "checks": self.counts,
                "failed": self.failed, "errors": self.errors}


@dataclass(slots=True)
class FrameworkAssessment:
    """A framework's requirements as a scan's results leave them, and its score: the share of its distinct
    applicable automated checks that passed (ERROR counts against it; MANUAL and NOT_APPLICABLE are left out)."""

    framework: Framework
    requirements: list[RequirementResult]
    check_counts: dict[str, int]

    @property
    def score(self) -> float | None:
        c = self.check_counts
        judged = c[PASS] + c[FAIL] + c[ERROR]
        return round(100.0 * c[PASS] / judged, 1) if judged else None

    def requirement_counts(self) -> dict[str, int]:
        found = Counter(r.status for r in self.requirements)
        return {s: found.get(s, 0) for s in STATUSES}

    def to_dict(self, *, detail: bool = True) -> dict[str, Any]:
        fw = self.framework
        out: dict[str, Any] = {"id": fw.id, "name": fw.name, "version": fw.version, "score": self.score,
                               "checks": self.check_counts, "requirements_by_status": self.requirement_counts()}
        if detail:
            out["requirements"] = [r.to_dict() for r in self.requirements]
        return out


def builtin_frameworks_dir() -> Path:
    return Path(str(resources.files("threatstryker.posture") / "frameworks"))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FrameworkError(f"{where}: a list of strings is expected")
    return tuple(value)


def load_framework_file(path: Path) -> Framework:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise FrameworkError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("requirements"), list):
        raise FrameworkError(f"{path}: a framework file is a mapping with id, name, version and requirements")
    missing = [k for k in ("id", "name", "version") if not doc.get(k)]
    if missing:
        raise FrameworkError(f"{path}: missing {', '.join(missing)}")
    requirements, seen = [], set()
    for i, raw in enumerate(doc["requirements"]):
        where = f"{path}: requirement {raw.get('id', f'#{i}') if isinstance(raw, dict) else f'#{i}'}"
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("title"):
            raise FrameworkError(f"{where}: needs an id and a title")
        rid = str(raw["id"])
        if rid in seen:
            raise FrameworkError(f"{where}: duplicate requirement id")
        seen.add(rid)
        req = Requirement(rid, str(raw["title"]), _strings(raw.get("checks"), f"{where}: checks"),
                          _strings(raw.get("areas"), f"{where}: areas"))
        if not req.checks and not req.areas:
            raise FrameworkError(f"{where}: names no checks and no areas")
        requirements.append(req)
    return Framework(str(doc["id"]), str(doc["name"]), str(doc["version"]), tuple(requirements),
                     str(doc.get("url", "")), str(path))


def cis_framework(checks: Iterable[Check]) -> Framework:
    """The CIS benchmarks as a framework: one requirement per CIS benchmark and section id the checks carry
    (the Docker benchmark's section 4 is about images: image checks and container checks can share one)."""
    by_section: dict[tuple[str, str], list[str]] = {}
    for c in checks:
        if c.cis:
            by_section.setdefault((CIS_BENCHMARKS.get(c.benchmark, c.benchmark), c.cis), []).append(c.id)
    requirements = [
        Requirement(f"{name.split(' ')[0]} {sec}", f"CIS {name} {sec}", tuple(ids))
        for (name, sec), ids in sorted(by_section.items(), key=lambda kv: (kv[0][0], _section_key(kv[0][1])))
    ]
    return Framework(CIS, "CIS Benchmarks", "Debian Linux 12, Docker, Kubernetes", tuple(requirements))


def _section_key(section: str) -> tuple[Any, ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in section.split("."))


def load_frameworks(checks: Sequence[Check], names: Sequence[str] | None = None,
                    paths: Sequence[Path] | None = None) -> list[Framework]:
    """The frameworks named (default: all), from the built-in files (or ``paths``) plus CIS from ``checks``."""
    files: list[Path] = []
    for p in paths or [builtin_frameworks_dir()]:
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    frameworks = [cis_framework(checks), *(load_framework_file(f) for f in files)]
    if not names:
        return frameworks
    by_id = {f.id: f for f in frameworks}
    unknown = [n for n in names if n.lower() not in by_id]
    if unknown:
        raise FrameworkError(f"unknown framework(s): {', '.join(unknown)}; available: {', '.join(by_id)}")
    return [by_id[n.lower()] for n in dict.fromkeys(names)]


def requirement_status(statuses: Iterable[str]) -> str:
    present = set(statuses)
    for status in _PRECEDENCE:
        if status in present:
            return status
    return NOT_APPLICABLE


def assess(framework: Framework, results: Sequence[CheckResult]) -> FrameworkAssessment:
    """Each requirement's status from the results of the checks it covers, and the framework's check counts."""
    covered: dict[str, str] = {}
    reqs = []
    for req in framework.requirements:
        mine = [r for r in results if req.covers(r.check)]
        counts = Counter(r.status for r in mine)
        for r in mine:
            covered[r.check.id] = r.status
        reqs.append(RequirementResult(
            req, requirement_status(counts), {s: counts.get(s, 0) for s in STATUSES},
            sorted(r.check.id for r in mine if r.status == FAIL),
            sorted(r.check.id for r in mine if r.status == ERROR),
        ))
    totals = Counter(covered.values())
    return FrameworkAssessment(framework, reqs, {s: totals.get(s, 0) for s in STATUSES})


def mapping(frameworks: Sequence[Framework], check: Check) -> dict[str, list[str]]:
    """The requirement ids of each framework that ``check`` serves (frameworks it serves none of left out)."""
    out = {}
    for fw in frameworks:
        ids = [r.id for r in fw.requirements if r.covers(check)]
        if ids:
            out[fw.id] = ids
    return out


__all__ = ["CIS", "Framework", "FrameworkAssessment", "FrameworkError", "Requirement", "RequirementResult",
           "assess", "builtin_frameworks_dir", "cis_framework", "load_framework_file", "load_frameworks",
           "mapping", "requirement_status"]
