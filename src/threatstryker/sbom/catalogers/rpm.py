"""RPM packages: the rpm database (SQLite, Berkeley DB hash or NDB), with source rpms and owned files.

The databases are read by our own readers (``_rpmdb``): the go-rpmdb binding pinned in pyproject aborts the
whole Python process on some damaged databases (a Go panic or a failed huge allocation cannot be caught),
and drops every package of a database when one record is bad. Here a damaged record costs one warning.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing

from threatstryker.model import Package
from threatstryker.sbom.cataloger import Cataloger, ParseContext, ParseError, Parser, purl
from threatstryker.sbom.catalogers._rpmdb import (
    ARCH,
    EPOCH,
    LICENSE,
    MODULARITYLABEL,
    NAME,
    RELEASE,
    SIZE,
    SOURCERPM,
    VENDOR,
    VERSION,
    Record,
    RecordError,
    RpmDbError,
    RpmHeader,
    read_bdb,
    read_ndb,
    read_sqlite,
)
from threatstryker.sources.filetree import FileInfo

#: Where rpm keeps its database inside a root filesystem (the second is the newer, usr-merged place).
DB_DIRS = ("/var/lib/rpm/", "/usr/lib/sysimage/rpm/")
#: An SQLite database (or its write-ahead log) larger than this is not copied out of the target.
COPY_LIMIT = 1024 * 1024 * 1024
#: Damaged records reported one by one before the rest are only counted.
MAX_RECORD_WARNINGS = 5


def split_source_rpm(sourcerpm: str) -> tuple[str, str] | None:
    """('openssl', '3.0.7-1.el9') from 'openssl-3.0.7-1.el9.src.rpm'; None when it is not NAME-VER-REL."""
    stem = sourcerpm
    for suffix in (".src.rpm", ".nosrc.rpm", ".rpm"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], f"{parts[1]}-{parts[2]}"


def _root_of(path: str) -> str:
    """The root filesystem a database belongs to: '' for /var/lib/rpm/Packages, '/mnt/x' for nested roots."""
    for d in DB_DIRS:
        i = path.find(d)
        if i >= 0:
            return path[:i]
    return ""


def _value(text: str | None) -> str | None:
    """A string tag's value, or None when absent, empty or rpm's "(none)" placeholder."""
    return text if text and text != "(none)" else None


def _package(ctx: ParseContext, info: FileInfo, parser: str, hdr: RpmHeader) -> Package | None:
    name = hdr.string(NAME)
    version = hdr.string(VERSION)
    if not name or not version:
        raise RecordError("no name or version")
    if name == "gpg-pubkey":
        return None  # an imported signing key, not software
    release = hdr.string(RELEASE)
    epoch = hdr.int(EPOCH)
    vr = f"{version}-{release}" if release else version
    arch = _value(hdr.string(ARCH))
    sourcerpm = _value(hdr.string(SOURCERPM))
    source = split_source_rpm(sourcerpm) if sourcerpm else None
    src_name, src_version = source or (name, vr)
    if epoch:  # a source rpm file name carries no epoch; the binary's epoch is the source's
        src_version = f"{epoch}:{src_version}"
    distro = ctx.distro
    namespace = {"rhel": "redhat", "ol": "oracle", "amzn": "amazon"}.get(distro.id, distro.id) if distro else "redhat"
    quals = {
        "arch": arch or "",
        "epoch": str(epoch) if epoch else "",
        "distro": distro.purl_distro if distro else "",
        "upstream": sourcerpm or "",
    }
    pkg = Package(
        ecosystem="rpm",
        name=name,
        version=f"{epoch}:{vr}" if epoch else vr,
        purl=purl("rpm", name, vr, namespace, quals),
        found_by=parser,
        locations=[ctx.location(info)],
        source_name=src_name,
        source_version=src_version,
        arch=arch,
    )
    lic = hdr.string(LICENSE)
    if lic and lic.strip():
        pkg.licenses = [lic.strip()]
    meta = pkg.metadata
    if epoch is not None:
        meta["epoch"] = epoch
    if sourcerpm:
        meta["source_rpm"] = sourcerpm
    for key, tag in (("vendor", VENDOR), ("modularity_label", MODULARITYLABEL)):
        value = hdr.string(tag)
        if value:
            meta[key] = value
    size = hdr.int(SIZE)
    if size is not None:
        meta["installed_size"] = size
    return pkg


def _owned(hdr: RpmHeader, root: str) -> Callable[[], Iterable[str]]:
    def files() -> Iterator[str]:
        try:
            paths = hdr.file_paths()
        except RecordError as exc:
            raise ValueError(str(exc)) from exc
        for p in paths:
            yield root + p

    return files


def _packages(ctx: ParseContext, info: FileInfo, parser: str, records: Iterable[Record]) -> list[Package]:
    """Packages of every readable record; damaged records and a damaged tail become warnings."""
    out: list[Package] = []
    root = _root_of(info.path)
    bad = 0
    seen: set[int] = set()
    try:
        for key, blob in records:
            if ctx.timed_out():
                ctx.warn(info.path, f"{parser}: stopped at the scan deadline; packages are missing")
                break
            try:
                if isinstance(blob, RecordError):
                    raise blob
                if key > 0 and key in seen:
                    continue  # a stale copy of a record already read
                hdr = RpmHeader(blob)
                pkg = _package(ctx, info, parser, hdr)
            except RecordError as exc:
                bad += 1
                if bad <= MAX_RECORD_WARNINGS:
                    ctx.warn(info.path, f"{parser}: record {key} skipped ({exc})")
                continue
            seen.add(key)
            if pkg is not None:
                ctx.add_owned_files(pkg, _owned(hdr, root))
                out.append(pkg)
    except RpmDbError as exc:
        if not out and not bad:
            raise ParseError(str(exc)) from exc
        ctx.warn(info.path, f"{parser}: database damaged after {len(out)} packages ({exc})")
    if bad > MAX_RECORD_WARNINGS:
        ctx.warn(info.path, f"{parser}: {bad - MAX_RECORD_WARNINGS} more damaged records skipped")
    return out


def _copy_out(ctx: ParseContext, item: FileInfo | str, dest: str) -> None:
    """Stream a file of the tree (the claimed entry itself, or a path) to the host, refusing files over COPY_LIMIT."""
    total = 0
    path = item if isinstance(item, str) else item.path
    with (ctx.tree.open(item) if isinstance(item, str) else ctx.open(item)) as src, open(dest, "wb") as out:
        while chunk := src.read(1024 * 1024):
            total += len(chunk)
            if total > COPY_LIMIT:
                raise ParseError(f"{posixpath.basename(path)} is larger than the {COPY_LIMIT}-byte copy limit")
            out.write(chunk)


def parse_sqlite(ctx: ParseContext, info: FileInfo) -> list[Package]:
    """Installed packages of an rpmdb.sqlite, read from a private copy (with its write-ahead log)."""
    if info.size == 0:
        return []
    with tempfile.TemporaryDirectory(prefix="threatstryker-rpmdb-") as tmp:
        db = os.path.join(tmp, "rpmdb.sqlite")
        _copy_out(ctx, info, db)
        wal = ctx.tree.stat(info.path + "-wal")
        if wal is not None and wal.is_file and wal.size:
            _copy_out(ctx, info.path + "-wal", db + "-wal")
        with closing(read_sqlite(db, ctx.timed_out)) as records:  # closes the connection before the cleanup
            return _packages(ctx, info, "rpmdb-sqlite", records)


def _superseded(ctx: ParseContext, info: FileInfo, parser: str) -> bool:
    """True when an rpmdb.sqlite beside an old-format database is the one rpm uses (after a conversion)."""
    sibling = ctx.tree.stat(posixpath.join(posixpath.dirname(info.path), "rpmdb.sqlite"))
    if sibling is None or not sibling.is_file or sibling.size == 0:
        return False
    ctx.warn(info.path, f"{parser}: skipped, the rpmdb.sqlite beside it is the current database")
    return True


def parse_bdb(ctx: ParseContext, info: FileInfo) -> list[Package]:
    """Installed packages of a Berkeley DB ``Packages`` file (RHEL/CentOS 8 and older, Amazon Linux 2)."""
    if info.size == 0 or _superseded(ctx, info, "rpmdb-bdb"):
        return []
    with ctx.open(info) as fh:
        return _packages(ctx, info, "rpmdb-bdb", read_bdb(fh, info.size))


def parse_ndb(ctx: ParseContext, info: FileInfo) -> list[Package]:
    """Installed packages of an NDB ``Packages.db`` (SUSE)."""
    if info.size == 0 or _superseded(ctx, info, "rpmdb-ndb"):
        return []
    with ctx.open(info) as fh:
        return _packages(ctx, info, "rpmdb-ndb", read_ndb(fh, info.size))


CATALOGER = Cataloger(
    name="rpm",
    os_packages=True,
    parsers=tuple(
        Parser(f"**{d}{name}", fn, parser_id)
        for d in DB_DIRS
        for name, fn, parser_id in (
            ("rpmdb.sqlite", parse_sqlite, "rpmdb-sqlite"),
            ("Packages", parse_bdb, "rpmdb-bdb"),
            ("Packages.db", parse_ndb, "rpmdb-ndb"),
        )
    ),
)
