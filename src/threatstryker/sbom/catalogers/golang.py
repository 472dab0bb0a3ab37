"""Go modules: go.mod requirements and the build information the Go linker embeds in executables.

Build information (``debug/buildinfo``) starts with the 14-byte magic ``\\xff Go buildinf:``, a pointer size
byte and a flags byte, 32 bytes in all. With flag bit 2 set (Go >= 1.18) the toolchain version and the module
information follow inline as two varint-length-prefixed strings; otherwise (Go 1.13 - 1.17) two pointers at
offset 16 give the virtual addresses of two Go string headers (data pointer, length), read through the
executable's segments. Nothing found in a scanned file is ever run.
"""

from __future__ import annotations

import posixpath
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from threatstryker.model import Package
from threatstryker.sbom.cataloger import BinaryFile, Cataloger, ParseContext, ParseError, Parser, purl
from threatstryker.sbom.executable import ExeLayout
from threatstryker.sources.filetree import FileInfo, FileTreeError

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_ALIGN = 16
#: Bytes of a data area searched for the magic when no dedicated section holds the build info.
_SEARCH_SIZE = 64 * 1024 * 1024
#: Upper bounds of the strings read from build info (module lists of the largest binaries are ~200 KiB).
_MAX_VERSION = 1024
_MAX_MODINFO = 8 * 1024 * 1024
#: Module information is framed by these 16-byte sentinels (cmd/go's infoStart / infoEnd).
_SENTINEL = 16
_GO_VERSION_RE = re.compile(r"go\d+(?:\.\d+){0,2}(?:(?:rc|beta)\d+)?")
_LOCAL_PREFIXES = ("./", "../", "/", ".\\", "..\\")


@dataclass(slots=True)
class GoModule:
    """A module line of build info: path, version, go.sum hash and the module replacing it, if any."""

    path: str
    version: str = ""
    sum: str = ""
    replace: GoModule | None = None


@dataclass(slots=True)
class BuildInfo:
    """Decoded Go build information: toolchain, main package, main module, dependencies, build settings."""

    go_version: str
    path: str = ""
    main: GoModule | None = None
    deps: list[GoModule] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def read_buildinfo(binary: BinaryFile) -> BuildInfo | None:
    """The build info of a Go executable, None when it has none; ParseError when it is damaged."""
    layout = binary.layout()
    if layout is None:
        return None
    sec = layout.section(".go.buildinfo") or layout.section("__go_buildinfo")
    if sec is not None and sec.size:
        area = (sec.offset, min(sec.size, _MAX_MODINFO))
    elif layout.fmt == "elf" and layout.has_sections:
        return None  # section headers and no Go section: not a Go program
    elif layout.data_start is not None:  # PE, Mach-O without the section, ELF stripped of section headers
        area = (layout.data_start[0], min(layout.data_start[1], _SEARCH_SIZE))
    else:
        return None
    found = _search_magic(layout, *area)
    if found is None:
        return None
    data = layout.read(found, min(area[0] + area[1] - found, _MAX_MODINFO))
    ptr_size, flags = data[14], data[15]
    if flags & 2:
        version, pos = _inline_string(data, _HEADER_SIZE, _MAX_VERSION)
        modinfo, _ = _inline_string(data, pos, _MAX_MODINFO)
    else:
        version = _pointed_string(layout, data, 16, ptr_size, flags, _MAX_VERSION)
        modinfo = _pointed_string(layout, data, 16 + ptr_size, ptr_size, flags, _MAX_MODINFO)
    return parse_modinfo(version.decode("utf-8", "replace"), _strip_sentinels(modinfo))


def _search_magic(layout: ExeLayout, offset: int, size: int) -> int | None:
    """The file offset of the build info magic in [offset, offset+size), 16-byte aligned, read in chunks."""
    chunk = 1024 * 1024
    for start in range(offset, offset + size, chunk):
        data = layout.read(start, min(chunk + _HEADER_SIZE, offset + size - start))
        i = data.find(BUILDINFO_MAGIC)
        while i >= 0:
            if (start + i) % _ALIGN == 0 and len(data) - i >= _HEADER_SIZE:
                return start + i
            i = data.find(BUILDINFO_MAGIC, i + 1)
        if len(data) < chunk:
            break
    return None


