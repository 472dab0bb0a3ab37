"""Debian packages: var/lib/dpkg/status, distroless status.d, source packages, file lists, copyright licenses."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator

from threatstryker.model import Package
from threatstryker.sbom.cataloger import Cataloger, ParseContext, ParseError, Parser, purl
from threatstryker.sources.filetree import FileInfo, FileTreeError

_SOURCE_RE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?\s*$")
#: dpkg states in which a package's files are not (all) on disk; every other state (installed, unpacked,
#: half-configured, triggers-pending, triggers-awaited) leaves its files in place.
_NOT_ON_DISK = frozenset({"not-installed", "config-files", "half-installed"})
_LICENSE_RE = re.compile(r"^License:\s*(\S.*?)\s*$", re.MULTILINE)


def parse_paragraphs(text: str, bad_lines: list[int] | None = None) -> Iterator[dict[str, str]]:
    """RFC 822 style paragraphs of a dpkg status file: field -> value (continuation lines joined).

    A line that is neither a field nor a continuation is skipped and its number appended to ``bad_lines``;
    without that list it raises ParseError.
    """
    fields: dict[str, str] = {}
    last: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            if fields:
                yield fields
            fields, last = {}, None
            continue
        if raw[0] in " \t":
            if last is not None:
                fields[last] += "\n" + raw.strip()
            continue
        key, sep, value = raw.partition(":")
        if not sep or not key or " " in key:
            if bad_lines is None:
                raise ParseError(f"line {lineno} ({raw[:60]!r}) is neither a field nor a continuation")
            bad_lines.append(lineno)
            continue
        last = key.strip()
        fields[last] = value.strip()
    if fields:
        yield fields


def _package(ctx: ParseContext, info: FileInfo, fields: dict[str, str], parser: str) -> Package | None:
    name = fields.get("Package")
    version = fields.get("Version")
    if not name or not version:
        return None
    status = fields.get("Status")
    if status is not None and status.rsplit(" ", 1)[-1] in _NOT_ON_DISK:
        return None
    src_name, src_version = name, version
    src = fields.get("Source")
    if src:
        m = _SOURCE_RE.match(src)
        if m:
            src_name = m.group("name")
            src_version = m.group("version") or version
    arch = fields.get("Architecture") or None
    distro = ctx.distro
    namespace = distro.id if distro and distro.id in ("debian", "ubuntu") else "debian"
    if distro and distro.id not in ("debian", "ubuntu") and "ubuntu" in distro.id_like:
        namespace = "ubuntu"
    upstream = None
    if src_name != name or src_version != version:
        upstream = src_name if src_version == version else f"{src_name}@{src_version}"
    quals = {"arch": arch or "", "distro": distro.purl_distro if distro else "", "upstream": upstream or ""}
    pkg = Package(
        ecosystem="deb",
        name=name,
        version=version,
        purl=purl("deb", name, version, namespace, quals),
        found_by=parser,
        locations=[ctx.location(info)],
        source_name=src_name,
        source_version=src_version,
        arch=arch,
    )
    if fields.get("Installed-Size", "").isdigit():
        pkg.metadata["installed_size_kib"] = int(fields["Installed-Size"])
    if fields.get("Maintainer"):
        pkg.metadata["maintainer"] = fields["Maintainer"]
    return pkg


def _licenses(ctx: ParseContext, root: str, name: str) -> list[str]:
    """License short names declared in /usr/share/doc/PKG/copyright (DEP-5), in order of appearance."""
    path = f"{root}/usr/share/doc/{name}/copyright"
    try:
        text = ctx.tree.read_text(path, limit=4 * 1024 * 1024)
    except (FileTreeError, OSError):
        return []
    out: list[str] = []
    for m in _LICENSE_RE.finditer(text):
        lic = m.group(1).strip()
        if lic and len(lic) < 80 and lic not in out:
            out.append(lic)
    return out


def _root_of(path: str, admin_suffix: str) -> str:
    """The system root a dpkg database belongs to: '' for /var/lib/dpkg/status, '/mnt/x' for a nested one."""
    head = posixpath.dirname(path)
    return head[: -len(admin_suffix)] if head.endswith(admin_suffix) else ""


def _list_reader(ctx: ParseContext, paths: list[str], root: str, md5sums: bool = False):  # type: ignore[no-untyped-def]
    def read() -> Iterable[str]:
        for p in paths:
            try:
                text = ctx.tree.read_text(p, limit=64 * 1024 * 1024)
            except (FileTreeError, OSError):
                continue
            for line in text.splitlines():
                if md5sums:
                    _, _, line = line.partition("  ")
                    line = "/" + line.lstrip("/")
                if line.startswith("/"):
                    yield root + line

    return read


def _paragraphs(ctx: ParseContext, info: FileInfo) -> Iterator[dict[str, str]]:
    text = ctx.read_text(info)
    if "\x00" in text:
        raise ParseError("binary content, not a dpkg status file")
    bad: list[int] = []
    yield from parse_paragraphs(text, bad)
    if bad:
        shown = ", ".join(str(n) for n in bad[:5]) + (" ..." if len(bad) > 5 else "")
        ctx.warn(info.path, f"skipped {len(bad)} line(s) that are neither fields nor continuations: {shown}")


def parse_status(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """Installed packages of a dpkg status file, with their file lists and licenses."""
    root = _root_of(info.path, "/var/lib/dpkg")
    info_dir = posixpath.join(posixpath.dirname(info.path), "info")
    listing = set(ctx.tree.list_names(info_dir))
    for fields in _paragraphs(ctx, info):
        pkg = _package(ctx, info, fields, "dpkg-status")
        if pkg is None:
            continue
        pkg.licenses = _licenses(ctx, root, pkg.name)
        lists = [f"{info_dir}/{n}" for n in (f"{pkg.name}.list", f"{pkg.name}:{pkg.arch}.list") if n in listing]
        if lists:
            ctx.add_owned_files(pkg, _list_reader(ctx, lists, root))
        yield pkg


def parse_status_d(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """Distroless images: one status paragraph per file in var/lib/dpkg/status.d/."""
    if info.name.endswith(".md5sums"):
        return
    root = _root_of(info.path, "/var/lib/dpkg/status.d")
    for fields in _paragraphs(ctx, info):
        pkg = _package(ctx, info, fields, "dpkg-status.d")
        if pkg is None:
            continue
        pkg.licenses = _licenses(ctx, root, pkg.name)
        md5 = f"{info.path}.md5sums"
        if ctx.tree.stat(md5) is not None:
            ctx.add_owned_files(pkg, _list_reader(ctx, [md5], root, md5sums=True))
        yield pkg


CATALOGER = Cataloger(
    name="dpkg",
    os_packages=True,
    parsers=(
        Parser("**/var/lib/dpkg/status", parse_status, "dpkg-status"),
        Parser("**/var/lib/dpkg/status.d/*", parse_status_d, "dpkg-status.d"),
    ),
)
