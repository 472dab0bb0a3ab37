"""A key of a JSON or YAML configuration file (dotted path through mappings): /etc/docker/daemon.json, the
kubelet's config.yaml."""

from __future__ import annotations

import json
from typing import Any

import yaml

from threatstryker.posture.context import Context, ProbeError
from threatstryker.posture.expect import describe, meets
from threatstryker.posture.model import FAIL, PASS, Evidence, ProbeResult


def lookup(doc: Any, key: str) -> Any:
    node = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _key(ctx: Context, spec: dict[str, Any], parse: Any, what: str) -> ProbeResult:
    path, key, expect = spec["path"], spec["key"], spec["expect"]
    text = ctx.text(path)
    doc: Any = None
    if text is not None:
        try:
            doc = parse(text) if text.strip() else {}
        except (ValueError, yaml.YAMLError) as exc:
            raise ProbeError(f"{path}: not valid {what} ({str(exc).splitlines()[0][:120]})") from None
    value = _scalar(lookup(doc, key)) if doc is not None else None
    source = path if text is not None else f"{path} (missing)"
    if value is None and "default" in spec:
        value, source = _scalar(spec["default"]), f"{source}: {key} not set, the default"
    ok, why = meets(value, expect)
    ev = Evidence(source, value, f"{key} {describe(expect)}")
    return ProbeResult(PASS if ok else FAIL, "" if ok else f"{key} {why}", (ev,))


def json_key(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    return _key(ctx, spec, json.loads, "JSON")


def yaml_key(ctx: Context, spec: dict[str, Any]) -> ProbeResult:
    return _key(ctx, spec, yaml.safe_load, "YAML")


__all__ = ["json_key", "lookup", "yaml_key"]