def _inline_string(data: bytes, pos: int, limit: int) -> tuple[bytes, int]:
    length = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ParseError("Go build info: truncated length")
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if length > limit or pos + length > len(data):
        raise ParseError(f"Go build info: string of {length} bytes runs past the data")
    return data[pos : pos + length], pos + length


def _pointed_string(layout: ExeLayout, data: bytes, at: int, ptr_size: int, flags: int, limit: int) -> bytes:
    if ptr_size not in (4, 8) or len(data) < at + ptr_size:
        raise ParseError(f"Go build info: unsupported pointer size {ptr_size}")
    fmt = (">" if flags & 1 else "<") + ("Q" if ptr_size == 8 else "I")
    (addr,) = struct.unpack_from(fmt, data, at)
    header = layout.read_addr(addr, 2 * ptr_size)
    if header is None:
        raise ParseError(f"Go build info: string header at {addr:#x} is outside the file")
    str_addr, length = struct.unpack(fmt + fmt[1], header)
    if length == 0:
        return b""
    if length > limit:
        raise ParseError(f"Go build info: string of {length} bytes is implausibly long")
    value = layout.read_addr(str_addr, length)
    if value is None:
        raise ParseError(f"Go build info: string data at {str_addr:#x} is outside the file")
    return value


def _strip_sentinels(modinfo: bytes) -> str:
    if len(modinfo) >= 2 * _SENTINEL + 1 and modinfo[-_SENTINEL - 1] == ord("\n"):
        modinfo = modinfo[_SENTINEL:-_SENTINEL]
    return modinfo.decode("utf-8", "replace")


def parse_modinfo(go_version: str, modinfo: str) -> BuildInfo:
    """Decode the tab-separated module information text (path/mod/dep/=>/build lines)."""
    info = BuildInfo(go_version=go_version)
    last: GoModule | None = None
    for line in modinfo.splitlines():
        verb, _, rest = line.partition("\t")
        if verb == "path":
            info.path = rest
        elif verb in ("mod", "dep", "=>"):
            fields = [*rest.split("\t"), "", ""]
            mod = GoModule(fields[0], fields[1], fields[2])
            if verb == "mod":
                info.main = last = mod
            elif verb == "dep":
                info.deps.append(mod)
                last = mod
            elif last is not None:
                last.replace = mod
                last = None
        elif verb == "build":
            key, value = _build_setting(rest)
            if key:
                info.settings[key] = value
    return info


def _build_setting(text: str) -> tuple[str, str]:
    """``key=value`` where either side may be a Go-quoted string."""
    if text.startswith('"'):
        key, text = _take_quoted(text)
        text = text[1:] if text.startswith("=") else text
    else:
        key, _, text = text.partition("=")
    value = _take_quoted(text)[0] if text.startswith('"') else text
    return key, value


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", '"': '"',
            "'": "'"}


def _take_quoted(text: str) -> tuple[str, str]:
    """Unquote a Go double-quoted string at the start of ``text``; returns (value, rest after the quote)."""
    out: list[str] = []
    i = 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), text[i + 1 :]
        if c == "\\" and i + 1 < len(text):
            e = text[i + 1]
            width = {"x": 2, "u": 4, "U": 8}.get(e)
            if width and re.fullmatch(r"[0-9a-fA-F]+", text[i + 2 : i + 2 + width] or "-"):
                out.append(chr(int(text[i + 2 : i + 2 + width], 16)))
                i += 2 + width
                continue
            if e in "01234567" and re.fullmatch(r"[0-7]{3}", text[i + 1 : i + 4]):
                out.append(chr(int(text[i + 1 : i + 4], 8)))
                i += 4
                continue
            out.append(_ESCAPES.get(e, e))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out), ""


def stdlib_version(go_version: str) -> str:
    """The Go release of a toolchain version string ("go1.22.2 X:boringcrypto" -> "go1.22.2")."""
    m = _GO_VERSION_RE.search(go_version)
    return m.group(0) if m else go_version.strip()


def go_purl(path: str, version: str) -> str:
    """pkg:golang/<namespace>/<name>@<version>: the module path's last element is the purl name."""
    namespace, _, name = path.rpartition("/")
    return purl("golang", name, version, namespace or None)


def _is_local(path: str) -> bool:
    return path.startswith(_LOCAL_PREFIXES) or bool(re.match(r"[A-Za-z]:[\\/]", path))


