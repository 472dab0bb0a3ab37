"""PHP Composer packages: composer.lock (declared) and vendor/composer/installed.json (installed).

Both are JSON written by Composer; PHP is never run. Names are "vendor/package", lowercased as Composer
compares them; versions are kept as written ("v1.4.0", "dev-main") with Composer's ``version_normalized``
recorded beside them when the file has it.
"""

from __future__ import annotations

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

_REF_KEYS = ("type", "url", "reference", "shasum")


def _licenses(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _package(ctx: ParseContext, info: FileInfo, entry: Any, dev: bool, found_by: str) -> Package | None:
    """One Composer package entry; None (with a warning) when it has no usable name or version."""
    if not isinstance(entry, dict):
        ctx.warn(info.path, f"{found_by}: package entry is a {type(entry).__name__}, not an object; skipped")
        return None
    raw_name, version = entry.get("name"), entry.get("version")
    if not isinstance(raw_name, str) or not raw_name.strip() or not isinstance(version, str) or not version:
        ctx.warn(info.path, f"{found_by}: package entry without a name and version skipped ({raw_name!r})")
        return None
    name = raw_name.strip().lower()
    vendor, _, short = name.rpartition("/")
    meta: dict[str, Any] = {"dev": dev}
    for key in ("version_normalized", "type"):
        if isinstance(entry.get(key), str):
            meta[key] = entry[key]
    for key in ("source", "dist"):
        ref = entry.get(key)
        if isinstance(ref, dict):
            kept = {k: v for k in _REF_KEYS if isinstance(v := ref.get(k), str) and v}
            if kept:
                meta[key] = kept
    if isinstance(entry.get("install-path"), str):
        meta["install_path"] = entry["install-path"]
    return Package(
        ecosystem="composer",
        name=name,
        version=version,
        purl=purl("composer", short, version, namespace=vendor or None),
        found_by=found_by,
        locations=[ctx.location(info)],
        licenses=_licenses(entry.get("license")),
        metadata=meta,
    )


def parse_composer_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """Packages a composer.lock pins: "packages" and, flagged dev in metadata, "packages-dev"."""
    doc = load_json(ctx, info)
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise ParseError(f"top level is a {type(doc).__name__}, not an object")
    if "packages" not in doc and "packages-dev" not in doc:
        raise ParseError('neither "packages" nor "packages-dev" present')
    out: list[Package] = []
    for key, dev in (("packages", False), ("packages-dev", True)):
        entries = doc.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            ctx.warn(info.path, f'composer-lock: "{key}" is a {type(entries).__name__}, not a list; skipped')
            continue
        for entry in entries:
            pkg = _package(ctx, info, entry, dev, "composer-lock")
            if pkg is not None:
                out.append(pkg)
    return out


def parse_installed_json(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """Packages Composer installed into a vendor directory (Composer 1 list or Composer 2 object)."""
    doc = load_json(ctx, info)
    if doc is None:
        return []
    dev_names: set[str] | None = None  # Composer 1 does not say which packages are dev ones
    if isinstance(doc, list):  # Composer 1: the list of packages itself
        entries: Any = doc
    elif isinstance(doc, dict) and "packages" in doc:  # Composer 2
        entries = doc["packages"]
        names = doc.get("dev-package-names")
        if isinstance(names, list):
            dev_names = {n.lower() for n in names if isinstance(n, str)}
    else:
        raise ParseError('neither a list of packages nor an object with "packages"')
    if not isinstance(entries, list):
        raise ParseError(f'"packages" is a {type(entries).__name__}, not a list')
    out: list[Package] = []
    for entry in entries:
        pkg = _package(ctx, info, entry, False, "composer-installed")
        if pkg is not None:
            if dev_names is None:
                del pkg.metadata["dev"]
            else:
                pkg.metadata["dev"] = pkg.name in dev_names
            out.append(pkg)
    return out


CATALOGER = Cataloger(
    name="php",
    parsers=(
        Parser("**/composer.lock", parse_composer_lock, "composer-lock", declared=True),
        Parser("**/composer/installed.json", parse_installed_json, "composer-installed"),
    ),
)
