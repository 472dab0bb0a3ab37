"""FileTree: the one read-only view of a target's files that every scanner reads through."""

from __future__ import annotations

import io
import posixpath
import re
import stat as statmod
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from threatstryker.model import ScanWarning

#: Default cap for reading a whole file into memory; larger files must be streamed with ``open``.
DEFAULT_READ_LIMIT = 64 * 1024 * 1024
#: Symlink hops before a path is declared a loop (the kernel's MAXSYMLINKS).
MAX_SYMLINK_HOPS = 40

FILE, DIR, SYMLINK, HARDLINK, OTHER = "file", "dir", "symlink", "hardlink", "other"


class FileTreeError(Exception):
    """A path could not be resolved or opened inside the tree; the message names the path and the reason."""


class FileTooLarge(FileTreeError):
    """A file is larger than the limit a caller asked to read into memory."""


@dataclass(slots=True)
class FileInfo:
    """One entry of a FileTree, as stored in the target (symlinks not followed).

    ``path`` is absolute inside the target; ``layer`` is the image layer (diff id) the entry came from, or
    None outside images; ``link`` is a symlink's raw target or a hard link's target path.
    """

    path: str
    kind: str
    size: int = 0
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str | None = None
    layer: str | None = None

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def is_file(self) -> bool:
        return self.kind == FILE

    @property
    def is_executable(self) -> bool:
        return self.kind == FILE and bool(self.mode & 0o111)

    @property
    def is_program(self) -> bool:
        """A regular file that may hold machine code: executable, or a shared library (often not +x)."""
        return self.kind == FILE and (bool(self.mode & 0o111) or is_shared_library(self.name))


def kind_of_mode(mode: int) -> str:
    if statmod.S_ISREG(mode):
        return FILE
    if statmod.S_ISDIR(mode):
        return DIR
    if statmod.S_ISLNK(mode):
        return SYMLINK
    return OTHER


def normpath(path: str) -> str:
    """Absolute, normalised path inside a tree: '/a/b'. '..' never climbs above '/'."""
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts:
                parts.pop()
            continue
        parts.append(comp)
    return "/" + "/".join(parts)


def display_path(path: str) -> str:
    """A path safe to print or encode as JSON: undecodable bytes of non-UTF-8 names become U+FFFD."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def glob_to_regex(pattern: str) -> str:
    """Translate a path glob ('**/' any depth, '*' within a component, '?', '[..]') into a regex."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


class PathMatcher:
    """Matches paths against many globs at once, cheaply.

    Globs are bucketed by what their last component pins down (an exact name, a literal suffix such as
    '.jar', or the parent directory's name for 'dir/*'), so that most paths are rejected by one set lookup
    and one ``str.endswith`` before any regex runs.
    """

    def __init__(self, patterns: Iterable[tuple[str, object]]) -> None:
        self._by_name: dict[str, list[tuple[re.Pattern[str], object]]] = {}
        self._by_suffix: dict[str, list[tuple[re.Pattern[str], object]]] = {}
        self._by_parent: dict[str, list[tuple[re.Pattern[str], object]]] = {}
        self._other: list[tuple[re.Pattern[str], object]] = []
        for pattern, value in patterns:
            if not pattern.startswith("/") and not pattern.startswith("**"):
                pattern = "**/" + pattern
            rx = re.compile(glob_to_regex(pattern.lstrip("/")) + r"\Z", re.DOTALL)
            parts = pattern.rsplit("/", 2)
            base = parts[-1]
            parent = parts[-2] if len(parts) > 1 else ""
            entry = (rx, value)
            tail = re.split(r"[*?\]]", base)[-1]
            if "**" in base:
                self._other.append(entry)
            elif not any(ch in base for ch in "*?["):
                self._by_name.setdefault(base, []).append(entry)
            elif tail:
                self._by_suffix.setdefault(tail, []).append(entry)
            elif parent and not any(ch in parent for ch in "*?["):
                self._by_parent.setdefault(parent, []).append(entry)
            else:
                self._other.append(entry)
        self.names = frozenset(self._by_name)
        self.suffixes = tuple(sorted(self._by_suffix, key=len, reverse=True))
        self.parents = frozenset(self._by_parent)
        self.catch_all = bool(self._other)

    def quick(self, base: str, parent: str) -> bool:
        """False when no glob can match a file of this name in a directory of this name."""
        return (
            self.catch_all
            or base in self.names
            or (bool(self.suffixes) and base.endswith(self.suffixes))
            or parent in self.parents
        )

    def match(self, path: str) -> list[object]:
        """Every value whose glob matches ``path`` (absolute)."""
        rel = path.lstrip("/")
        head, _, base = rel.rpartition("/")
        parent = head.rpartition("/")[2]
        found: list[object] = []
        for rx, value in self._by_name.get(base, ()):
            if rx.match(rel):
                found.append(value)
        if self.suffixes and base.endswith(self.suffixes):
            for suffix in self.suffixes:
                if base.endswith(suffix):
                    for rx, value in self._by_suffix[suffix]:
                        if rx.match(rel):
                            found.append(value)
        for rx, value in self._by_parent.get(parent, ()):
            if rx.match(rel):
                found.append(value)
        for rx, value in self._other:
            if rx.match(rel):
                found.append(value)
        return found


