"""The declaration of a cataloger (globs paired with parsers) and the context every parser receives."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from packageurl import PackageURL

from threatstryker.model import Distro, Location, Package, ScanWarning
from threatstryker.sbom.executable import ExeLayout, exe_layout
from threatstryker.sources.filetree import DEFAULT_READ_LIMIT, FileInfo, FileTree, display_path, read_capped

#: Lockfiles and manifests larger than this are not read into memory by the default parsers.
MANIFEST_READ_LIMIT = 64 * 1024 * 1024


class ParseError(Exception):
    """A file a parser claimed is malformed; the message says what is wrong with it."""


ParseFn = Callable[["ParseContext", FileInfo], Iterable[Package]]
BinaryFn = Callable[["ParseContext", FileInfo, "BinaryFile"], Iterable[Package]]
FinalizeFn = Callable[["ParseContext", list[Package]], list[Package]]


@dataclass(frozen=True, slots=True)
class Parser:
    """One file format a cataloger reads: the glob that claims its paths and the function that parses it.

    ``declared`` marks manifests and lockfiles (what a project asks for) as opposed to what is installed.
    """

    glob: str
    parse: ParseFn
    name: str
    declared: bool = False


@dataclass(frozen=True, slots=True)
class Cataloger:
    """An ecosystem's cataloger: its parsers by glob, an optional parser of executables and a finaliser."""

    name: str
    parsers: tuple[Parser, ...] = ()
    binary: BinaryFn | None = None
    finalize: FinalizeFn | None = None
    os_packages: bool = False


class BinaryFile:
    """An executable candidate, opened once and shared by every binary parser (Go, Rust, ...)."""

    ELF_MAGIC = b"\x7fELF"

    def __init__(self, info: FileInfo, stream: BinaryIO) -> None:
        self.info = info
        self.stream = stream
        self.magic = stream.read(4)
        stream.seek(0)
        self._layout: ExeLayout | None = None
        self._layout_read = False

    @property
    def is_elf(self) -> bool:
        return self.magic == self.ELF_MAGIC

    def layout(self) -> ExeLayout | None:
        """Sections and segments of the executable (read once), or None when the headers are unreadable."""
        if not self._layout_read:
            self._layout_read = True
            self._layout = exe_layout(self.stream, self.magic)
        return self._layout

    def section_data(self, name: str, limit: int = 64 * 1024 * 1024) -> bytes | None:
        """The bytes of a section stored in the file, or None when absent or larger than ``limit``."""
        layout = self.layout()
        sec = layout.section(name) if layout is not None else None
        if sec is None or sec.size > limit:
            return None
        data = layout.read(sec.offset, sec.size)  # type: ignore[union-attr]
        return data if len(data) == sec.size else None


@dataclass(slots=True)
class ParseContext:
    """What a parser may use: the tree, the distro, warnings, and bookkeeping for file ownership."""

    tree: FileTree
    distro: Distro | None = None
    warnings: list[ScanWarning] = field(default_factory=list)
    deadline: float | None = None
    owned_files: list[tuple[Package, Callable[[], Iterable[str]]]] = field(default_factory=list)

    def warn(self, path: str, reason: str) -> None:
        self.warnings.append(ScanWarning(display_path(path), reason))

    def location(self, info: FileInfo, inner: str | None = None) -> Location:
        """The Location of a file (with its layer); ``inner`` appends a path inside an archive."""
        path = info.path if inner is None else f"{info.path}:{inner}"
        return Location(display_path(path), info.layer)

    def open(self, info: FileInfo) -> BinaryIO:
        """The content of the claimed file itself: for an image layer's entry, that layer's version of it."""
        return self.tree.open_info(info)

    def read_bytes(self, info: FileInfo, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        """The whole claimed file (see ``open``); FileTooLarge above ``limit`` bytes."""
        return read_capped(lambda: self.open(info), info.path, info.size, limit)

    def read_text(self, info: FileInfo, limit: int = DEFAULT_READ_LIMIT) -> str:
        return self.read_bytes(info, limit).decode("utf-8", "replace")

    def add_owned_files(self, package: Package, files: Callable[[], Iterable[str]]) -> None:
        """Declare that an OS package owns the paths ``files()`` yields (read lazily, once, if needed)."""
        self.owned_files.append((package, files))

    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


def reachable(start: Iterable[str], edges: Callable[[str], Iterable[str]]) -> set[str]:
    """Every node reachable from ``start`` in a dependency graph (iterative: lockfiles can be deep)."""
    seen: set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges(node))
    return seen


def load_json(ctx: ParseContext, info: FileInfo, limit: int = MANIFEST_READ_LIMIT) -> Any:
    """A JSON document read with a size limit (a UTF-8 byte order mark is allowed).

    None for a file that holds nothing but white space: an empty file declares no package.
    """
    data = ctx.read_bytes(info, limit)
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        return None
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def load_json_object(ctx: ParseContext, info: FileInfo, limit: int = MANIFEST_READ_LIMIT) -> dict[str, Any]:
    """A JSON document whose top level must be an object (a lockfile); ParseError otherwise, empty included."""
    data = load_json(ctx, info, limit)
    if data is None:
        raise ParseError("invalid JSON: the file is empty")
    if not isinstance(data, dict):
        raise ParseError("top level is not an object")
    return data


def purl(
    ptype: str,
    name: str,
    version: str | None,
    namespace: str | None = None,
    qualifiers: dict[str, str] | None = None,
    subpath: str | None = None,
) -> str:
    """A package URL string (spec-encoded by packageurl-python); empty qualifiers are dropped."""
    quals = {k: v for k, v in (qualifiers or {}).items() if v}
    return PackageURL(
        type=ptype, namespace=namespace or None, name=name, version=version or None,
        qualifiers=quals or None, subpath=subpath,
    ).to_string()
