"""Runs the posture checks on one target: the benchmarks that apply to it, every check's result with its
status and evidence, the failed checks as findings, and the counts per status."""

from __future__ import annotations

import fnmatch
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threatstryker.model.finding import MisconfigurationFinding
from threatstryker.posture.context import Context
from threatstryker.posture.crosswalk import Framework, FrameworkAssessment, assess, load_frameworks, mapping
from threatstryker.posture.engine import evaluate, load_checks
from threatstryker.posture.model import FAIL, STATUSES, CheckResult
from threatstryker.sources.filetree import FileTree


@dataclass(slots=True)
class PostureResult:
    """Every check's result, the failed ones as findings, and how many came out in each status."""

    results: list[CheckResult] = field(default_factory=list)
    findings: list[MisconfigurationFinding] = field(default_factory=list)
    duration_s: float = 0.0
    #: every framework's assessment; ``detailed``: the frameworks asked for (their requirements are listed)
    frameworks: list[FrameworkAssessment] = field(default_factory=list)
    detailed: tuple[str, ...] = ()
    #: the ``benchmark/area`` globs of the checks that were evaluated (``*/*``: all that apply to the target)
    scope: tuple[str, ...] = ("*/*",)

    def counts(self) -> dict[str, int]:
        found = Counter(r.status for r in self.results)
        return {s: found.get(s, 0) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {"checks": len(self.results), "by_status": self.counts(), "duration_s": round(self.duration_s, 3),
                "scope": list(self.scope),
                "results": [r.to_dict() for r in self.results],
                "frameworks": {a.framework.id: a.to_dict(detail=a.framework.id in self.detailed)
                               for a in self.frameworks}}


def finding_of(result: CheckResult, frameworks: Sequence[Framework] = ()) -> MisconfigurationFinding:
    c = result.check
    return MisconfigurationFinding(
        id=c.id, title=c.title, severity=c.severity, status=result.status, benchmark=c.benchmark, area=c.area,
        cis=c.cis, level=c.level, reason=result.reason, evidence=[e.to_dict() for e in result.evidence],
        remediation=c.remediation, frameworks=mapping(frameworks, c),
    )


def scan_posture(tree: FileTree, *, live: bool = False, image_config: dict[str, Any] | None = None,
                 benchmarks: Sequence[str] | None = None, check_paths: Sequence[Path] | None = None,
                 docker_host: str | None = None, kubeconfig: str | None = None, kube_context: str | None = None,
                 manifests: bool = False, frameworks: Sequence[str] = (),
                 areas: Sequence[str] = ("*/*",)) -> PostureResult:
    """Evaluate the checks (built-in, or those under ``check_paths``) of ``benchmarks`` (default: all) on
    ``tree``; ``live``: the tree is this host's running system; ``image_config``: the tree is an image's;
    ``docker_host``: the Engine API whose containers to check; ``kubeconfig``: a cluster whose objects to
    check; ``manifests``: Kubernetes manifests in the tree are workloads to check; ``frameworks``: the
    frameworks whose requirements to list (every framework is scored); ``areas``: ``benchmark/area`` globs of
    the checks to evaluate (a project directory is not a host: only its manifests and the Docker Engine's
    containers are). FrameworkError for an unknown name."""
    started = time.monotonic()
    ctx = Context(tree, live=live, image_config=image_config, docker_host=docker_host, kubeconfig=kubeconfig,
                  kube_context=kube_context, manifests=manifests)
    checks = [c for c in load_checks(check_paths, benchmarks)
              if any(fnmatch.fnmatchcase(f"{c.benchmark}/{c.area}", a) for a in areas)]
    known = load_frameworks(checks)
    load_frameworks(checks, frameworks)  # an unknown name fails before the checks run
    results = [evaluate(c, ctx) for c in checks]
    findings = [finding_of(r, known) for r in results if r.status == FAIL]
    assessments = [assess(fw, results) for fw in known]
    return PostureResult(results, findings, time.monotonic() - started, assessments,
                         tuple(f.lower() for f in frameworks), tuple(areas))


__all__ = ["PostureResult", "finding_of", "scan_posture"]