def _go_package(ctx: ParseContext, info: FileInfo, name: str, version: str, found_by: str) -> Package:
    return Package(
        ecosystem="golang", name=name, version=version, purl=go_purl(name, version), found_by=found_by,
        locations=[ctx.location(info)],
    )


def _module_package(ctx: ParseContext, info: FileInfo, mod: GoModule, found_by: str) -> Package:
    """A dependency as built: a replacement's path and version, a local replacement as "(devel)"."""
    rep = mod.replace
    if rep is None:
        pkg = _go_package(ctx, info, mod.path, mod.version or "(devel)", found_by)
        if mod.sum:
            pkg.metadata["h1"] = mod.sum
        return pkg
    if rep.version and not _is_local(rep.path):
        pkg = _go_package(ctx, info, rep.path, rep.version, found_by)
        if rep.sum:
            pkg.metadata["h1"] = rep.sum
    else:  # replaced by a directory: the code is not any published version of the module
        pkg = _go_package(ctx, info, mod.path, "(devel)", found_by)
    pkg.metadata["replaces"] = {"path": mod.path, "version": mod.version}
    pkg.metadata["replace"] = {"path": rep.path, "version": rep.version}
    return pkg


def parse_binary(ctx: ParseContext, info: FileInfo, binary: BinaryFile) -> Iterable[Package]:
    """The standard library, main module and dependency modules recorded in a Go executable."""
    build = read_buildinfo(binary)
    if build is None:
        return []
    if not build.go_version.startswith(("go", "devel")):
        raise ParseError(f"Go build info has an unexpected toolchain version {build.go_version[:40]!r}")
    packages: list[Package] = []
    std_version = stdlib_version(build.go_version)
    std = _go_package(ctx, info, "stdlib", std_version, "go-binary")
    if std_version != build.go_version:
        std.metadata["toolchain"] = build.go_version
    packages.append(std)
    described = std
    if build.main is not None and build.main.path:
        main = _module_package(ctx, info, build.main, "go-binary")
        main.metadata["main"] = True
        if main.version == "(devel)" and build.main.replace is None:
            stamped = ldflags_version(build.settings.get("-ldflags", ""))
            if stamped:
                main.version = stamped
                main.purl = go_purl(main.name, stamped)
                main.metadata["version_from"] = "ldflags"
        packages.append(main)
        described = main
    described.metadata.update(_main_metadata(build))
    packages.extend(_module_package(ctx, info, dep, "go-binary") for dep in build.deps)
    return packages


_LDFLAG_X = re.compile(r"""-X[= ]?(?:'([^']*)'|"([^"]*)"|(\S+))""")
_VERSION_KEYS = frozenset({"semver", "gittag", "tag", "release"})
_SEMVER = re.compile(r"v?\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.\-+]*)?")


def ldflags_version(ldflags: str) -> str:
    """The release a binary was stamped with by ``-ldflags "-X pkg.version=v1.2.3"``, as "v1.2.3", or "".

    A main module built from a checkout reports "(devel)"; release builds commonly set a version variable
    at link time (Kubernetes' gitVersion, most CLIs' main.version), which names the code that was built.
    """
    for m in _LDFLAG_X.finditer(ldflags):
        assignment = next(g for g in m.groups() if g is not None)
        key, sep, value = assignment.partition("=")
        if not sep:
            continue
        last = key.rsplit(".", 1)[-1].lower()
        value = value.strip("'\"")
        if (last.endswith("version") or last in _VERSION_KEYS) and _SEMVER.fullmatch(value):
            return value if value.startswith("v") else f"v{value}"
    return ""


def _main_metadata(build: BuildInfo) -> dict[str, object]:
    meta: dict[str, object] = {"go_version": build.go_version}
    if build.path:
        meta["main_path"] = build.path
    settings = build.settings
    for key in ("GOOS", "GOARCH"):
        if key in settings:
            meta[key.lower()] = settings[key]
    vcs = {k: v for k, v in settings.items() if k == "vcs" or k.startswith("vcs.")}
    if vcs:
        meta["vcs"] = vcs
    if settings:
        meta["build_settings"] = dict(settings)
    return meta


# --- go.mod ---------------------------------------------------------------------------------------------


