"""Runs catalogers over a FileTree in one walk and assembles the SBOM (distro, owners, duplicates merged)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import cast

from threatstryker import __version__
from threatstryker.model import Location, Package, Sbom, TargetInfo
from threatstryker.sbom.cataloger import BinaryFile, Cataloger, ParseContext, Parser
from threatstryker.sources.distro import detect_distro
from threatstryker.sources.filetree import FILE, FileInfo, FileTree, FileTreeError, PathMatcher

#: Programs smaller than this are not opened by the binary parsers: a Go program carries its runtime (the
#: smallest are ~1 MiB) and a Rust program with cargo-auditable data its standard library (~300 KiB), while a
#: host has thousands of tiny helpers and libraries (on Debian minbase 730 candidates over 4 KiB, 183 over 64 KiB).
MIN_BINARY_SIZE = 64 * 1024

Progress = Callable[[int, str], None]


def catalog_tree(
    tree: FileTree,
    target: TargetInfo,
    catalogers: list[Cataloger],
    progress: Progress | None = None,
    timeout: float | None = None,
) -> Sbom:
    """Walk ``tree`` once, hand each file to the parsers whose glob claims it, and build the SBOM."""
    started = time.monotonic()
    ctx = ParseContext(tree=tree, distro=detect_distro(tree))
    if timeout:
        ctx.deadline = started + timeout
    matcher = PathMatcher((p.glob, (cat, p)) for cat in catalogers for p in cat.parsers)
    binary_cats = [c for c in catalogers if c.binary is not None]
    by_cataloger: dict[str, list[Package]] = {c.name: [] for c in catalogers}
    partial = bool(getattr(tree, "partial", False))
    seen = 0
    for info, hits in tree.select(matcher, executables=bool(binary_cats), stop=ctx.timed_out):
        seen += 1
        if progress is not None and seen % 500 == 0:
            progress(seen, info.path)
        if ctx.timed_out():
            break
        for hit in hits:
            cat, parser = cast(tuple[Cataloger, Parser], hit)
            found = _run_parser(ctx, parser, info)
            by_cataloger[cat.name].extend(found)
            if found and info.layer is not None:
                _attribute_layers(ctx, tree, parser, info, found)
        if binary_cats and info.size >= MIN_BINARY_SIZE and info.is_program:
            for cat_name, pkgs in _run_binary(ctx, binary_cats, info):
                by_cataloger[cat_name].extend(pkgs)
    if ctx.timed_out():
        ctx.warn(target.ref, f"scan timed out after {timeout:g}s; results are partial")
        partial = True
    if progress is not None:
        progress(seen, "")
    packages: list[Package] = []
    for cat in catalogers:
        pkgs = by_cataloger[cat.name]
        if cat.finalize is not None:
            try:
                pkgs = cat.finalize(ctx, pkgs)
            except Exception as exc:  # a finaliser bug must not lose the other catalogers' results
                ctx.warn(target.ref, f"{cat.name} cataloger failed to finalise: {type(exc).__name__}: {exc}")
        packages.extend(pkgs)
    _assign_owners(ctx, packages)
    packages = merge_duplicates(packages)
    packages.sort(key=lambda p: (p.ecosystem, p.name, p.version, p.locations[0].path if p.locations else ""))
    return Sbom(
        target=target,
        packages=packages,
        distro=ctx.distro,
        warnings=[*tree.warnings, *ctx.warnings],
        partial=partial,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        tool_version=__version__,
        duration_s=round(time.monotonic() - started, 3),
    )


def _run_parser(ctx: ParseContext, parser: Parser, info: FileInfo) -> list[Package]:
    try:
        return list(parser.parse(ctx, info))
    except FileTreeError as exc:
        ctx.warn(info.path, f"{parser.name}: {exc}")
    except PermissionError:
        ctx.warn(info.path, f"{parser.name}: permission denied")
    except OSError as exc:
        ctx.warn(info.path, f"{parser.name}: cannot read ({exc.strerror or exc})")
    except Exception as exc:  # malformed input: record it and carry on with the other files
        ctx.warn(info.path, f"{parser.name}: malformed ({type(exc).__name__}: {exc})")
    return []


def _attribute_layers(ctx: ParseContext, tree: FileTree, parser: Parser, info: FileInfo,
                      found: list[Package]) -> None:
    """Give each package the layer that introduced it, not the last layer that rewrote its database.

    A package database (dpkg status, rpmdb, apk installed, a lockfile) is rewritten by every layer that
    installs something; a package is attributed to the earliest layer from which every later version of the
    file still lists it (same purl).
    """
    versions = [entry for entry in tree.history(info.path) if entry.kind == FILE]
    if len(versions) < 2:
        return
    scratch = ParseContext(tree=tree, distro=ctx.distro)
    seen_in: list[set[str]] = []
    for entry in versions[:-1]:
        seen_in.append({p.purl for p in _run_parser(scratch, parser, entry)})
    for pkg in found:
        layer = versions[-1].layer
        for entry, purls in zip(reversed(versions[:-1]), reversed(seen_in), strict=True):
            if pkg.purl not in purls:
                break
            layer = entry.layer
        pkg.locations = [Location(loc.path, layer) if loc.path == info.path and loc.layer != layer else loc
                         for loc in pkg.locations]


def _run_binary(ctx: ParseContext, cats: list[Cataloger], info: FileInfo) -> Iterable[tuple[str, list[Package]]]:
    try:
        stream = ctx.open(info)
    except FileTreeError as exc:
        ctx.warn(info.path, str(exc))
        return
    except OSError as exc:
        ctx.warn(info.path, f"cannot read ({exc.strerror or exc})")
        return
    with stream:
        try:
            binary = BinaryFile(info, stream)
        except OSError as exc:
            ctx.warn(info.path, f"cannot read ({exc.strerror or exc})")
            return
        if not binary.is_elf and binary.magic[:2] != b"MZ" and binary.magic not in _MACHO_MAGICS:
            return
        for cat in cats:
            assert cat.binary is not None
            try:
                yield cat.name, list(cat.binary(ctx, info, binary))
            except Exception as exc:
                ctx.warn(info.path, f"{cat.name} binary: malformed ({type(exc).__name__}: {exc})")


_MACHO_MAGICS = {
    b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"
}


def _assign_owners(ctx: ParseContext, packages: list[Package]) -> None:
    """Mark language packages whose files an OS package manager installed with the owning package's purl."""
    if not ctx.owned_files:
        return
    wanted: dict[str, list[Package]] = {}
    for pkg in packages:
        if pkg.ecosystem in _OS_ECOSYSTEMS:
            continue
        for loc in pkg.locations:
            wanted.setdefault(loc.path.split(":", 1)[0], []).append(pkg)
    if not wanted:
        return
    for os_pkg, files in ctx.owned_files:
        try:
            for path in files():
                hits = wanted.get(path)
                if hits:
                    for pkg in hits:
                        if pkg.owner is None:
                            pkg.owner = os_pkg.purl
        except (OSError, FileTreeError, ValueError) as exc:
            ctx.warn(os_pkg.locations[0].path if os_pkg.locations else os_pkg.name,
                     f"cannot read the file list of {os_pkg.name}: {exc}")


_OS_ECOSYSTEMS = {"deb", "rpm", "apk"}


def merge_duplicates(packages: list[Package]) -> list[Package]:
    """One package per (purl, cataloger): locations of identical finds are merged, in order."""
    merged: dict[tuple[str, str], Package] = {}
    for pkg in packages:
        key = (pkg.purl, pkg.found_by)
        have = merged.get(key)
        if have is None:
            merged[key] = pkg
            continue
        for loc in pkg.locations:
            if loc not in have.locations:
                have.locations.append(loc)
        for lic in pkg.licenses:
            if lic not in have.licenses:
                have.licenses.append(lic)
        if have.owner is None:
            have.owner = pkg.owner
    return list(merged.values())
