"""File probes: a path exists; a file's mode, owner and group; a line matching a regex in a file's content."""

from __future__ import annotations

import grp
import pwd
import re
from typing import Any

from threatstryker.posture.context import Context
from threatstryker.posture.model import FAIL, NOT_APPLICABLE, PASS, Evidence, ProbeResult

_MISSING = {"pass": PASS, "fail": FAIL, "not_applicable": NOT_APPLICABLE}


def file_exists(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    path, want = spec["path"], bool(spec.get("expect", True))
    there = ctx.stat(path, follow=False) is not None
    ev = Evidence(path, "exists" if there else "missing", "exists" if want else "missing")
    return ProbeResult(PASS if there == want else FAIL, "" if there == want else f"{path} {ev.found}", (ev,))


def _id_of(value: Any, kind: str, ctx: Context) -> int | None:
    """A uid/gid from a number or a name (names looked up in the target's /etc/passwd or /etc/group)."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    text = ctx.text("/etc/passwd" if kind == "user" else "/etc/group") or ""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == value and fields[2].isdigit():
            return int(fields[2])
    try:  # not in the target: the well-known system names (root, shadow) by this host's tables
        return pwd.getpwnam(str(value)).pw_uid if kind == "user" else grp.getgrnam(str(value)).gr_gid
    except KeyError:
        return None


def file_mode(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    path = spec["path"]
    info = ctx.stat(path)
    if info is None:
        status = _MISSING[spec.get("missing", "fail")]
        return ProbeResult(status, f"{path} not found", (Evidence(path, None, "exists"),))
    problems: list[str] = []
    evidence: list[Evidence] = []
    mode = info.mode & 0o7777
    if "max_mode" in spec:
        allowed = int(str(spec["max_mode"]), 8)
        evidence.append(Evidence(path, f"mode {mode:04o}", f"mode {allowed:04o} or stricter"))
        if mode & ~allowed:
            problems.append(f"mode {mode:04o} allows more than {allowed:04o}")
    for key, kind, actual in (("owner", "user", info.uid), ("group", "group", info.gid)):
        if key not in spec:
            continue
        want = _id_of(spec[key], kind, ctx)
        evidence.append(Evidence(path, f"{key} {actual}", f"{key} {spec[key]}"))
        if want is None or want != actual:
            problems.append(f"{key} is {actual}, not {spec[key]}")
    return ProbeResult(FAIL if problems else PASS, "; ".join(problems), tuple(evidence))


def _lines(text: str, comments: bool) -> str:
    if comments:
        return text
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def file_content(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    patterns = spec.get("paths") or [spec["path"]]
    regex = re.compile(spec["regex"], re.MULTILINE)
    want = spec.get("expect", "present")
    paths = [p for pattern in patterns for p in ctx.glob(pattern)]
    if not paths:
        default = "fail" if want == "present" else "pass"
        status = _MISSING[spec.get("missing", default)]
        where = ", ".join(patterns)
        return ProbeResult(status, f"{where}: not found", (Evidence(where, None, f"{want}: {spec['regex']}"),))
    hits: list[Evidence] = []
    for path in paths:
        text = ctx.text(path) or ""
        m = regex.search(_lines(text, bool(spec.get("comments"))))
        if m:
            hits.append(Evidence(path, m.group(0)[:200], f"{want}: {spec['regex']}"))
    if want == "present":
        if hits:
            return ProbeResult(PASS, "", tuple(hits[:1]))
        where = ", ".join(paths)
        return ProbeResult(FAIL, f"no line matches in {where}", (Evidence(where, None, f"present: {spec['regex']}"),))
    if hits:
        return ProbeResult(FAIL, f"{hits[0].source}: {hits[0].found!r}", tuple(hits))
    return ProbeResult(PASS, "", (Evidence(", ".join(paths), None, f"absent: {spec['regex']}"),))


__all__ = ["file_content", "file_exists", "file_mode"]
