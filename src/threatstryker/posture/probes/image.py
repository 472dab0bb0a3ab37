"""The configuration an image was built with (the OCI/Docker image config): a value at a dotted key
(``config.User``), or a regex over every value of a field, lists flattened (``config.Env``,
``history.created_by``). NOT_APPLICABLE when the target is not an image."""

from __future__ import annotations

import json
import re
from typing import Any

from threatstryker.posture.context import Context
from threatstryker.posture.expect import describe, meets
from threatstryker.posture.model import FAIL, NOT_APPLICABLE, PASS, Evidence, ProbeResult


def _values(node: Any, parts: list[str]) -> list[Any]:
    """Every value at the dotted path ``parts``, lists along the way flattened."""
    if isinstance(node, list):
        return [v for item in node for v in _values(item, parts)]
    if not parts:
        return [node]
    if not isinstance(node, dict) or parts[0] not in node:
        return []
    return _values(node[parts[0]], parts[1:])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def image_config(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    if ctx.image_config is None:
        return ProbeResult(NOT_APPLICABLE, "the target is not an image")
    key, expect = spec["key"], spec["expect"]
    found = [v for v in _values(ctx.image_config, key.split(".")) if v not in (None, "", [], {})]
    value = _text(found[0]) if found else None
    if value is None and "default" in spec:
        value = str(spec["default"])
    ok, why = meets(value, expect)
    ev = Evidence("image config", value, f"{key} {describe(expect)}")
    return ProbeResult(PASS if ok else FAIL, "" if ok else f"{key} {why}", (ev,))


def image_match(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    if ctx.image_config is None:
        return ProbeResult(NOT_APPLICABLE, "the target is not an image")
    field, want = spec["field"], spec.get("expect", "absent")
    regex = re.compile(spec["regex"])
    hits = [_text(v) for v in _values(ctx.image_config, field.split(".")) if regex.search(_text(v))]
    shown = hits[0][:200] if hits else None
    ev = Evidence(f"image config: {field}", shown, f"{want}: {spec['regex']}")
    ok = bool(hits) if want == "present" else not hits
    return ProbeResult(PASS if ok else FAIL, "" if ok else (f"{field}: {shown!r}" if hits else f"{field}: no match"),
                       (ev,))


__all__ = ["image_config", "image_match"]
