"""Rust crates: Cargo.lock (formats v1 to v4) and the dependency tree cargo-auditable embeds in programs.

cargo-auditable stores zlib-compressed JSON, ``{"packages": [{name, version, source, kind, dependencies,
root}]}``, in a ``.dep-v0`` section (ELF, PE, Mach-O). Crates built from a path (workspace members, local
sources) are left out in both formats: they are the project itself, not a published crate version.
"""

from __future__ import annotations

import json
import tomllib
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from threatstryker.model import Package
from threatstryker.sbom.cataloger import (
    MANIFEST_READ_LIMIT,
    BinaryFile,
    Cataloger,
    ParseContext,
    ParseError,
    Parser,
    purl,
)
from threatstryker.sources.filetree import FileInfo

AUDITABLE_SECTION = ".dep-v0"
#: Compressed and decompressed size caps of the audit data (real data is a few KiB).
_MAX_COMPRESSED = 4 * 1024 * 1024
_MAX_JSON = 32 * 1024 * 1024


def _package(ctx: ParseContext, info: FileInfo, name: str, version: str, found_by: str) -> Package:
    return Package(
        ecosystem="cargo", name=name, version=version, purl=purl("cargo", name, version), found_by=found_by,
        locations=[ctx.location(info)],
    )


def parse_cargo_lock(ctx: ParseContext, info: FileInfo) -> Iterator[Package]:
    """Registry and git crates of a Cargo.lock; path and workspace crates (no ``source``) are skipped."""
    text = ctx.read_text(info, limit=MANIFEST_READ_LIMIT)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"invalid TOML: {exc}") from exc
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        raise ParseError("'package' is not an array of tables")
    legacy = doc.get("metadata", {})  # v1 keeps checksums as "checksum NAME VERSION (SOURCE)" = "HASH"
    lock_version = doc.get("version")
    bad = 0
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("version"), str):
            bad += 1
            continue
        source = entry.get("source")
        if not isinstance(source, str) or not source:
            continue
        name, version = entry["name"], entry["version"]
        pkg = _package(ctx, info, name, version, "cargo-lock")
        pkg.metadata["source"] = source
        checksum = entry.get("checksum")
        if not checksum and isinstance(legacy, dict):
            checksum = legacy.get(f"checksum {name} {version} ({source})")
        if isinstance(checksum, str) and checksum != "<none>":
            pkg.metadata["checksum"] = checksum
        if source.startswith("git+") and "#" in source:
            pkg.metadata["git_commit"] = source.rsplit("#", 1)[1]
        deps = entry.get("dependencies")
        if isinstance(deps, list) and deps:
            pkg.metadata["dependencies"] = [d for d in deps if isinstance(d, str)]
        if lock_version is not None:
            pkg.metadata["lock_version"] = lock_version
        yield pkg
    if bad:
        ctx.warn(info.path, f"cargo-lock: {bad} [[package]] entries without a name or version skipped")


def _source(value: Any) -> str:
    """The audit data's source: "crates.io", "git", "local", "registry" or another named source."""
    if isinstance(value, dict):
        other = value.get("Other")
        return str(other) if other is not None else "unknown"
    text = str(value or "")
    return {"cratesio": "crates.io", "crates.io": "crates.io"}.get(text.lower(), text.lower())


def read_audit_data(binary: BinaryFile) -> dict[str, Any] | None:
    """The decoded cargo-auditable JSON of an executable, None when it has no ``.dep-v0`` section."""
    layout = binary.layout()
    if layout is None:
        return None
    sec = layout.section(AUDITABLE_SECTION)
    if sec is None or not sec.size:
        return None
    if sec.size > _MAX_COMPRESSED:
        raise ParseError(f"{AUDITABLE_SECTION} section of {sec.size} bytes is implausibly large")
    decomp = zlib.decompressobj()
    try:
        raw = decomp.decompress(layout.read(sec.offset, sec.size), _MAX_JSON)
    except zlib.error as exc:
        raise ParseError(f"{AUDITABLE_SECTION} is not zlib data ({exc})") from exc
    if decomp.unconsumed_tail:
        raise ParseError(f"{AUDITABLE_SECTION} decompresses to more than {_MAX_JSON} bytes")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ParseError(f"{AUDITABLE_SECTION} is not JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        raise ParseError(f"{AUDITABLE_SECTION} JSON has no 'packages' array")
    return doc


def parse_binary(ctx: ParseContext, info: FileInfo, binary: BinaryFile) -> Iterable[Package]:
    """Crates recorded by cargo-auditable in a Rust program, except local (path) crates."""
    doc = read_audit_data(binary)
    if doc is None:
        return []
    entries = doc["packages"]
    labels = [
        f"{e.get('name')} {e.get('version')}" if isinstance(e, dict) else "" for e in entries
    ]
    packages: list[Package] = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("version"):
            continue
        source = _source(entry.get("source"))
        if source == "local":
            continue
        pkg = _package(ctx, info, str(entry["name"]), str(entry["version"]), "cargo-auditable")
        pkg.metadata["source"] = source
        pkg.metadata["kind"] = entry.get("kind") or "runtime"
        if entry.get("root"):
            pkg.metadata["root"] = True
        deps = entry.get("dependencies") or []
        names = [labels[i] for i in deps if isinstance(i, int) and 0 <= i < len(labels) and labels[i]]
        if names:
            pkg.metadata["dependencies"] = names
        if "format" in doc:
            pkg.metadata["audit_format"] = doc["format"]
        packages.append(pkg)
    return packages


CATALOGER = Cataloger(
    name="rust",
    parsers=(Parser("**/Cargo.lock", parse_cargo_lock, "cargo-lock", declared=True),),
    binary=parse_binary,
)
