"""Run the requested scanners over one target and assemble the :class:`ScanReport`.

:func:`scan_target` opens the target once. ``sbom`` and ``vuln`` catalog its packages (``vuln``
then opens the database read-only, matches and enriches); ``secret`` reads every file of the same
tree (and every image layer) with the secret engine, or with ``git`` the history of a repository.
Then the ignore file / VEX documents and the secrets baseline are applied. Problems that make a
scanner unusable (no database, a malformed ignore file, a bad rule file) raise :class:`ScanError`
with one line for the user.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .model.finding import ScanReport
from .model.package import Sbom, ScanWarning, TargetInfo

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_IGNORE_FILE",
    "SCANNERS",
    "ScanError",
    "ScanOptions",
    "db_info",
    "load_engine",
    "scan_target",
]

#: Scanners ``threatstryker scan`` knows; ``sbom`` lists packages, ``vuln`` matches them, ``secret`` finds
#: exposed credentials.
SCANNERS: tuple[str, ...] = ("sbom", "vuln", "secret", "malware", "posture")
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
    #: Secret scanner: extra rule files/directories (YAML or gitleaks TOML), whether they replace the built-in
    #: rules, the file-reading options, a baseline to suppress known findings, and git-history mode.
    secret_rules: Sequence[str] = field(default_factory=tuple)
    replace_rules: bool = False
    secret_options: Any = None  # threatstryker.secrets.scanner.SecretScanOptions
    baseline: str | None = None
    git: bool = False
    decode_depth: int = 0
    exclude: Sequence[str] = field(default_factory=tuple)
    cross_mounts: bool = False
    timeout: float | None = None
    #: Malware scanner: rule files/directories, whether the built-in rules (and the installed feed) are used,
    #: the compiled-rules cache, and the file-reading options.
    malware_rules: Sequence[str] = field(default_factory=tuple)
    builtin_malware_rules: bool = True
    malware_cache: str | None = None
    malware_options: Any = None  # threatstryker.malware.scanner.MalwareScanOptions
    #: Posture: the Docker Engine API whose containers the runtime checks read, the kubeconfig (and context)
    #: of a cluster whose objects the Kubernetes workload checks read, the frameworks to report on.
    docker_host: str | None = None
    kubeconfig: str | None = None
    kube_context: str | None = None
    frameworks: Sequence[str] = field(default_factory=tuple)
    #: ``time.monotonic()`` at which ``timeout`` runs out (set by :func:`scan_target`).
    deadline: float | None = None


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


def load_engine(options: ScanOptions) -> Any:
    """The secret engine for ``options`` (built-in rules plus or instead of the user's); ScanError on a bad rule."""
    from .secrets.engine import SecretEngine
    from .secrets.ruleset import RuleError, load_ruleset

    try:
        ruleset = load_ruleset(list(options.secret_rules) or None, replace_builtin=options.replace_rules)
    except (RuleError, OSError) as exc:
        raise ScanError(str(exc)) from None
    return SecretEngine(ruleset, decode_depth=options.decode_depth)


def _secrets(tree: Any, report: ScanReport, options: ScanOptions, progress: Any) -> None:
    from .secrets.scanner import SecretScanOptions, scan_tree

    engine = load_engine(options)
    secret_options = options.secret_options or SecretScanOptions(exclude=tuple(options.exclude))
    secret_options = replace(secret_options, timeout=_remaining(options, 2 if "malware" in options.scanners else 1))
    result = scan_tree(tree, engine, secret_options, progress)
    report.findings += result.findings
    report.warnings += result.warnings
    report.partial = report.partial or result.partial
    report.db["secrets"] = result.stats.to_dict()


def load_malware_rules(options: ScanOptions) -> Any:
    """The compiled malware rules for ``options``: the built-in set and the installed feed (unless left out)
    plus the user's files; ScanError when none load. Files that do not compile are in ``errors``."""
    from pathlib import Path

    from .malware.feed import installed_rules_dir
    from .malware.ruleset import RuleSetError, builtin_rules_dir, load_rules

    paths: list[str] = []
    if options.builtin_malware_rules:
        paths.append(str(builtin_rules_dir()))
        feed = installed_rules_dir()
        if feed is not None:
            paths.append(str(feed))
    paths += list(options.malware_rules)
    if not paths:
        raise ScanError("no malware rules: give --malware-rules or keep the built-in rules")
    try:
        return load_rules(paths, cache_dir=Path(options.malware_cache) if options.malware_cache else None)
    except RuleSetError as exc:
        raise ScanError(str(exc)) from None


def _remaining(options: ScanOptions, scanners_left: int = 1) -> float | None:
    """Seconds a scanner may take of ``--timeout``, which bounds the whole scan: its share of what is left when
    it starts (``scanners_left`` scanners, itself included, still to run; at least a moment, so that a scanner
    left no time reports itself as timed out rather than not running)."""
    if options.deadline is None:
        return None
    return max(0.001, (options.deadline - time.monotonic()) / max(1, scanners_left))


def own_rule_paths(tree: Any, options: ScanOptions) -> list[str]:
    """Globs of the scanner's own rule files and compiled rules inside ``tree`` (a directory of this host, such
    as the live host's root): they hold every rule's strings and would match their own rules."""
    from .malware.feed import feed_dir
    from .malware.ruleset import builtin_rules_dir, default_cache_dir
    from .sources.dirtree import DirTree

    if not isinstance(tree, DirTree):
        return []
    root = os.path.realpath(tree.root)
    out: list[str] = []
    cache = Path(options.malware_cache) if options.malware_cache else default_cache_dir()
    for path in (cache, feed_dir(), builtin_rules_dir(), *map(Path, options.malware_rules)):
        real = os.path.realpath(path)
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            continue
        inside = "/" + os.path.relpath(real, root)
        out += [inside, f"{inside}/**"]
    return out


def _malware(tree: Any, report: ScanReport, options: ScanOptions, progress: Any) -> None:
    from .malware.engine import MalwareEngine
    from .malware.ruleset import describe
    from .malware.scanner import MalwareScanOptions, scan_tree

    compiled = load_malware_rules(options)
    for error in compiled.errors:
        report.warnings.append(ScanWarning(error.path, f"rule file left out: {error}"))
    malware_options = options.malware_options or MalwareScanOptions(exclude=tuple(options.exclude))
    malware_options = replace(malware_options, timeout=_remaining(options))
    own = own_rule_paths(tree, options)
    if own:
        malware_options = replace(malware_options, exclude=(*malware_options.exclude, *own))
    engine = MalwareEngine.of(compiled, malware_options.file_timeout)
    result = scan_tree(tree, engine, malware_options, progress)
    report.findings += result.findings
    report.warnings += result.warnings
    report.partial = report.partial or result.partial
    report.db["malware"] = {**result.stats.to_dict(), "rules": describe(compiled)}


def default_kubeconfig() -> str:
    """The kubeconfig kubectl would use: the first file of ``$KUBECONFIG``, else ``~/.kube/config``."""
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return first or os.path.expanduser("~/.kube/config")


def _posture(tree: Any, info: TargetInfo, report: ScanReport, options: ScanOptions) -> None:
    from .posture.crosswalk import FrameworkError
    from .posture.engine import CheckFileError
    from .posture.scanner import scan_posture

    live = info.scheme == "rootfs" and os.path.realpath(info.path) == "/"
    # a project directory is not a host: only its Kubernetes manifests (and a Docker Engine's containers) apply
    areas = ("kubernetes/workloads", "docker/container-runtime") if info.scheme == "dir" else ("*/*",)
    kubeconfig, kube_context = options.kubeconfig, options.kube_context
    if info.scheme == "k8s":  # a cluster: its workloads through the kubeconfig's API server, nothing else
        areas = ("kubernetes/workloads",)
        kubeconfig = kubeconfig or default_kubeconfig()
        kube_context = info.path or kube_context
    try:
        image = info.config if info.scheme in ("docker-archive", "oci-dir", "oci-archive") else None
        result = scan_posture(tree, live=live, image_config=image, docker_host=options.docker_host,
                              kubeconfig=kubeconfig, kube_context=kube_context,
                              manifests=info.scheme == "dir", frameworks=options.frameworks, areas=areas)
    except (CheckFileError, FrameworkError) as exc:
        raise ScanError(str(exc)) from None
    report.findings += result.findings
    report.db["posture"] = {**result.to_dict(), "live": live}


def _git(path: str, report: ScanReport, options: ScanOptions) -> None:
    from .secrets.git import GitScanError, scan_git
    from .secrets.scanner import SecretScanOptions

    engine = load_engine(options)
    secret_options = replace(options.secret_options or SecretScanOptions(), timeout=_remaining(options))
    try:
        result = scan_git(Path(path), engine, secret_options)
    except GitScanError as exc:
        raise ScanError(str(exc)) from None
    report.findings += result.findings
    report.warnings += result.warnings
    report.partial = report.partial or result.partial
    report.db["secrets"] = result.stats.to_dict()


def _baseline(report: ScanReport, options: ScanOptions) -> None:
    if not options.baseline:
        return
    from .secrets.baseline import BaselineError, apply_baseline, load_baseline

    try:
        baseline = load_baseline(options.baseline)
    except BaselineError as exc:
        raise ScanError(str(exc)) from None
    report.findings, known = apply_baseline(report.findings, baseline)
    report.suppressed += known


def scan_target(target: str, options: ScanOptions, *, catalog_progress: Any = None,
                secret_progress: Any = None, malware_progress: Any = None) -> ScanReport:
    """Open ``target`` once and run ``options.scanners`` on it. Raises :class:`ScanError` (one line) when a
    scanner cannot run and ``threatstryker.sources.TargetError`` when the target cannot be opened."""
    from .sbom.catalog import catalog_tree
    from .sbom.catalogers import select_catalogers
    from .sbom.formats.readers import read_sbom_file
    from .sources import open_target

    unknown = set(options.scanners) - set(SCANNERS)
    if unknown:
        raise ScanError(f"unknown scanner(s): {', '.join(sorted(unknown))}; available: {', '.join(SCANNERS)}")
    if options.timeout and options.deadline is None:
        options = replace(options, deadline=time.monotonic() + options.timeout)
    if options.git:
        if set(options.scanners) != {"secret"}:
            raise ScanError("--git scans a repository's history for secrets only: use --scanners secret")
        from .sources.target import split_target

        scheme, path = split_target(target)
        if scheme not in ("dir", "rootfs"):
            raise ScanError(f"--git needs a directory holding a git repository, not a {scheme}: target")
        report = _empty_report(Sbom(target=TargetInfo("git", path, name=path)), options)
        started = datetime.now(UTC)
        _git(path, report, options)
        _finish(report, options, started)
        return report
    if target.startswith("k8s:"):
        if set(options.scanners) != {"posture"}:
            raise ScanError("a k8s: target is a cluster read through its API: use --scanners posture")
        kubeconfig = options.kubeconfig or default_kubeconfig()
        if not os.path.isfile(kubeconfig):
            raise ScanError(f"k8s: target: no kubeconfig at {kubeconfig} (give --kubeconfig FILE)")
    with open_target(target, exclude=options.exclude, cross_mounts=options.cross_mounts) as opened:
        if opened.tree is None:
            sbom = read_sbom_file(opened.info)
        elif {"sbom", "vuln"} & set(options.scanners):
            sbom = catalog_tree(opened.tree, opened.info, select_catalogers(None), progress=catalog_progress,
                                timeout=_remaining(options))
        else:
            sbom = Sbom(target=opened.info)
        report = _empty_report(sbom, options)
        started = datetime.now(UTC)
        if "vuln" in options.scanners:
            _vulnerabilities(sbom, report, options)
        if "secret" in options.scanners:
            if opened.tree is None:
                report.warnings.append(ScanWarning(opened.info.path, "an SBOM document has no files: "
                                                   "the secret scanner did not run"))
            else:
                _secrets(opened.tree, report, options, secret_progress)
        if "posture" in options.scanners:
            if opened.tree is None:
                report.warnings.append(ScanWarning(opened.info.path, "an SBOM document has no files: "
                                                   "the posture checks did not run"))
            else:
                _posture(opened.tree, opened.info, report, options)
        if "malware" in options.scanners:
            if opened.tree is None:
                report.warnings.append(ScanWarning(opened.info.path, "an SBOM document has no files: "
                                                   "the malware scanner did not run"))
            else:
                _malware(opened.tree, report, options, malware_progress)
    _finish(report, options, started)
    return report


def _empty_report(sbom: Sbom, options: ScanOptions) -> ScanReport:
    return ScanReport(
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


def _finish(report: ScanReport, options: ScanOptions, started: datetime) -> None:
    _suppress(report, options)
    _baseline(report, options)
    report.duration_s += (datetime.now(UTC) - started).total_seconds()
