"""Kubernetes workload probes: ``k8s_workload`` holds every workload's pod spec, container or object to a rule
(FAIL naming each ``Kind/namespace/name`` and container that breaks it), ``k8s_namespace`` every namespace
that has workloads to a NetworkPolicy rule; NOT_APPLICABLE when the target has no workloads.

Keys are dotted; a segment ending in ``[*]`` takes every item of the list there (``volumes[*].hostPath``),
items named by their ``name`` in the evidence. Values that are null or empty count as not set. A key without
``[*]`` has one value (not set: ``pod_key``'s value for a container, else ``default``, else not set); with
``[*]`` and ``each: true`` every value must meet ``expect`` (none: nothing breaks the rule), without ``each``
one of them must. ``where: {key, expect}`` keeps only the items of the key's last list that meet it; ``or``
lists alternative rules (``{key, pod_key, expect, default, each, where}``), any of which may be met;
``redact: true`` keeps the values (secrets) out of the result; ``expected`` words the rule for the evidence."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from threatstryker.posture.context import Context
from threatstryker.posture.expect import as_text, meets, shown, validate
from threatstryker.posture.kube import Inventory, Workload, inventory
from threatstryker.posture.model import ERROR, FAIL, NOT_APPLICABLE, PASS, Evidence, ProbeResult

SCOPES = ("pod", "container", "object")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
NAMESPACE_RULES = ("network_policy", "default_deny_ingress", "default_deny_egress")
#: Offenders named in a FAIL's reason, and evidence entries kept.
MAX_NAMED = 10
MAX_EVIDENCE = 100
_SEGMENT = re.compile(r"([^.\[\]]+)(\[\*\])?")


def parse_key(key: Any) -> list[tuple[str, bool]]:
    """The segments of a dotted key, each with whether it ends in ``[*]``; ValueError when malformed."""
    out = []
    for part in str(key).split("."):
        m = _SEGMENT.fullmatch(part)
        if m is None:
            raise ValueError(f"bad key {key!r}: dotted names, each optionally ending in [*]")
        out.append((m[1], bool(m[2])))
    return out


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _holds(node: Any, cond: dict[str, Any]) -> bool:
    found = values_at(node, cond["key"])
    return meets(as_text(found[0][1]) if found else None, cond["expect"])[0]


def values_at(node: Any, key: str, where: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """(label, value) of every set value at ``key`` in ``node``; ``where`` filters the items of the last list."""
    segments = parse_key(key)
    last = max((i for i, (_, wild) in enumerate(segments) if wild), default=-1)
    found: list[tuple[str, Any]] = [("", node)]
    for i, (name, wild) in enumerate(segments):
        step: list[tuple[str, Any]] = []
        for label, at in found:
            if not isinstance(at, dict) or name not in at:
                continue
            here = f"{label}.{name}" if label else name
            if not wild:
                step.append((here, at[name]))
                continue
            for j, item in enumerate(at[name] if isinstance(at[name], list) else []):
                if i == last and where is not None and not _holds(item, where):
                    continue
                named = item.get("name") if isinstance(item, dict) else None
                step.append((f"{here}[{named if isinstance(named, str) and named else j}]", item))
        found = step
    return [(label, value) for label, value in found if not _empty(value)]


def _judge(node: Any, pod: dict[str, Any], rule: dict[str, Any], redact: bool) -> tuple[bool, str | None, str]:
    """Whether ``node`` meets one rule: the verdict, the value(s) found as text, and why not."""
    key, expect = rule["key"], rule["expect"]
    values = values_at(node, key, rule.get("where"))
    if not values and rule.get("pod_key"):
        values = [(f"pod {label}", v) for label, v in values_at(pod, rule["pod_key"], rule.get("where"))]

    def show(label: str, value: Any) -> str:
        return f"{label}=(withheld)" if redact else f"{label}={as_text(value)}"

    def fault(label: str, value: Any) -> str:
        if redact:
            return f"{label} is set (value withheld)" if "absent" in expect else f"{label}: not {shown(expect)}"
        return f"{label} {meets(as_text(value), expect)[1]}"

    if "[*]" in key and rule.get("each"):
        bad = [(label, v) for label, v in values if not meets(as_text(v), expect)[0]]
        if bad:
            return False, ", ".join(show(lb, v) for lb, v in bad)[:300], "; ".join(fault(lb, v) for lb, v in bad)
        return True, None, ""
    if not values:
        if "default" in rule:
            value = as_text(rule["default"])
            ok, why = meets(value, expect)
            return ok, f"{value} (not set: the default)", f"{key} not set, the default {why}"
        ok, why = meets(None, expect)
        return ok, None, f"{key} {why}"
    for label, v in values:
        if meets(as_text(v), expect)[0]:
            return True, show(label, v), ""
    if len(values) == 1:
        label, v = values[0]
        return False, ("(withheld)" if redact else as_text(v)[:300]), fault(label, v)
    return False, ", ".join(show(lb, v) for lb, v in values)[:300], f"{key}: no value {shown(expect)}"


def _units(w: Workload, scope: str, lists: list[str]) -> Iterator[tuple[Any, str]]:
    """What a rule is held to in a workload: its pod spec, object, or each container (with a label)."""
    if scope == "pod":
        yield w.pod, ""
    elif scope == "object":
        yield w.obj, ""
    else:
        for field in lists:
            items = w.pod.get(field)
            for i, c in enumerate(items if isinstance(items, list) else []):
                if isinstance(c, dict):
                    yield c, f"{field[:-1]} {c.get('name') or i}"


def _nothing(inv: Inventory) -> ProbeResult:
    scan = inv.manifests
    if scan is not None and scan.unreadable:
        path, why = scan.unreadable[0]
        return ProbeResult(ERROR, f"{len(scan.unreadable)} manifest file(s) could not be read ({path}: {why})")
    notes = inv.notes()
    return ProbeResult(NOT_APPLICABLE, "no Kubernetes workloads (no Pod or controller manifests, no cluster objects)"
                       + (f"; {notes}" if notes else ""))


def _verdict(inv: Inventory, offenders: list[tuple[str, str, Evidence]], total: int, unit: str,
             expected: str) -> ProbeResult:
    if offenders:
        named = "; ".join(f"{who}: {why}" for who, why, _ in offenders[:MAX_NAMED])
        more = f"; and {len(offenders) - MAX_NAMED} more" if len(offenders) > MAX_NAMED else ""
        return ProbeResult(FAIL, f"{len(offenders)} of {total} {unit}: {named}{more}",
                           tuple(ev for _, _, ev in offenders[:MAX_EVIDENCE]))
    scan = inv.manifests
    if scan is not None and scan.unreadable:
        path, why = scan.unreadable[0]
        return ProbeResult(ERROR, f"{len(scan.unreadable)} manifest file(s) could not be read ({path}: {why}); "
                                  f"the {total} {unit} read meet the rule")
    sources = sorted({w.source.rsplit(":", 1)[0] for w in inv.workloads})
    where = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
    notes = inv.notes()
    found = f"all {total} {unit} meet it" + (f" ({notes})" if notes else "")
    return ProbeResult(PASS, "", (Evidence(where, found, expected),))


def k8s_workload(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    inv = inventory(ctx)
    if not inv.workloads:
        return _nothing(inv)
    scope, redact = spec["scope"], bool(spec.get("redact"))
    rules = [spec, *(spec.get("or") or [])]
    lists = list(spec.get("containers") or CONTAINER_LISTS)
    expected = str(spec.get("expected") or " or ".join(f"{r['key']} {shown(r['expect'])}" for r in rules))
    offenders: list[tuple[str, str, Evidence]] = []
    total = 0
    for w in inv.workloads:
        for node, label in _units(w, scope, lists):
            total += 1
            verdicts = [_judge(node, w.pod, r, redact) for r in rules]
            if any(ok for ok, _, _ in verdicts):
                continue
            who = f"{w.ref} {label}".strip()
            found = "; ".join(f for _, f, _ in verdicts if f) or None
            why = " and ".join(y for _, _, y in verdicts)
            offenders.append((who, why, Evidence(f"{w.source} {who}", found, expected)))
    unit = "containers" if scope == "container" else "workloads"
    return _verdict(inv, offenders, total, unit, expected)


def denies_all(policy: dict[str, Any], direction: str) -> bool:
    """Whether a NetworkPolicy selects every pod of its namespace and allows no traffic in ``direction``
    (``Ingress`` or ``Egress``): the default-deny shape."""
    spec: dict[str, Any] = policy["spec"] if isinstance(policy.get("spec"), dict) else {}
    selector = spec.get("podSelector") or {}
    if not isinstance(selector, dict) or selector.get("matchLabels") or selector.get("matchExpressions"):
        return False
    types = spec.get("policyTypes")
    if not isinstance(types, list):  # the API's default: Ingress, and Egress when egress rules are given
        types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    return direction in types and not spec.get(direction.lower())


def k8s_namespace(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    inv = inventory(ctx)
    if not inv.workloads:
        return _nothing(inv)
    rule = spec["require"]
    by_ns: dict[str, list[Workload]] = {}
    for w in inv.workloads:
        by_ns.setdefault(w.namespace, []).append(w)
    direction = "Egress" if rule == "default_deny_egress" else "Ingress"
    expected = ("a NetworkPolicy in the namespace" if rule == "network_policy" else
                f"a NetworkPolicy with podSelector {{}}, {direction} in policyTypes and no {direction.lower()} rules")
    offenders: list[tuple[str, str, Evidence]] = []
    for ns, workloads in by_ns.items():
        policies = [p for n, p, _ in inv.policies if n == ns]
        if rule == "network_policy" and policies:
            continue
        if rule != "network_policy" and any(denies_all(p, direction) for p in policies):
            continue
        names = ", ".join(sorted(str((p.get("metadata") or {}).get("name", "?")) for p in policies))
        found = "no NetworkPolicy" if not policies else f"NetworkPolicies {names}: none denies all {direction.lower()}"
        first = workloads[0]
        more = f" and {len(workloads) - 1} more" if len(workloads) > 1 else ""
        offenders.append((f"namespace {ns}", f"{found} ({first.ref}{more})",
                          Evidence(f"{first.source} {first.ref}{more}", found, f"namespace {ns}: {expected}")))
    return _verdict(inv, offenders, len(by_ns), "namespaces with workloads", expected)


def validate_workload(spec: dict[str, Any]) -> None:
    """ValueError when a ``k8s_workload`` probe is malformed (checked when the check files load)."""
    if spec.get("scope") not in SCOPES:
        raise ValueError(f"k8s_workload: scope must be one of {', '.join(SCOPES)}")
    lists = spec.get("containers") or list(CONTAINER_LISTS)
    if not isinstance(lists, list) or set(lists) - set(CONTAINER_LISTS):
        raise ValueError(f"k8s_workload: containers is a list of {', '.join(CONTAINER_LISTS)}")
    alternatives = spec.get("or") or []
    if not isinstance(alternatives, list):
        raise ValueError("k8s_workload: or is a list of rules")
    for rule in [spec, *alternatives]:
        if not isinstance(rule, dict) or "key" not in rule or "expect" not in rule:
            raise ValueError("k8s_workload: a rule needs key and expect")
        parse_key(rule["key"])
        validate(rule["expect"])
        if rule.get("pod_key") is not None:
            if spec["scope"] != "container":
                raise ValueError("k8s_workload: pod_key is for scope container")
            parse_key(rule["pod_key"])
        where = rule.get("where")
        if where is not None:
            if not isinstance(where, dict) or "key" not in where or "expect" not in where or "[*]" not in rule["key"]:
                raise ValueError("k8s_workload: where is {key, expect}, on a key with [*]")
            parse_key(where["key"])
            validate(where["expect"])


def validate_namespace(spec: dict[str, Any]) -> None:
    if spec.get("require") not in NAMESPACE_RULES:
        raise ValueError(f"k8s_namespace: require must be one of {', '.join(NAMESPACE_RULES)}")


__all__ = ["denies_all", "k8s_namespace", "k8s_workload", "parse_key", "validate_namespace", "validate_workload",
           "values_at"]
