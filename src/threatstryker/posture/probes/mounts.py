"""Mount options of a mount point: the mounted file systems (/proc/self/mounts) on the live host, else
/etc/fstab (and systemd's tmp.mount for /tmp)."""

from __future__ import annotations

from typing import Any

from threatstryker.posture.context import Context, ProbeError
from threatstryker.posture.model import FAIL, NOT_APPLICABLE, PASS, Evidence, ProbeResult

_MISSING = {"pass": PASS, "fail": FAIL, "not_applicable": NOT_APPLICABLE}


def _table(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw in text.splitlines():
        fields = raw.split()
        if len(fields) >= 4 and not fields[0].startswith("#"):
            out[fields[1].replace("\\040", " ")] = fields[3].split(",")
    return out


def _unit_options(ctx: Context, mount_point: str) -> list[str] | None:
    if mount_point != "/tmp":  # noqa: S108 - the mount point /tmp, whose systemd unit is tmp.mount
        return None
    for path in ("/etc/systemd/system/tmp.mount", "/usr/lib/systemd/system/tmp.mount", "/lib/systemd/system/tmp.mount"):
        text = ctx.text(path)
        if text:
            for line in text.splitlines():
                if line.strip().startswith("Options="):
                    return line.split("=", 1)[1].strip().split(",")
    return None


def mount_option(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    point, option = spec["mount_point"], spec["option"]
    want = spec.get("expect", "present")
    options: list[str] | None = None
    source = "/etc/fstab"
    if ctx.live:
        try:
            with open(f"{ctx.proc}/self/mounts", encoding="utf-8") as fh:
                options = _table(fh.read()).get(point)
            source = "/proc/self/mounts"
        except OSError as exc:
            raise ProbeError(f"{ctx.proc}/self/mounts: cannot read ({exc.strerror or exc})") from None
    if options is None:
        source = "/etc/fstab"
        options = _table(ctx.text("/etc/fstab") or "").get(point)
    if options is None:
        options = _unit_options(ctx, point)
        source = "tmp.mount"
    if options is None:
        status = _MISSING[spec.get("missing", "not_applicable")]
        return ProbeResult(status, f"{point} is not a separate file system",
                           (Evidence("/etc/fstab", None, f"{point} mounted with {option}"),))
    there = option in options
    ok = there if want == "present" else not there
    ev = Evidence(source, ",".join(options), f"{option} {'present' if want == 'present' else 'absent'}")
    why = f"{point}: {option} {'missing' if want == 'present' else 'set'}"
    return ProbeResult(PASS if ok else FAIL, "" if ok else why, (ev,))


__all__ = ["mount_option"]
