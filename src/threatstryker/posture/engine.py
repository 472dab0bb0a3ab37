"""Loads check files (validated: a bad check names its file and id) and evaluates checks on a target: the
``applies_if`` probe first, then the check's probe; a probe that cannot read what it needs makes the check
ERROR with the reason, never PASS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from threatstryker.posture.context import Context, ProbeError
from threatstryker.posture.expect import ExpectError, validate
from threatstryker.posture.model import (
    ERROR,
    FAIL,
    MANUAL,
    NOT_APPLICABLE,
    PASS,
    SEVERITIES,
    STATUSES,
    Check,
    CheckResult,
    ProbeResult,
)
from threatstryker.posture.probes import PROBES, REQUIRED, VALIDATORS

BENCHMARKS = ("linux", "docker", "kubernetes", "image")
_TEXT_FIELDS = ("id", "title", "description", "rationale", "remediation")
_VALUE_PROBES = ("config_value", "sysctl", "json_key", "yaml_key", "process_flag", "image_config",
                 "component_setting", "docker_container")


#: libyaml's safe loader when PyYAML was built with it (ten times faster on the check files).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CheckFileError(ValueError):
    """A check file is malformed; the message names the file and the check."""


def builtin_checks_dir() -> Path:
    return Path(str(resources.files("threatstryker.posture") / "checks"))


def validate_probe(spec: Any, where: str) -> None:
    if not isinstance(spec, dict) or "type" not in spec:
        raise CheckFileError(f"{where}: a probe is a mapping with a type")
    kind = spec["type"]
    if kind not in REQUIRED:
        raise CheckFileError(f"{where}: unknown probe type {kind!r} (known: {', '.join(sorted(REQUIRED))})")
    missing = [f for f in REQUIRED[kind] if f not in spec]
    if kind == "file_content" and "path" not in spec and "paths" not in spec:
        missing.append("path or paths")
    if missing:
        raise CheckFileError(f"{where}: probe {kind} needs {', '.join(missing)}")
    if kind in ("all", "any"):
        if not isinstance(spec["probes"], list) or not spec["probes"]:
            raise CheckFileError(f"{where}: probe {kind} needs a non-empty list of probes")
        for i, sub in enumerate(spec["probes"]):
            validate_probe(sub, f"{where}.probes[{i}]")
    if kind in _VALUE_PROBES or kind == "config_value":
        try:
            validate(spec["expect"])
        except ExpectError as exc:
            raise CheckFileError(f"{where}: {exc}") from None
    if kind in VALIDATORS:
        try:
            VALIDATORS[kind](spec)
        except ValueError as exc:
            raise CheckFileError(f"{where}: {exc}") from None


def load_check_file(path: Path) -> list[Check]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise CheckFileError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("checks"), list):
        raise CheckFileError(f"{path}: a check file is a mapping with benchmark, area and a list of checks")
    benchmark, area = doc.get("benchmark"), doc.get("area")
    if benchmark not in BENCHMARKS or not isinstance(area, str):
        raise CheckFileError(f"{path}: benchmark must be one of {', '.join(BENCHMARKS)} and area a string")
    out = []
    for i, raw in enumerate(doc["checks"]):
        where = f"{path}: check {raw.get('id', f'#{i}') if isinstance(raw, dict) else f'#{i}'}"
        if not isinstance(raw, dict):
            raise CheckFileError(f"{where}: not a mapping")
        missing = [f for f in (*_TEXT_FIELDS, "severity", "level", "probe") if f not in raw]
        if missing:
            raise CheckFileError(f"{where}: missing {', '.join(missing)}")
        if raw["severity"] not in SEVERITIES:
            raise CheckFileError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        validate_probe(raw["probe"], f"{where}: probe")
        if raw.get("applies_if") is not None:
            validate_probe(raw["applies_if"], f"{where}: applies_if")
        out.append(Check(
            id=str(raw["id"]), title=str(raw["title"]), benchmark=benchmark, area=area,
            description=str(raw["description"]), rationale=str(raw["rationale"]),
            remediation=str(raw["remediation"]), severity=raw["severity"], level=int(raw["level"]),
            probe=raw["probe"], cis=str(raw.get("cis", "")), applies_if=raw.get("applies_if"),
            examples=raw.get("examples") or {}, source=str(path),
        ))
    return out


def load_checks(paths: Iterable[Path] | None = None, benchmarks: Sequence[str] | None = None) -> list[Check]:
    """Every check in the check files under ``paths`` (default: the built-in ones), optionally only some
    benchmarks; ids must be unique."""
    files: list[Path] = []
    for p in paths or [builtin_checks_dir()]:
        files += sorted(p.rglob("*.yaml")) if p.is_dir() else [p]
    checks: list[Check] = []
    seen: dict[str, str] = {}
    for f in files:
        for check in load_check_file(f):
            if check.id in seen:
                raise CheckFileError(f"{f}: check id {check.id} is also in {seen[check.id]}")
            seen[check.id] = str(f)
            if benchmarks is None or check.benchmark in benchmarks:
                checks.append(check)
    return checks


def run_probe(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    """A probe's result; ProbeError (an unreadable or unparseable file) becomes ERROR with its message."""
    kind = spec["type"]
    try:
        if kind == "manual":
            return ProbeResult(MANUAL, str(spec.get("reason", "needs a person to look")))
        if kind in ("all", "any"):
            return _combine(ctx, kind, spec["probes"])
        return PROBES[kind](ctx, spec)
    except ProbeError as exc:
        return ProbeResult(ERROR, str(exc))


