"""What the file scanners (secrets, malware) read in a FileTree: which files (and, in images, which older
layer versions), which to skip (excluded, lockfiles, too large), and how content is sniffed (text, binary,
printable strings).

Every regular file of the squashed view is yielded once; for a :class:`LayeredTree`, every version of a file
that a layer wrote but that is not the one the final view shows (overwritten or deleted by a later layer) is
yielded too, with ``present=False`` and the layer that wrote it. Symlinks are never followed (the file they
point to is read at its own path, if it is in the tree); FIFOs, sockets and devices are never opened.
"""

from __future__ import annotations

import bisect
import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from threatstryker.sources.filetree import FILE, FileInfo, FileTree, PathMatcher, display_path
from threatstryker.sources.layered import LayeredTree

#: Files larger than this are not scanned (archives are expanded whatever their size, within their bounds).
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
#: Bytes at the start of a file that the binary sniffing looks at.
SNIFF_BYTES = 8192
#: Printable runs shorter than this are not taken from binaries.
MIN_STRING_LENGTH = 8

#: Dependency lockfiles: hashes and registry URLs that look like secrets, and no secret of the project.
LOCKFILE_NAMES = frozenset({
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock", "bun.lockb",
    "deno.lock", "poetry.lock", "Pipfile.lock", "pdm.lock", "uv.lock", "pylock.toml", "Cargo.lock", "go.sum",
    "go.work.sum", "composer.lock", "Gemfile.lock", "gems.locked", "mix.lock", "packages.lock.json",
    "paket.lock", "pubspec.lock", "Podfile.lock", "Package.resolved", "gradle.lockfile", "flake.lock",
    "conan.lock", "shrinkwrap.yaml", "cabal.project.freeze", "stack.yaml.lock", "renv.lock", "Manifest.toml",
    "vcpkg-lock.json", "MODULE.bazel.lock",
})

