"""A kernel parameter: its running value on the live host (/proc/sys), else the value the sysctl
configuration files set at boot (systemd-sysctl's order: later files win)."""

from __future__ import annotations

import posixpath
from typing import Any

from threatstryker.posture.context import Context, ProbeError
from threatstryker.posture.expect import describe, meets
from threatstryker.posture.model import FAIL, PASS, Evidence, ProbeResult

#: Directories of sysctl.d drop-ins, lowest precedence first (a name in a later directory replaces the same
#: name in an earlier one), then /etc/sysctl.conf last.
DROPIN_DIRS = ("/usr/lib/sysctl.d", "/lib/sysctl.d", "/run/sysctl.d", "/etc/sysctl.d")


def configured(ctx: Context, key: str) -> tuple[str | None, str]:
    """The value the boot-time configuration sets for ``key`` and the file setting it."""
    by_name: dict[str, str] = {}
    for directory in DROPIN_DIRS:
        for path in ctx.glob(f"{directory}/*.conf"):
            by_name[posixpath.basename(path)] = path
    files = [by_name[name] for name in sorted(by_name)] + ["/etc/sysctl.conf"]
    wanted = key.replace("/", ".")
    found: tuple[str | None, str] = (None, "")
    for path in files:
        for raw in (ctx.text(path) or "").splitlines():
            line = raw.strip().lstrip("-")
            if not line or line.startswith(("#", ";")) or "=" not in line:
                continue
            k, _, v = line.partition("=")
            if k.strip().replace("/", ".") == wanted:
                found = (v.strip(), path)
    return found


def running(ctx: Context, key: str) -> str | None:
    path = f"{ctx.proc}/sys/" + key.replace(".", "/")
    try:
        with open(path, encoding="utf-8") as fh:
            return " ".join(fh.read().split())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProbeError(f"{path}: cannot read ({exc.strerror or exc})") from None


def sysctl(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    key, expect = spec["key"], spec["expect"]
    if ctx.live:
        value, source = running(ctx, key), f"/proc/sys ({key})"
        if value is None:
            value, source = configured(ctx, key)
    else:
        value, source = configured(ctx, key)
    if value is None and "default" in spec:
        value, source = str(spec["default"]), "(not set: the kernel's default)"
    ok, why = meets(value, expect)
    ev = Evidence(source or "sysctl configuration", value, f"{key} {describe(expect)}")
    return ProbeResult(PASS if ok else FAIL, "" if ok else f"{key} {why}", (ev,))


__all__ = ["DROPIN_DIRS", "configured", "running", "sysctl"]
