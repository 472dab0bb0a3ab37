"""Whether OS packages are installed, from the target's package database as the SBOM catalogers read it."""

from __future__ import annotations

from typing import Any

from threatstryker.posture.context import Context
from threatstryker.posture.model import FAIL, PASS, Evidence, ProbeResult


def package(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    names = list(spec["names"])
    want = spec.get("expect", "installed")
    installed = sorted(set(names) & ctx.packages())
    ev = Evidence("package database", ", ".join(installed) or "none of them",
                  f"{' or '.join(names)} {'installed' if want == 'installed' else 'not installed'}")
    ok = bool(installed) if want == "installed" else not installed
    reason = "" if ok else (f"{', '.join(installed)} installed" if installed else f"{' / '.join(names)} not installed")
    return ProbeResult(PASS if ok else FAIL, reason, (ev,))


__all__ = ["package"]