#: Extensions of files that are never Go/Rust/ELF programs: the walk need not stat them to find binaries.
NOT_BINARY_EXTENSIONS = frozenset(
    """py pyc pyo pyi pyx pxd h hpp hh c cc cpp rs go java class jar war ear js mjs cjs ts map json yaml yml
    toml cfg ini conf txt md rst html htm css svg png jpg jpeg gif ico bmp webp xml xsd xsl dtd mo po pot gz
    xz bz2 zst zip deb rpm lock list md5sums sh bash zsh pl pm pod rb erb tcl el elc vim pem crt key pub der
    csr ttf otf woff woff2 pfb afm enc cmap desktop service socket timer target mount path rules policy
    typelib gir mk am in m4 ac cmake pc la a o tex sty cls bib csv tsv sql db sqlite ipynb lua php phar
    properties gradle kt swift dart ex exs erl hrl hs ml mli vb cs fs resx xaml pdf ps eps dvi info man 1 2 3
    4 5 6 7 8 9 gz tmpl template tpl j2 jinja ejs hbs mustache diff patch rej orig bak swp log pid lockb""".split()  # noqa: SIM905
)


def is_shared_library(name: str) -> bool:
    """'libx.so', 'libx.so.1.2': shared objects, which Go (c-shared) and Rust (cdylib) builds also produce."""
    return name.endswith(".so") or ".so." in name


def maybe_binary(name: str) -> bool:
    """True unless the file name's extension says it cannot be an executable program."""
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    return ext not in NOT_BINARY_EXTENSIONS or is_shared_library(name)


class _Bounded(io.RawIOBase):
    """A read-only window [start, start+size) of a seekable file; lets tar members be read in place."""

    def __init__(self, fh: BinaryIO, start: int, size: int) -> None:
        self._fh = fh
        self._start = start
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self._pos = offset
        elif whence == 1:
            self._pos += offset
        else:
            self._pos = self._size + offset
        self._pos = max(0, self._pos)
        return self._pos

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        remaining = self._size - self._pos
        if remaining <= 0:
            return 0
        want = min(len(b), remaining)
        self._fh.seek(self._start + self._pos)
        data = self._fh.read(want)
        n = len(data)
        b[:n] = data
        self._pos += n
        return n


def bounded_reader(fh: BinaryIO, start: int, size: int) -> BinaryIO:
    """A buffered reader over ``size`` bytes of ``fh`` starting at ``start``."""
    return io.BufferedReader(_Bounded(fh, start, size), buffer_size=256 * 1024)  # type: ignore[return-value]


