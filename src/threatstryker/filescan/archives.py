"""Expands archives met by the file scanners (secrets, malware) — zip, jar, war, apk, whl..., tar,
tar.gz/bz2/xz and single .gz/.bz2/.xz files — into their members, in memory, within a nesting depth and a byte budget.

Archives are recognised by their content, not their name. Members are read into memory only, never written
anywhere, so names such as '../../etc/passwd' are harmless; each member is read up to the size cap (nested
archives up to :data:`MAX_NESTED_ARCHIVE`) and every byte decompressed counts against the budget of the
top-level archive, so zip bombs, overlapping entries and gzip bombs stop early with a warning. A damaged
archive gives a warning naming it and the scan goes on with what was read. Members are shown as
``outer.zip:inner/path`` (``outer.zip:lib/a.jar:config.properties`` when nested).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from threatstryker.filescan.walk import Walker

ZIP, TAR, GZIP, BZIP2, XZ = "zip", "tar", "gzip", "bzip2", "xz"
#: Archives inside archives are opened down to this many levels (the archive in the tree is level 1).
DEFAULT_MAX_DEPTH = 3
#: Uncompressed bytes read from one archive in the tree, everything nested in it included.
DEFAULT_MAX_TOTAL = 256 * 1024 * 1024
#: Members named like archives are read into memory up to this size to be opened (others: the size cap).
MAX_NESTED_ARCHIVE = 64 * 1024 * 1024
#: Names of members that may be archives bigger than the size cap.
ARCHIVE_EXTENSIONS = (
    ".zip", ".jar", ".war", ".ear", ".aar", ".apk", ".whl", ".egg", ".nupkg", ".par", ".jpi", ".hpi", ".kar",
    ".tar", ".tgz", ".tbz2", ".txz", ".gz", ".bz2", ".xz",
)

_READ_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError,
    RuntimeError, NotImplementedError, ValueError, struct.error, UnicodeError,
)
_ENCRYPTED = 0x1
_COMPRESSED_SUFFIXES = {GZIP: (".gz", ".gzip"), BZIP2: (".bz2",), XZ: (".xz",)}


def _decompressor(kind: str, fh: BinaryIO) -> _Readable:
    """A reader of the decompressed content of a gzip, bzip2 or xz stream (not closed: ``fh`` is the caller's)."""
    if kind == GZIP:
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if kind == BZIP2:
        return bz2.BZ2File(fh)
    return lzma.LZMAFile(fh)


def archive_kind(head: bytes) -> str | None:
    """The archive format the content starting with ``head`` (512 bytes or more) is in, or None."""
    if head.startswith(b"PK\x03\x04"):
        return ZIP
    if head.startswith(b"\x1f\x8b"):
        return GZIP
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
        return BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return XZ
    if len(head) >= 512 and _is_tar_header(head[:512]):
        return TAR
    return None


def _is_tar_header(block: bytes) -> bool:
    """Whether a 512-byte block is a tar header with a valid checksum."""
    if block[257:262] != b"ustar" and not block[100:108].strip(b"0 \x00").isdigit():
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Member:
    """A regular file inside an archive: its path as shown (``outer.zip:inner/path``), its name inside its
    own archive, and its content."""

    path: str
    name: str
    data: bytes


class BudgetSpent(Exception):
    """The byte budget of a top-level archive is spent."""


class Stopped(Exception):
    """The caller asked the expansion to stop (the scan's deadline)."""


class _Budget:
    def __init__(self, total: int, stop: Callable[[], bool] | None) -> None:
        self.total = total
        self.left = total
        self.stop = stop

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise BudgetSpent
        if self.stop is not None and self.stop():
            raise Stopped


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _Counted(io.RawIOBase):
    """A read-only stream whose bytes count against a budget (a decompressor's output for tarfile).

    A read error of the inner stream (a truncated or corrupt compressed stream) ends the stream and is kept in
    ``error``: raised through a buffered reader, it would lose the bytes read before it."""

    def __init__(self, inner: _Readable, budget: _Budget) -> None:
        self._inner = inner
        self._budget = budget
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        if self.error is not None:
            return 0
        try:
            data = self._inner.read(len(b))
        except _READ_ERRORS as exc:
            self.error = exc
            return 0
        self._budget.take(len(data))
        n = len(data)
        b[:n] = data
        return n


class ArchiveExpander:
    """Opens archives for the secret scan: ``walker`` decides which members are skipped (exclude globs,
    lockfiles, size cap) and receives the warnings."""

    def __init__(self, walker: Walker, max_depth: int = DEFAULT_MAX_DEPTH, max_total: int = DEFAULT_MAX_TOTAL,
                 stop: Callable[[], bool] | None = None) -> None:
        self.walker = walker
        self.max_depth = max_depth
        self.max_total = max_total
        self.stop = stop
        self.archives = 0
        self.members = 0

    def expand(self, stream: BinaryIO, path: str, kind: str, name: str = "") -> Iterator[Member]:
        """The members of the archive in ``stream`` (seekable, at its start) shown at ``path``, depth first,
        nested archives expanded in their turn; ``name`` is the archive's file name."""
        budget = _Budget(self.max_total, self.stop)
        try:
            yield from self._expand(stream, path, kind, name or posixpath.basename(path), 1, budget)
        except BudgetSpent:
            self.walker.warn(path, f"archive expands to more than {self.max_total} bytes; stopped there "
                                   "(byte budget, possibly a decompression bomb)")
        except Stopped:
            return

    def _expand(self, stream: BinaryIO, path: str, kind: str, name: str, depth: int,
                budget: _Budget) -> Iterator[Member]:
        self.archives += 1
        if kind == ZIP:
            yield from self._zip(stream, path, depth, budget)
        elif kind == TAR:
            yield from self._tar(_Counted(stream, budget), path, depth, budget)
        else:
            yield from self._compressed(stream, path, kind, name, depth, budget)

    # -- formats ------------------------------------------------------------------------------------------
    def _zip(self, stream: BinaryIO, path: str, depth: int, budget: _Budget) -> Iterator[Member]:
        try:
            zf = zipfile.ZipFile(stream)
        except _READ_ERRORS as exc:
            self.walker.warn(path, f"not a readable zip archive ({_why(exc)}); not expanded")
            return
        encrypted = 0
        with zf:
            for zi in zf.infolist():
                if zi.is_dir():
                    continue
                if zi.flag_bits & _ENCRYPTED:
                    encrypted += 1
                    continue
                inner = f"{path}:{zi.filename}"
                cap = self._cap(inner, zi.filename, zi.file_size)
                if cap is None:
                    continue
                try:
                    with zf.open(zi) as fh:
                        data = fh.read(cap + 1)
                except _READ_ERRORS as exc:
                    self.walker.warn(inner, f"cannot read this archive member ({_why(exc)})")
                    continue
                budget.take(len(data))
                yield from self._member(inner, zi.filename, data, cap, depth, budget)
        if encrypted:
            self.walker.warn(path, f"{encrypted} encrypted member(s) not read")

    def _tar(self, raw: _Counted, path: str, depth: int, budget: _Budget) -> Iterator[Member]:
        count = 0
        problem: BaseException | None = None
        try:
            with tarfile.open(fileobj=io.BufferedReader(raw, 64 * 1024), mode="r|") as tar:
                for m in tar:
                    count += 1
                    if not m.isreg():
                        continue
                    inner = f"{path}:{m.name}"
                    cap = self._cap(inner, m.name, m.size)
                    if cap is None:
                        continue
                    fh = tar.extractfile(m)
                    if fh is None:
                        continue
                    data = fh.read(cap + 1)
                    yield from self._member(inner, m.name, data, cap, depth, budget)
        except (BudgetSpent, Stopped):
            raise
        except _READ_ERRORS as exc:
            problem = exc
        problem = raw.error or problem  # the decompressor's error explains tarfile's "unexpected end of data"
        if problem is not None:
            what = "not a readable tar archive" if count == 0 else f"corrupt or truncated after {count} entries"
            self.walker.warn(path, f"{what} ({_why(problem)}); kept what was read")

    def _compressed(self, stream: BinaryIO, path: str, kind: str, name: str, depth: int,
                    budget: _Budget) -> Iterator[Member]:
        """A gzip, bzip2 or xz file: a compressed tar (one level), or a single compressed file."""
        start = stream.tell()
        try:
            head = _decompressor(kind, stream).read(512)
        except _READ_ERRORS as exc:
            self.walker.warn(path, f"not a readable {kind} file ({_why(exc)}); not expanded")
            return
        stream.seek(start)
        if len(head) == 512 and _is_tar_header(head):
            yield from self._tar(_Counted(_decompressor(kind, stream), budget), path, depth, budget)
            return
        inner_name = _strip_suffix(name, kind)
        inner = f"{path}:{inner_name}"
        cap = MAX_NESTED_ARCHIVE if inner_name.lower().endswith(ARCHIVE_EXTENSIONS) else self.walker.max_file_size
        if self.walker.skip_name("/" + inner_name, inner_name):
            return
        reader = _Counted(_decompressor(kind, stream), budget)
        data = io.BufferedReader(reader).read(cap + 1)
        if reader.error is not None:
            self.walker.warn(path, f"{kind} data is corrupt or truncated ({_why(reader.error)}); "
                                   f"scanning the {len(data)} bytes before the damage")
        yield from self._member(inner, inner_name, data, cap, depth, budget)

    # -- members --------------------------------------------------------------------------------------------
    def _cap(self, inner: str, name: str, size: int) -> int | None:
        """How many bytes of a member to read (None: skip it, counted or warned by the walker)."""
        base = posixpath.basename(name)
        if self.walker.skip_name("/" + name.lstrip("/"), base):
            return None
        nested = base.lower().endswith(ARCHIVE_EXTENSIONS)
        if nested and size > self.walker.max_file_size:
            if size > MAX_NESTED_ARCHIVE:
                self.walker.warn(inner, f"nested archive of {size} bytes is larger than {MAX_NESTED_ARCHIVE}; "
                                        "not opened")
                return None
            return MAX_NESTED_ARCHIVE
        if self.walker.too_large(inner, size):
            return None
        return self.walker.max_file_size

    def _member(self, inner: str, name: str, data: bytes, cap: int, depth: int,
                budget: _Budget) -> Iterator[Member]:
        if len(data) > cap:
            self.walker.too_large(inner, len(data))
            return
        kind = archive_kind(data[:512])
        if kind is not None:
            if depth >= self.max_depth:
                self.walker.warn(inner, f"archive nested more than {self.max_depth} levels deep; not opened")
                return
            yield from self._expand(io.BytesIO(data), inner, kind, posixpath.basename(name), depth + 1, budget)
            return
        if self.walker.too_large(inner, len(data)):
            return
        self.members += 1
        yield Member(inner, name, data)


def _strip_suffix(name: str, kind: str) -> str:
    """The name of the file a compressed file holds: 'notes.txt.gz' -> 'notes.txt', 'a.tgz' -> 'a.tar'."""
    lower = name.lower()
    if lower.endswith((".tgz", ".tbz2", ".txz")):
        return name.rsplit(".", 1)[0] + ".tar"
    for suffix in _COMPRESSED_SUFFIXES[kind]:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = [
    "ARCHIVE_EXTENSIONS",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_TOTAL",
    "MAX_NESTED_ARCHIVE",
    "ArchiveExpander",
    "BudgetSpent",
    "Member",
    "Stopped",
    "archive_kind",
]
