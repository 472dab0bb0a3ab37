"""Probes on Kubernetes and Docker components: whether one is on the target, a setting's effective value
(flag, config file or default, see ``posture/components.py``), the mode and owner of a file a setting names
or of its systemd unit, and the mode and owner of every file a glob matches (the PKI directory)."""

from __future__ import annotations

import posixpath
from typing import Any

from threatstryker.posture.components import KINDS, Component, Instance, component, setting, unit_files
from threatstryker.posture.context import Context
from threatstryker.posture.expect import describe, meets
from threatstryker.posture.model import ERROR, FAIL, NOT_APPLICABLE, PASS, Evidence, ProbeResult

from .files import file_mode

_MODE_FIELDS = ("max_mode", "owner", "group", "missing")
_MISSING = {"pass": PASS, "fail": FAIL, "not_applicable": NOT_APPLICABLE}
#: Evidence lines kept for the files of a glob (the failing ones first).
_MAX_EVIDENCE = 10


def _flags(spec: dict[str, Any]) -> list[str]:
    flag = spec.get("flag", [])
    return [flag] if isinstance(flag, str) else list(flag)


def _absent(comp: Component) -> ProbeResult:
    return ProbeResult(NOT_APPLICABLE, f"{comp.name} is not on this target (no process, static pod manifest, "
                                       "systemd unit, config file or binary)")


def _who(comp: Component, inst: Instance) -> str:
    return f"{comp.name} ({inst.label})" if inst.label else comp.name


