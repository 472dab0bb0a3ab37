""".NET NuGet packages: packages.lock.json and packages.config (declared) and *.deps.json (installed).

packages.lock.json pins each package per target framework (Direct, Transitive, CentralTransitive; Project
references are other projects of the solution, not packages). A deps.json, written beside a built
application, lists its "libraries"; only "package" entries (and self-contained apps' "runtimepack") come from
NuGet. Names keep NuGet's casing as written; NuGet compares them case-insensitively.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from threatstryker.model import Package
from threatstryker.sbom.cataloger import (
    Cataloger,
    ParseContext,
    ParseError,
    Parser,
    load_json,
    purl,
)
from threatstryker.sources.filetree import FileInfo

#: packages.config files are small XML lists; anything larger is not one.
PACKAGES_CONFIG_READ_LIMIT = 8 * 1024 * 1024

#: deps.json library types that are NuGet packages; "runtimepack.NAME" entries are NuGet's runtime packs.
_DEPS_PACKAGE_TYPES = {"package", "runtimepack"}
_RUNTIMEPACK_PREFIX = "runtimepack."


def _local(tag: str) -> str:
    """An XML tag without its namespace."""
    return tag.rpartition("}")[2]


def _nuget(ctx: ParseContext, info: FileInfo, name: str, version: str, found_by: str,
           meta: dict[str, Any]) -> Package:
    return Package(
        ecosystem="nuget",
        name=name,
        version=version,
        purl=purl("nuget", name, version),
        found_by=found_by,
        locations=[ctx.location(info)],
        metadata=meta,
    )


def parse_packages_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """Packages a NuGet packages.lock.json resolves, one per name and version across target frameworks."""
    doc = load_json(ctx, info)
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("dependencies"), dict):
        raise ParseError('no "dependencies" object: not a NuGet packages.lock.json')
    found: dict[tuple[str, str], Package] = {}
    for framework, deps in doc["dependencies"].items():
        if not isinstance(deps, dict):
            ctx.warn(info.path, f"nuget-lock: target {framework!r} is not an object; skipped")
            continue
        for name, entry in deps.items():
            if not isinstance(entry, dict):
                ctx.warn(info.path, f"nuget-lock: {framework}/{name} is not an object; skipped")
                continue
            kind = entry.get("type")
            if kind == "Project":
                continue
            version = entry.get("resolved")
            if not isinstance(version, str) or not version:
                ctx.warn(info.path, f"nuget-lock: {framework}/{name} has no resolved version; skipped")
                continue
            key = (name.lower(), version.lower())
            pkg = found.get(key)
            if pkg is None:
                meta: dict[str, Any] = {"direct": False, "target_frameworks": []}
                if isinstance(entry.get("contentHash"), str):
                    meta["content_hash"] = entry["contentHash"]
                pkg = found[key] = _nuget(ctx, info, name, version, "nuget-lock", meta)
            if kind == "Direct":
                pkg.metadata["direct"] = True
                if isinstance(entry.get("requested"), str):
                    pkg.metadata["requested"] = entry["requested"]
            if framework not in pkg.metadata["target_frameworks"]:
                pkg.metadata["target_frameworks"].append(framework)
    return list(found.values())


def parse_deps_json(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """NuGet packages a built .NET application's NAME.deps.json says it was published with."""
    doc = load_json(ctx, info)
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("libraries", {}), dict):
        raise ParseError('no "libraries" object: not a .NET deps.json')
    runtime = doc.get("runtimeTarget")
    target = runtime.get("name") if isinstance(runtime, dict) else None
    out: list[Package] = []
    for key, lib in doc.get("libraries", {}).items():
        if not isinstance(lib, dict):
            ctx.warn(info.path, f"deps-json: library {key!r} is not an object; skipped")
            continue
        kind = lib.get("type")
        if kind not in _DEPS_PACKAGE_TYPES:
            continue  # "project", "reference", ...: not from NuGet
        name, sep, version = key.rpartition("/")
        if not sep or not name or not version:
            ctx.warn(info.path, f"deps-json: library key {key!r} is not NAME/VERSION; skipped")
            continue
        if kind == "runtimepack":
            name = name.removeprefix(_RUNTIMEPACK_PREFIX)
        meta: dict[str, Any] = {"type": kind}
        for src, dst in (("sha512", "sha512"), ("path", "path"), ("hashPath", "hash_path")):
            if isinstance(lib.get(src), str) and lib[src]:
                meta[dst] = lib[src]
        if isinstance(target, str) and target:
            meta["runtime_target"] = target
        out.append(_nuget(ctx, info, name, version, "deps-json", meta))
    return out


def parse_packages_config(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """Packages a classic packages.config lists as <package id="..." version="..."/>."""
    data = ctx.read_bytes(info, PACKAGES_CONFIG_READ_LIMIT)
    if not data.strip():
        return []
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ParseError("document type declarations are not allowed in packages.config")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs (entity expansion) are refused above
    except ET.ParseError as exc:
        raise ParseError(f"invalid XML: {exc}") from exc
    if _local(root.tag) != "packages":
        raise ParseError(f"root element is <{_local(root.tag)}>, not <packages>")
    out: list[Package] = []
    for el in root.iter():
        if _local(el.tag) != "package":
            continue
        name, version = (el.get("id") or "").strip(), (el.get("version") or "").strip()
        if not name or not version:
            ctx.warn(info.path, "packages-config: <package> without id and version skipped")
            continue
        meta: dict[str, Any] = {}
        if el.get("targetFramework"):
            meta["target_framework"] = el.get("targetFramework")
        meta["dev"] = (el.get("developmentDependency") or "").lower() == "true"
        out.append(_nuget(ctx, info, name, version, "packages-config", meta))
    return out


CATALOGER = Cataloger(
    name="dotnet",
    parsers=(
        Parser("**/packages.lock.json", parse_packages_lock, "nuget-lock", declared=True),
        Parser("**/packages.config", parse_packages_config, "packages-config", declared=True),
        Parser("**/*.deps.json", parse_deps_json, "deps-json"),
    ),
)