#: Leading bytes of formats that hold no text worth scanning: images, media, fonts, compiled objects,
#: databases, compressed streams that are not expanded (zip, gzip, tar, bzip2 and xz are expanded first). Short
#: magics that text could start with carry the format's next bytes too.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"), (b"II*\x00", "TIFF image"), (b"MM\x00*", "TIFF image"), (b"8BPS\x00", "PSD image"),
    (b"\x00\x00\x01\x00", "icon"), (b"RIFF", "RIFF media"), (b"OggS\x00", "Ogg media"),
    (b"fLaC\x00", "FLAC audio"), (b"ID3\x02", "MP3 audio"), (b"ID3\x03", "MP3 audio"), (b"ID3\x04", "MP3 audio"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM video"), (b"FLV\x01", "Flash video"), (b"wOFF", "WOFF font"),
    (b"wOF2", "WOFF2 font"), (b"\x00\x01\x00\x00\x00", "TrueType font"), (b"OTTO\x00", "OpenType font"),
    (b"%PDF-", "PDF document"), (b"\x7fELF", "ELF object"), (b"\xca\xfe\xba\xbe", "Java class or Mach-O"),
    (b"\xfe\xed\xfa\xce", "Mach-O"), (b"\xfe\xed\xfa\xcf", "Mach-O"), (b"\xce\xfa\xed\xfe", "Mach-O"),
    (b"\xcf\xfa\xed\xfe", "Mach-O"), (b"\x00asm", "WebAssembly"), (b"dex\n", "Dalvik executable"),
    (b"SQLite format 3\x00", "SQLite database"), (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"), (b"Rar!\x1a\x07", "RAR archive"), (b"\x04\x22\x4d\x18", "LZ4 data"),
    (b"!<arch>\n", "ar archive"), (b"\xed\xab\xee\xdb", "RPM package"), (b"PACK\x00\x00\x00", "git pack"),
    (b"DIRC\x00\x00\x00", "git index"), (b"\x78\x01", "zlib data"), (b"\x78\x9c", "zlib data"),
    (b"\x78\xda", "zlib data"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2 document"),
    (b"\xfd7zXZ\x00", "xz data"),
)
_MAGIC_RX = re.compile(b"|".join(re.escape(magic) for magic, _ in sorted(_MAGIC, key=lambda m: -len(m[0]))))
_MAGIC_NAMES = dict(_MAGIC)
#: The four bytes after an MP4/QuickTime/HEIF box size.
_FTYP_AT_4 = b"ftyp"
#: Control bytes that never occur in text (everything below 0x20 but tab, newline, form feed, carriage return
#: and escape, plus DEL); more than this share of them in the sniffed head means binary.
_CONTROL = bytes(b for b in range(32) if b not in (8, 9, 10, 12, 13, 27)) + b"\x7f"
_MAX_CONTROL_SHARE = 0.10

_ASCII_RUN = re.compile(rb"[\x20-\x7e\t]{%d,}" % MIN_STRING_LENGTH)
_UTF16LE_RUN = re.compile(rb"(?:[\x20-\x7e\t]\x00){%d,}" % MIN_STRING_LENGTH)


def is_lockfile(name: str) -> bool:
    """Whether a file name is a dependency lockfile's."""
    return name in LOCKFILE_NAMES


def sniff_binary(head: bytes) -> str | None:
    """Why the content starting with ``head`` is not text (a format's name, or "contains NUL bytes"), or None
    for text. UTF-16 text with a byte order mark is text (see :func:`as_text`)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    m = _MAGIC_RX.match(head)
    if m is not None:
        return _MAGIC_NAMES[m.group()]
    if head[4:8] == _FTYP_AT_4:
        return "MP4/QuickTime/HEIF media"
    if b"\x00" in head:
        return "contains NUL bytes"
    if head and len(head) - len(head.translate(None, _CONTROL)) > _MAX_CONTROL_SHARE * len(head):
        return "mostly control characters"
    return None


def as_text(data: bytes) -> bytes:
    """Content ready for the engine: UTF-16 text (with its byte order mark) re-encoded as UTF-8; other content
    unchanged. Lines keep their numbers."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace").encode("utf-8", "replace")
    return data


@dataclass(frozen=True, slots=True)
class Strings:
    """Printable strings of a binary, one per line of ``text``; ``offsets[i]`` is where line i+1 starts in the
    binary and ``widths[i]`` its bytes per character (1 for ASCII, 2 for UTF-16LE)."""

    text: bytes
    line_starts: tuple[int, ...]
    offsets: tuple[int, ...]
    widths: tuple[int, ...]

    def file_offset(self, start: int) -> int:
        """Where the character at ``start`` in ``text`` lies in the binary."""
        i = max(0, bisect.bisect_right(self.line_starts, start) - 1)
        if not self.offsets:
            return 0
        return self.offsets[i] + (start - self.line_starts[i]) * self.widths[i]


def printable_strings(data: bytes, min_length: int = MIN_STRING_LENGTH, utf16: bool | None = None) -> Strings:
    """The runs of at least ``min_length`` printable ASCII characters, and of printable characters in UTF-16LE,
    in file order, one per line. UTF-16 runs are looked for unless ``utf16`` is False; by default not in ELF
    files, which keep their strings in ASCII/UTF-8 (the UTF-16 search is the slower half of the work)."""
    ascii_rx = _ASCII_RUN if min_length == MIN_STRING_LENGTH else re.compile(rb"[\x20-\x7e\t]{%d,}" % min_length)
    runs = [(m.start(), m.group(), 1) for m in ascii_rx.finditer(data)]
    if utf16 if utf16 is not None else not data.startswith(b"\x7fELF"):
        utf16_rx = _UTF16LE_RUN if min_length == MIN_STRING_LENGTH else \
            re.compile(rb"(?:[\x20-\x7e\t]\x00){%d,}" % min_length)
        runs += [(m.start(), m.group()[::2], 2) for m in utf16_rx.finditer(data)]
    runs.sort(key=lambda r: r[0])
    parts: list[bytes] = []
    line_starts: list[int] = []
    pos = 0
    for _, text, _ in runs:
        line_starts.append(pos)
        parts.append(text)
        pos += len(text) + 1
    return Strings(b"\n".join(parts), tuple(line_starts), tuple(r[0] for r in runs), tuple(r[2] for r in runs))


@dataclass(slots=True)
class WalkItem:
    """A file to read: the entry (for an image layer's version: that layer's entry), the path shown in
    findings, the layer that wrote it, whether it is the version the final view shows, and the layer's
    position (-1 outside images)."""

    info: FileInfo
    path: str
    layer: str | None = None
    present: bool = True
    layer_index: int = -1


@dataclass(slots=True)
class WalkCounts:
    """Files the walk looked at and the ones it left out, by reason."""

    files: int = 0
    hidden_versions: int = 0
    excluded: int = 0
    lockfiles: int = 0
    too_large: int = 0


@dataclass(slots=True)
class Walker:
    """Walks a tree for the secret scanner with its exclusion rules; problems go to ``warn``.

    ``exclude`` holds path globs ('**/node_modules/**', '/etc/ssl/*'); ``lockfiles`` scans lockfiles too;
    ``layers`` scans the versions of files that later image layers replaced or deleted.
    """

    warn: Callable[[str, str], None]
    exclude: tuple[str, ...] = ()
    lockfiles: bool = False
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    layers: bool = True
    counts: WalkCounts = field(default_factory=WalkCounts)
    _excluder: PathMatcher | None = None

    def __post_init__(self) -> None:
        self._excluder = PathMatcher((p, p) for p in self.exclude) if self.exclude else None

    def excluded(self, path: str) -> bool:
        """Whether an in-tree path (or an archive member's path, made absolute) matches an exclude glob."""
        return self._excluder is not None and bool(self._excluder.match(path))

    def skip_name(self, path: str, name: str) -> bool:
        """Whether a file is left out by its path or name (counted)."""
        if self.excluded(path):
            self.counts.excluded += 1
            return True
        if not self.lockfiles and is_lockfile(name):
            self.counts.lockfiles += 1
            return True
        return False

    def too_large(self, path: str, size: int) -> bool:
        """Whether a file is over the size cap (counted and warned)."""
        if size > self.max_file_size:
            self.counts.too_large += 1
            self.warn(display_path(path), f"{size} bytes, larger than the {self.max_file_size}-byte cap; not scanned")
            return True
        return False

    def walk(self, tree: FileTree, stop: Callable[[], bool] | None = None) -> Iterator[WalkItem]:
        """Every regular file of the squashed view, then (images) every older version of a file."""
        everything = PathMatcher([("**", True)])
        positions = {view.layer_id: i for i, view in enumerate(tree.layers)} if isinstance(tree, LayeredTree) else {}
        for info, _ in tree.select(everything, stop=stop):
            if info.kind != FILE:
                continue
            self.counts.files += 1
            if self.skip_name(info.path, info.name):
                continue
            index = positions.get(info.layer, -1) if info.layer is not None else -1
            yield WalkItem(info, display_path(info.path), info.layer, layer_index=index)
        if self.layers and isinstance(tree, LayeredTree):
            yield from self._hidden_versions(tree, stop)

    def _hidden_versions(self, tree: LayeredTree, stop: Callable[[], bool] | None) -> Iterator[WalkItem]:
        """File versions a layer wrote that the squashed view does not show (a later layer replaced or
        deleted them)."""
        for index, view in enumerate(tree.layers):
            for path, entry in view.entries.items():
                if stop is not None and stop():
                    return
                if entry.kind != FILE or tree.lookup(path) is entry:
                    continue
                self.counts.hidden_versions += 1
                if self.skip_name(path, entry.name):
                    continue
                yield WalkItem(entry, display_path(path), entry.layer, present=False, layer_index=index)


__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "LOCKFILE_NAMES",
    "MIN_STRING_LENGTH",
    "SNIFF_BYTES",
    "Strings",
    "WalkCounts",
    "WalkItem",
    "Walker",
    "as_text",
    "is_lockfile",
    "printable_strings",
    "sniff_binary",
]