class FileTree(ABC):
    """A read-only view of a target's files, confined to the target's root.

    Paths are absolute inside the target. Symlinks are resolved inside the root: an absolute link target
    points into the target, never the host, and '..' never climbs above the root. Problems that do not stop
    the scan (loops, unreadable files, corrupt members) are appended to ``warnings``.
    """

    def __init__(self) -> None:
        self.warnings: list[ScanWarning] = []
        self._warned: set[tuple[str, str]] = set()

    # -- what a concrete tree provides -------------------------------------------------------------
    @abstractmethod
    def lookup(self, path: str) -> FileInfo | None:
        """The entry stored at exactly ``path`` (normalised, parents already resolved), not followed."""

    @abstractmethod
    def entries(self) -> Iterator[FileInfo]:
        """Every entry of the tree (files, dirs, symlinks, others), each once, in no particular order."""

    @abstractmethod
    def _open_entry(self, info: FileInfo) -> BinaryIO:
        """A binary stream of a regular file's content."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open handles and temporary files."""

    def __enter__(self) -> FileTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- shared behaviour ---------------------------------------------------------------------------
    def warn(self, path: str, reason: str) -> None:
        """Record a problem once per (path, reason)."""
        key = (path, reason)
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(ScanWarning(display_path(path), reason))

    def resolve(self, path: str, follow_last: bool = True) -> str:
        """The path with every symlink resolved inside the root. Raises FileTreeError on a loop."""
        pending = [c for c in path.split("/") if c not in ("", ".")]
        pending.reverse()
        resolved: list[str] = []
        hops = 0
        while pending:
            comp = pending.pop()
            if comp == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join([*resolved, comp])
            info = self.lookup(candidate)
            if info is not None and info.kind == SYMLINK and (pending or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    self.warn(path, "too many levels of symbolic links (symlink loop)")
                    raise FileTreeError(f"{display_path(path)}: too many levels of symbolic links (loop)")
                target = info.link or ""
                if target.startswith("/"):
                    resolved = []
                tail = [c for c in target.split("/") if c not in ("", ".")]
                depth = len(resolved)
                for tcomp in tail:
                    depth += -1 if tcomp == ".." else 1
                    if depth < 0:
                        self.warn(candidate, f"symlink target {target!r} climbs above the root; kept inside it")
                        break
                pending.extend(reversed(tail))
                continue
            resolved.append(comp)
        return "/" + "/".join(resolved)

    def stat(self, path: str, follow: bool = True) -> FileInfo | None:
        """The entry at ``path`` (symlinks followed when ``follow``), or None when absent."""
        try:
            real = self.resolve(path, follow_last=follow)
        except FileTreeError:
            return None
        info = self.lookup(real)
        if info is not None and info.kind == HARDLINK:
            return self._hardlink_target(info)
        return info

    def _hardlink_target(self, info: FileInfo) -> FileInfo | None:
        target = self.lookup(normpath(info.link or ""))
        if target is None:
            return None
        return FileInfo(info.path, target.kind, target.size, target.mode, target.uid, target.gid,
                        target.link, info.layer)

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def open(self, path: str) -> BinaryIO:
        """A binary stream of a regular file (symlinks followed inside the root)."""
        real = self.resolve(path)
        info = self.lookup(real)
        if info is None:
            raise FileTreeError(f"{display_path(path)}: no such file")
        if info.kind == HARDLINK:
            target = self.lookup(normpath(info.link or ""))
            if target is None:
                raise FileTreeError(f"{display_path(path)}: hard link to missing {info.link!r}")
            info = target
        if info.kind != FILE:
            raise FileTreeError(f"{display_path(path)}: not a regular file ({info.kind})")
        try:
            return self._open_entry(info)
        except OSError as exc:
            raise FileTreeError(f"{display_path(path)}: {exc.strerror or exc}") from exc

    def open_info(self, info: FileInfo) -> BinaryIO:
        """The content of this very entry (for an image layer's entry: that layer's version of the file)."""
        return self.open(info.path)

    def history(self, path: str) -> Sequence[FileInfo]:
        """Every stored version of ``path``, oldest first; trees without layers keep none but the current."""
        return []

    def read_bytes(self, path: str, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        """A whole file's content; FileTooLarge when it is larger than ``limit`` bytes."""
        info = self.stat(path)
        size = info.size if info is not None and info.kind == FILE else None
        return read_capped(lambda: self.open(path), path, size, limit)

    def read_text(self, path: str, limit: int = DEFAULT_READ_LIMIT) -> str:
        """A whole file decoded as UTF-8 (undecodable bytes replaced)."""
        return self.read_bytes(path, limit).decode("utf-8", "replace")

    def files(self) -> Iterator[FileInfo]:
        """Every regular file (hard links included, presented as files)."""
        for info in self.entries():
            if info.kind == FILE:
                yield info
            elif info.kind == HARDLINK:
                target = self._hardlink_target(info)
                if target is not None and target.kind == FILE:
                    yield target

    def select(
        self, matcher: PathMatcher, executables: bool = False, stop: Callable[[], bool] | None = None
    ) -> Iterator[tuple[FileInfo, list[object]]]:
        """Regular files a glob of ``matcher`` claims (with the values matched), plus, when ``executables``,
        files with an execute bit that may be programs (with an empty list). Trees may do this faster.
        ``stop`` ends the walk early (a scan's deadline). A claimed path that is a device, FIFO or socket is
        not yielded but recorded as a warning."""
        for entry in self.entries():
            if stop is not None and stop():
                return
            if entry.kind == FILE:
                info = entry
            elif entry.kind == HARDLINK:
                target = self._hardlink_target(entry)
                if target is None or target.kind != FILE:
                    continue
                info = target
            else:
                if entry.kind == OTHER and matcher.quick(entry.name, _parent_name(entry.path)) \
                        and matcher.match(entry.path):
                    self.warn(entry.path, "not a regular file (device, FIFO or socket); not read")
                continue
            name = info.name
            hits = matcher.match(info.path) if matcher.quick(name, _parent_name(info.path)) else []
            if hits or (executables and info.is_program and maybe_binary(name)):
                yield info, hits

    def glob(self, *patterns: str) -> Iterator[FileInfo]:
        """Regular files whose path matches any of the globs ('**/' matches any depth)."""
        matcher = PathMatcher((p, p) for p in patterns)
        for info in self.files():
            if matcher.match(info.path):
                yield info

    def listdir(self, path: str) -> list[FileInfo]:
        """Entries directly inside a directory (generic, scans all entries; trees may do better)."""
        real = self.resolve(path)
        prefix = real.rstrip("/") + "/"
        return [e for e in self.entries() if e.path.startswith(prefix) and "/" not in e.path[len(prefix):]]

    def list_names(self, path: str) -> list[str]:
        """Names of the entries directly inside a directory (no stat of each; trees may do better)."""
        return [e.name for e in self.listdir(path)]

    def layer_of(self, path: str) -> str | None:
        """The layer a file came from (None outside images)."""
        info = self.stat(path)
        return info.layer if info else None


def _parent_name(path: str) -> str:
    """The name of the directory holding ``path`` ('' at the top)."""
    return path.rsplit("/", 2)[-2] if path.count("/") > 1 else ""


def read_capped(open_stream: Callable[[], BinaryIO], path: str, size: int | None, limit: int) -> bytes:
    """All of a stream, or FileTooLarge when it holds more than ``limit`` bytes (refused before any read when
    the stored ``size`` already says so; never more than ``limit + 1`` bytes in memory)."""
    if size is not None and size > limit:
        raise FileTooLarge(f"{display_path(path)}: {size} bytes, larger than the {limit}-byte read limit")
    with open_stream() as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"{display_path(path)}: larger than the {limit}-byte read limit")
    return data
