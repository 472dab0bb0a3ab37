"""The ``docker_container`` probe: a value of every running container's Engine API inspect document meets
``expect``; FAIL names each container that does not, with one evidence per container.

Keys are dotted paths into the inspect document; a segment ending in ``[*]`` takes every item of the list
there (``Mounts[*].Source``), and the segment ``*`` every value of a mapping
(``NetworkSettings.Ports.*[*].HostPort``). A key without wildcards has one value (missing, null or empty:
``default``, else not set); a key with wildcards has as many values as it reaches: with ``each: true`` every
one must meet ``expect`` (none: nothing violates), without it one must (none: ``default``, else not set).
``when`` (a condition ``{key, expect, default}`` or a list of them, all of which must hold) limits the check
to the containers it concerns."""

from __future__ import annotations

import re
from typing import Any

from threatstryker.posture.context import Context, ProbeError
from threatstryker.posture.docker_api import running_containers
from threatstryker.posture.expect import ExpectError, as_text, meets, shown, validate
from threatstryker.posture.model import FAIL, NOT_APPLICABLE, PASS, Evidence, ProbeResult

#: Offending containers named in a FAIL's reason (all of them have evidence).
MAX_NAMED = 10
_SEGMENT = re.compile(r"(?P<name>[^.\[\]]+)(?P<lists>(?:\[\*\])*)")


def _segments(key: str) -> list[tuple[str, int]]:
    out = []
    for part in key.split("."):
        m = _SEGMENT.fullmatch(part)
        if m is None:
            raise ProbeError(f"docker_container: bad key {key!r} (dotted names, `*` and `[*]` only)")
        out.append((m["name"], len(m["lists"]) // 3))
    return out


def values_at(doc: Any, key: str) -> tuple[list[Any], bool]:
    """The values at ``key`` in ``doc`` (nulls left out), and whether the key has wildcards."""
    nodes, wild = [doc], False
    for name, lists in _segments(key):
        step: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if name == "*":
                wild = True
                step.extend(node.values())
            elif name in node:
                step.append(node[name])
        for _ in range(lists):
            wild = True
            step = [item for node in step if isinstance(node, list) for item in node]
        nodes = step
    return [v for v in nodes if v is not None], wild


def judge(doc: dict[str, Any], spec: dict[str, Any]) -> tuple[bool, str | None, str]:
    """Whether the container ``doc`` meets the probe ``spec``: the verdict, the value found (as text) and
    why not (empty when it does)."""
    key, expect = spec["key"], spec["expect"]
    values, wild = values_at(doc, key)
    if not wild:
        values = [v for v in values if v not in ("", [], {})]
        if spec.get("each") and values and isinstance(values[0], list):
            values = list(values[0])
    texts = [as_text(v) for v in values]
    if spec.get("each"):
        bad = [(t, meets(t, expect)[1]) for t in dict.fromkeys(texts) if not meets(t, expect)[0]]
        if bad:
            return False, ", ".join(t for t, _ in bad)[:300], "; ".join(w for _, w in bad)[:300]
        return True, ", ".join(texts)[:300] or None, ""
    defaulted = not texts and "default" in spec
    if defaulted:
        texts = [as_text(spec["default"])]
    if not texts:
        ok, why = meets(None, expect)
        return ok, None, "" if ok else why
    for t in texts:
        if meets(t, expect)[0]:
            return True, t[:300], ""
    if len(texts) == 1:
        why = meets(texts[0], expect)[1] + (" (not set: the default)" if defaulted else "")
        return False, texts[0][:300], why
    found = ", ".join(texts)[:300]
    return False, found, f"has no value that {shown(expect)} ({found})"


def _conditions(spec: dict[str, Any]) -> list[dict[str, Any]]:
    when = spec.get("when") or []
    return when if isinstance(when, list) else [when]


def validate_container(spec: dict[str, Any]) -> None:
    """ValueError when the probe's key, ``each`` or ``when`` is malformed (checked when check files load)."""
    try:
        _segments(str(spec["key"]))
    except ProbeError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(spec.get("each", False), bool):
        raise ValueError("docker_container: `each` is true or false")
    for cond in _conditions(spec):
        if not isinstance(cond, dict) or "key" not in cond or "expect" not in cond:
            raise ValueError("docker_container: `when` is {key, expect} or a list of them")
        try:
            validate(cond["expect"])
            _segments(str(cond["key"]))
        except (ExpectError, ProbeError) as exc:
            raise ValueError(f"docker_container: when: {exc}") from None


def container_name(doc: dict[str, Any]) -> tuple[str, str]:
    """The container's name (without the leading slash) and short id."""
    short = str(doc.get("Id") or "")[:12]
    return str(doc.get("Name") or "").lstrip("/") or short or "?", short


def docker_container(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    containers = running_containers(ctx)
    if containers is None:
        return ProbeResult(NOT_APPLICABLE, "no Docker Engine API to read containers from (--docker-host)")
    if not containers:
        return ProbeResult(NOT_APPLICABLE, "no running container")
    key, expect = spec["key"], spec["expect"]
    try:
        validate_container(spec)
    except ValueError as exc:
        raise ProbeError(str(exc)) from None
    conds = _conditions(spec)
    expected = f"{key} {shown(expect)}" + (" (every value)" if spec.get("each") else "")
    passed: list[Evidence] = []
    failed: list[Evidence] = []
    reasons: list[str] = []
    for doc in containers:
        if not isinstance(doc, dict):
            raise ProbeError(f"a container is not an inspect document: {str(doc)[:80]!r}")
        if not all(judge(doc, cond)[0] for cond in conds):
            continue
        ok, found, why = judge(doc, spec)
        name, short = container_name(doc)
        ev = Evidence(f"docker:{name}", found, expected)
        if ok:
            passed.append(ev)
        else:
            failed.append(ev)
            reasons.append(f"{name} ({short}): {key} {why}" if short else f"{name}: {key} {why}")
    if failed:
        more = f"; and {len(reasons) - MAX_NAMED} more" if len(reasons) > MAX_NAMED else ""
        head = f"{len(failed)} of {len(containers)} running containers: "
        return ProbeResult(FAIL, head + "; ".join(reasons[:MAX_NAMED]) + more, tuple(failed))
    if not passed:
        return ProbeResult(PASS, f"none of the {len(containers)} running containers is concerned", ())
    return ProbeResult(PASS, "", tuple(passed))


__all__ = ["container_name", "docker_container", "judge", "validate_container", "values_at"]
