"""The effective value of a key in configuration files of the common shapes: sshd_config, ``KEY=value``
files, ``KEY value`` files, login.defs and INI files (section-less keys, or ``section.key``)."""

from __future__ import annotations

import re
from typing import Any

from threatstryker.posture.context import Context
from threatstryker.posture.expect import describe, meets
from threatstryker.posture.model import FAIL, PASS, Evidence, ProbeResult

FORMATS = ("sshd", "keyvalue", "space", "login_defs", "ini")
_CASELESS = ("sshd", "login_defs")


def values(text: str, fmt: str) -> list[tuple[str, str]]:
    """(key, value) pairs in file order; for ``ini``, keys inside a section are ``section.key``. sshd
    ``Match`` blocks end the global part: what follows applies to some connections only, so it is left out."""
    out: list[tuple[str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if fmt == "ini" and line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if fmt in ("keyvalue", "ini"):
            if "=" not in line:
                continue
            key, _, value = line.partition("=")
            key = key.strip()
            if fmt == "keyvalue" and key.startswith("export "):
                key = key[len("export "):].strip()
            if fmt == "ini" and section:
                key = f"{section}.{key}"
            value = value.strip()
        else:
            parts = re.split(r"[\s=]+" if fmt == "sshd" else r"\s+", line, maxsplit=1)
            key, value = parts[0], parts[1].strip() if len(parts) > 1 else ""
            if fmt == "sshd" and key.lower() == "match":
                break
        out.append((key, re.sub(r"\s+#.*$", "", value) if fmt != "sshd" else value))
    return out


def effective(ctx: Context, spec: dict[str, Any]) -> tuple[str | None, str]:
    """The value in force and the file that set it ("" when set nowhere)."""
    fmt = spec.get("format", "keyvalue")
    key = spec["key"]
    caseless = fmt in _CASELESS
    want = key.lower() if caseless else key
    found: tuple[str | None, str] = (None, "")
    for pattern in spec["paths"]:
        for path in ctx.glob(pattern):
            for k, v in values(ctx.text(path) or "", fmt):
                if (k.lower() if caseless else k) != want:
                    continue
                if fmt == "sshd" and found[0] is not None:
                    return found  # sshd: the first value obtained wins
                found = (v, path)
    return found


def config_value(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    value, source = effective(ctx, spec)
    expect = spec["expect"]
    where = source or ", ".join(spec["paths"])
    if value is None and "default" in spec:
        value, where = str(spec["default"]), f"{where} (not set: the default)"
    ok, why = meets(value, expect)
    ev = Evidence(where, value, f"{spec['key']} {describe(expect)}")
    return ProbeResult(PASS if ok else FAIL, "" if ok else f"{spec['key']} {why}", (ev,))


__all__ = ["FORMATS", "config_value", "effective", "values"]
