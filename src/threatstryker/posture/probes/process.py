"""A command-line flag of the running processes of one program (kube-apiserver, kubelet, dockerd), read
from procfs on the live host."""

from __future__ import annotations

import os
from typing import Any

from threatstryker.posture.context import Context
from threatstryker.posture.expect import describe, meets
from threatstryker.posture.model import FAIL, NOT_APPLICABLE, PASS, Evidence, ProbeResult


def command_lines(proc: str, name: str) -> list[tuple[int, list[str]]]:
    out = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/cmdline", "rb") as fh:
                argv = [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == name:
            out.append((int(entry), argv))
    return out


def flag_value(argv: list[str], flag: str) -> str | None:
    """``--flag=value`` or ``--flag value``; a bare ``--flag`` is ``true``; the last occurrence wins (as
    the programs parse them); None when not given."""
    found = None
    for i, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
        elif arg == flag:
            nxt = argv[i + 1] if i + 1 < len(argv) else ""
            found = nxt if nxt and not nxt.startswith("-") else "true"
    return found


def process_flag(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    name, flag, expect = spec["process"], spec["flag"], spec["expect"]
    if not ctx.live:
        return ProbeResult(NOT_APPLICABLE, "process flags are read on the live host only")
    procs = command_lines(ctx.proc, name)
    if not procs:
        return ProbeResult(NOT_APPLICABLE, f"no {name} process is running")
    evidence, failures = [], []
    for pid, argv in procs:
        value = flag_value(argv, flag)
        if value is None and "default" in spec:
            value = str(spec["default"])
        ok, why = meets(value, expect)
        evidence.append(Evidence(f"{ctx.proc}/{pid}/cmdline", value, f"{flag} {describe(expect)}"))
        if not ok:
            failures.append(f"{name} (pid {pid}): {flag} {why}")
    return ProbeResult(FAIL if failures else PASS, "; ".join(failures), tuple(evidence))


__all__ = ["command_lines", "flag_value", "process_flag"]