def component_present(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    comp = component(ctx, spec["component"])
    if not comp.instances:
        return _absent(comp)
    return ProbeResult(PASS, "", tuple(Evidence(i.source, "found", f"{comp.name} present") for i in comp.instances))


def _value(comp: Component, inst: Instance, spec: dict[str, Any]) -> tuple[str | None, str]:
    expect = spec.get("expect") or {}
    arg = next(iter(expect.values()), None)
    boolean = bool(spec.get("boolean", isinstance(spec.get("default"), bool) or isinstance(arg, bool)))
    options: dict[str, Any] = {k: spec[k] for k in ("default", "config_default") if k in spec}
    found = setting(comp, inst, _flags(spec), spec.get("config_key"), boolean=boolean,
                    repeatable=bool(spec.get("repeatable")), item=spec.get("flag_item"), **options)
    return found.value, found.source


def _differs(ctx: Context, value: str | None, other: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``value`` (a path) is not the file another component's setting names."""
    comp = component(ctx, other["component"])
    for inst in comp.instances:
        theirs, _ = _value(comp, inst, other)
        if value is not None and theirs is not None and posixpath.normpath(theirs) == posixpath.normpath(value):
            return False, f"is {value!r}, the same as {comp.name} {_flags(other)[0]}"
    return True, ""


def component_setting(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    comp = component(ctx, spec["component"])
    if not comp.instances:
        return _absent(comp)
    flags, expect, key = _flags(spec), spec["expect"], spec.get("config_key")
    label = flags[0] + (f"[{spec['flag_item']}]" if spec.get("flag_item") else "")
    wanted = f"{label}{f' / {key}' if key else ''} {describe(expect)}"
    evidence, failures = [], []
    for inst in comp.instances:
        value, source = _value(comp, inst, spec)
        ok, why = meets(value, expect)
        if ok and spec.get("differs_from"):
            ok, why = _differs(ctx, value, spec["differs_from"])
        evidence.append(Evidence(source, value, wanted))
        if not ok:
            failures.append(f"{_who(comp, inst)}: {label} {why}")
    return ProbeResult(FAIL if failures else PASS, "; ".join(failures), tuple(evidence))


def _merge(results: list[ProbeResult]) -> ProbeResult:
    """Several files' results as one: FAIL if any fails, else ERROR, else PASS; all not applicable: NA."""
    evidence = tuple(e for r in results for e in r.evidence)
    for status in (FAIL, ERROR):
        bad = [r for r in results if r.status == status]
        if bad:
            return ProbeResult(status, "; ".join(r.reason for r in bad), evidence)
    if all(r.status == NOT_APPLICABLE for r in results):
        return ProbeResult(NOT_APPLICABLE, results[0].reason if results else "no file", evidence)
    return ProbeResult(PASS, "", evidence)


def _mode(files: Context, path: str, spec: dict[str, Any]) -> ProbeResult:
    result = file_mode(files, {"path": path, **{k: spec[k] for k in _MODE_FIELDS if k in spec}})
    if result.status == FAIL and result.reason and not result.reason.startswith(path):
        return ProbeResult(FAIL, f"{path}: {result.reason}", result.evidence)
    return result


def component_file(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    """The file a component's setting names (``flag`` / ``config_key``, else ``default_path``), or with
    ``unit_files: true`` its systemd unit file and drop-ins, checked as ``file_mode`` checks a path."""
    comp = component(ctx, spec["component"])
    if not comp.instances:
        return _absent(comp)
    if spec.get("unit_files"):
        paths = unit_files(ctx, comp.kind.unit)
        if not paths:
            return ProbeResult(NOT_APPLICABLE, f"{comp.name} is not run by a systemd unit ({comp.kind.unit})")
        return _merge([_mode(ctx, p, spec) for p in paths])
    label = (_flags(spec) or [spec.get("config_key") or "the file"])[0]
    results = []
    for inst in comp.instances:
        path, source = _value(comp, inst, {**spec, "expect": {}}) if _flags(spec) or spec.get("config_key") \
            else (None, "")
        if path is None and spec.get("default_path"):
            path, source = str(spec["default_path"]), "default"
        if path is None:
            results.append(ProbeResult(NOT_APPLICABLE, f"{_who(comp, inst)}: {label} is not set",
                                       (Evidence(source, None, f"{label} names a file"),)))
            continue
        named = Evidence(source, path, f"{label} names the file")
        result = _mode(inst.files, path, spec)
        if inst.root:  # a containerised process's file: show where it is on the host
            result = ProbeResult(result.status, result.reason.replace(path, inst.root + path, 1), tuple(
                Evidence(inst.root + e.source, e.found, e.expected) for e in result.evidence))
        results.append(ProbeResult(result.status, result.reason, (named, *result.evidence)))
    return _merge(results)


def file_modes(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    """Every path the globs in ``paths`` match (wildcards in the last component) checked as ``file_mode``
    checks one; none matching: ``missing`` (default fail)."""
    paths = list(dict.fromkeys(p for pattern in spec["paths"] for p in ctx.glob(pattern)))
    if not paths:
        where = ", ".join(spec["paths"])
        return ProbeResult(_MISSING[spec.get("missing", "fail")], f"{where}: not found",
                           (Evidence(where, None, "exists"),))
    results = [_mode(ctx, p, spec) for p in paths]
    failed = [r for r in results if r.status != PASS]
    if failed:
        merged = _merge(failed)
        return ProbeResult(merged.status, merged.reason, merged.evidence[:_MAX_EVIDENCE])
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    wanted = " ".join(f"{k} {spec[k]}" for k in ("max_mode", "owner", "group") if k in spec)
    return ProbeResult(PASS, "", (Evidence(shown, f"{len(paths)} paths within", wanted),))


def validate_component(spec: dict[str, Any]) -> None:
    """The component is one this project knows; a component_file says which file; ``differs_from`` names
    a component and a flag."""
    if spec.get("component") not in KINDS:
        raise ValueError(f"component must be one of {', '.join(sorted(KINDS))}")
    if spec["type"] == "component_file" and not any(spec.get(k) for k in ("flag", "config_key", "default_path",
                                                                           "unit_files")):
        raise ValueError("component_file needs flag, config_key, default_path or unit_files")
    other = spec.get("differs_from")
    if other is not None and (not isinstance(other, dict) or other.get("component") not in KINDS
                              or "flag" not in other):
        raise ValueError("differs_from needs a known component and a flag")


__all__ = ["component_file", "component_present", "component_setting", "file_modes", "validate_component"]