def _combine(ctx: Context, kind: str, specs: list[dict[str, Any]]) -> ProbeResult:
    """``all``/``any`` of sub-probes. Sub-probes that do not apply are left out (all of them not applying:
    NOT_APPLICABLE); a deciding result (FAIL for all, PASS for any) wins over errors, and an error or a
    MANUAL among the rest is never turned into a PASS."""
    results = [run_probe(ctx, s) for s in specs]
    evidence = tuple(e for r in results for e in r.evidence)
    applicable = [r for r in results if r.status != NOT_APPLICABLE]
    if not applicable:
        return ProbeResult(NOT_APPLICABLE, results[0].reason, evidence)
    decisive = PASS if kind == "any" else FAIL
    for r in applicable:
        if r.status == decisive:
            return ProbeResult(decisive, r.reason, evidence)
    for status in (ERROR, MANUAL):
        bad = [r for r in applicable if r.status == status]
        if bad:
            return ProbeResult(status, bad[0].reason, evidence)
    other = FAIL if kind == "any" else PASS
    reasons = "; ".join(r.reason for r in applicable if r.reason)
    return ProbeResult(other, reasons, evidence)


def evaluate(check: Check, ctx: Context) -> CheckResult:
    """One check on one target; an unexpected error in a probe is ERROR (with its type), not a crash."""
    try:
        if check.applies_if is not None:
            gate = run_probe(ctx, check.applies_if)
            if gate.status == ERROR:
                return CheckResult(check, ERROR, f"cannot tell whether the check applies: {gate.reason}",
                                   gate.evidence)
            if gate.status != PASS:
                return CheckResult(check, NOT_APPLICABLE, gate.reason or "does not apply to this target",
                                   gate.evidence)
        result = run_probe(ctx, check.probe)
    except Exception as exc:  # a probe bug on odd input: reported on the check, the run goes on
        return CheckResult(check, ERROR, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    assert result.status in STATUSES
    return CheckResult(check, result.status, result.reason, result.evidence)


def evaluate_all(checks: Iterable[Check], ctx: Context) -> list[CheckResult]:
    return [evaluate(c, ctx) for c in checks]


__all__ = ["BENCHMARKS", "CheckFileError", "builtin_checks_dir", "evaluate", "evaluate_all", "load_check_file",
           "load_checks", "run_probe", "validate_probe"]
