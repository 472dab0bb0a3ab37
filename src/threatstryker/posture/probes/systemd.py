"""Whether a systemd unit is enabled, disabled or masked, from unit files and ``*.wants``/``*.requires``
symlinks (what ``systemctl is-enabled`` reads), without running systemctl."""

from __future__ import annotations

import posixpath
from typing import Any

from threatstryker.posture.context import Context
from threatstryker.posture.model import FAIL, PASS, Evidence, ProbeResult

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")


def unit_state(ctx: Context, unit: str) -> str:
    """``masked``, ``enabled``, ``disabled`` (the unit file exists) or ``absent``."""
    for directory in ("/etc/systemd/system", "/run/systemd/system"):
        info = ctx.stat(f"{directory}/{unit}", follow=False)
        if info is not None and info.link is not None and posixpath.normpath(info.link) == "/dev/null":
            return "masked"
    for directory in UNIT_DIRS:
        for wants in ctx.glob(f"{directory}/*.wants") + ctx.glob(f"{directory}/*.requires"):
            if ctx.stat(f"{wants}/{unit}", follow=False) is not None:
                return "enabled"
    if any(ctx.stat(f"{d}/{unit}") is not None for d in UNIT_DIRS):
        return "disabled"
    return "absent"


def systemd_unit(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    unit, want = spec["unit"], spec["expect"]
    state = unit_state(ctx, unit)
    ok = state in ("absent", "disabled", "masked") if want == "not_enabled" else state == want
    ev = Evidence("/etc/systemd/system", state, want.replace("_", " "))
    return ProbeResult(PASS if ok else FAIL, "" if ok else f"{unit} is {state}", (ev,))


__all__ = ["UNIT_DIRS", "systemd_unit", "unit_state"]