def _tokens(line: str) -> tuple[list[str], str]:
    """The tokens of a go.mod line (quoted strings unquoted) and its trailing // comment."""
    tokens: list[str] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
        elif line.startswith("//", i):
            return tokens, line[i + 2 :].strip()
        elif c == '"':
            value, rest = _take_quoted(line[i:])
            tokens.append(value)
            i = n - len(rest)
        elif c == "`":
            end = line.find("`", i + 1)
            end = n if end < 0 else end
            tokens.append(line[i + 1 : end])
            i = end + 1
        else:
            j = i
            while j < n and not line[j].isspace() and not line.startswith("//", j):
                j += 1
            tokens.append(line[i:j])
            i = j
    return tokens, ""


@dataclass(slots=True)
class GoMod:
    """The directives of a go.mod file that name modules."""

    module: str = ""
    go: str = ""
    toolchain: str = ""
    requires: list[tuple[str, str, bool]] = field(default_factory=list)  # (path, version, indirect)
    replaces: dict[tuple[str, str], GoModule] = field(default_factory=dict)  # (path, version or "") -> new


def parse_gomod_text(text: str, warn: Callable[[int, str], None] | None = None) -> GoMod:
    """Parse go.mod text; malformed lines are passed to ``warn(line_number, reason)`` and skipped."""
    mod = GoMod()
    block: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        tokens, comment = _tokens(raw)
        if not tokens:
            continue
        if block is not None:
            if tokens == [")"]:
                block = None
                continue
            tokens = [block, *tokens]
        elif len(tokens) == 2 and tokens[1] == "(":
            block = tokens[0]
            continue
        problem = _directive(mod, tokens, comment)
        if problem and warn is not None:
            warn(lineno, problem)
    if block is not None and warn is not None:
        warn(len(text.splitlines()), f"unterminated {block} block")
    return mod


def _directive(mod: GoMod, tokens: list[str], comment: str) -> str | None:
    verb, args = tokens[0], tokens[1:]
    if verb == "module" and len(args) == 1:
        mod.module = args[0]
    elif verb == "go" and len(args) == 1:
        mod.go = args[0]
    elif verb == "toolchain" and len(args) == 1:
        mod.toolchain = args[0]
    elif verb == "require":
        if len(args) != 2:
            return f"require needs a module path and a version, got {' '.join(args)!r}"
        indirect = comment == "indirect" or comment.startswith("indirect;")
        mod.requires.append((args[0], args[1], indirect))
    elif verb == "replace":
        if "=>" not in args:
            return "replace without '=>'"
        at = args.index("=>")
        old, new = args[:at], args[at + 1 :]
        if len(old) not in (1, 2) or len(new) not in (1, 2):
            return f"malformed replace {' '.join(args)!r}"
        mod.replaces[(old[0], old[1] if len(old) == 2 else "")] = GoModule(new[0], new[1] if len(new) == 2 else "")
    elif verb in ("module", "go", "toolchain"):
        return f"malformed {verb} directive"
    elif verb not in ("exclude", "retract", "godebug", "tool", "ignore"):
        return f"unknown directive {verb!r}"
    return None


def _go_sums(ctx: ParseContext, gomod_path: str) -> dict[tuple[str, str], str]:
    path = posixpath.join(posixpath.dirname(gomod_path), "go.sum")
    try:
        text = ctx.tree.read_text(path, limit=64 * 1024 * 1024)
    except (FileTreeError, OSError):
        return {}
    sums: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and not parts[1].endswith("/go.mod"):
            sums[(parts[0], parts[1])] = parts[2]
    return sums


def parse_gomod(ctx: ParseContext, info: FileInfo) -> Iterator[Package]:
    """Modules a go.mod requires (direct and // indirect), with replace directives applied."""
    text = ctx.read_text(info, limit=16 * 1024 * 1024)
    if "\0" in text:
        raise ParseError("binary content in go.mod")
    mod = parse_gomod_text(text, lambda n, why: ctx.warn(info.path, f"go-mod: line {n}: {why}"))
    sums = _go_sums(ctx, info.path) if mod.requires else {}
    for path, version, indirect in mod.requires:
        dep = GoModule(path, version, replace=mod.replaces.get((path, version)) or mod.replaces.get((path, "")))
        pkg = _module_package(ctx, info, dep, "go-mod")
        h1 = sums.get((pkg.name, pkg.version))
        if h1:
            pkg.metadata["h1"] = h1
        if indirect:
            pkg.metadata["indirect"] = True
        yield pkg


CATALOGER = Cataloger(
    name="golang",
    parsers=(Parser("**/go.mod", parse_gomod, "go-mod", declared=True),),
    binary=parse_binary,
)
