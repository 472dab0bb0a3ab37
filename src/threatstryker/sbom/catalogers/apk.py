"""Alpine (and Wolfi) packages: the apk installed database, lib/apk/db/installed.

The database is a text file of records separated by blank lines; each line is one letter, ':' and a value
(apk-package(5) lists the letters: P name, V version, A arch, L license, o origin, m maintainer, t build time,
c commit, ...). Files follow their package's fields: 'F:' names a directory, each 'R:' after it a file in it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator

from threatstryker.model import Package
from threatstryker.sbom.cataloger import Cataloger, ParseContext, ParseError, Parser, purl
from threatstryker.sources.filetree import FileInfo

DB_PATH = "/lib/apk/db/installed"
#: Lines that are not 'X:value' reported one by one before the rest are only counted.
MAX_LINE_WARNINGS = 5

_METADATA = {"m": "maintainer", "U": "url", "c": "commit", "C": "checksum", "T": "description"}


def read_records(stream: Iterable[str]) -> Iterator[tuple[int, dict[str, str], list[str], list[tuple[int, str]]]]:
    """(first line number, fields, owned paths, bad lines) of each record; paths are relative to the root."""
    fields: dict[str, str] = {}
    paths: list[str] = []
    bad: list[tuple[int, str]] = []
    start = 0
    directory: str | None = None
    for lineno, raw in enumerate(stream, 1):
        line = raw.rstrip("\r\n")
        if not line:
            if fields or paths or bad:
                yield start, fields, paths, bad
            fields, paths, bad, directory = {}, [], [], None
            continue
        if not fields and not paths and not bad:
            start = lineno
        if len(line) < 2 or line[1] != ":":
            bad.append((lineno, line[:60]))
            continue
        key, value = line[0], line[2:]
        if key == "F":
            directory = value.strip("/")
            paths.append("/" + directory)
        elif key == "R":
            paths.append(f"/{directory}/{value}" if directory else f"/{value}")
        elif key not in fields:
            fields[key] = value
    if fields or paths or bad:
        yield start, fields, paths, bad


def _package(ctx: ParseContext, info: FileInfo, fields: dict[str, str]) -> Package | None:
    name, version = fields.get("P"), fields.get("V")
    if not name or not version:
        return None
    arch = fields.get("A") or None
    origin = fields.get("o") or name
    distro = ctx.distro
    quals = {
        "arch": arch or "",
        "distro": distro.purl_distro if distro else "",
        "upstream": origin if origin != name else "",
    }
    pkg = Package(
        ecosystem="apk",
        name=name,
        version=version,
        purl=purl("apk", name, version, distro.id if distro else "alpine", quals),
        found_by="apk-installed",
        locations=[ctx.location(info)],
        source_name=origin,
        source_version=version,
        arch=arch,
    )
    lic = fields.get("L", "").strip()
    if lic:
        pkg.licenses = [lic]
    for key, meta in _METADATA.items():
        if fields.get(key):
            pkg.metadata[meta] = fields[key]
    for key, meta in (("t", "build_time"), ("I", "installed_size")):
        if fields.get(key, "").isdigit():
            pkg.metadata[meta] = int(fields[key])
    return pkg


def _files(paths: tuple[str, ...]) -> Callable[[], Iterable[str]]:
    return lambda: paths


def _bounded_lines(text: io.TextIOWrapper, limit: int = 64 * 1024) -> Iterator[str]:
    """Lines of at most ``limit`` characters: a file with no newlines is never read into memory whole."""
    while line := text.readline(limit):
        yield line


def parse_installed(ctx: ParseContext, info: FileInfo) -> list[Package]:
    """Installed packages of an apk database, with the files each one owns."""
    root = info.path[: -len(DB_PATH)] if info.path.endswith(DB_PATH) else ""
    out: list[Package] = []
    problems: list[str] = []
    bad_lines = 0
    with ctx.open(info) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="\n")
        for start, fields, paths, bad in read_records(_bounded_lines(text)):
            for lineno, line in bad:
                bad_lines += 1
                if bad_lines <= MAX_LINE_WARNINGS:
                    problems.append(f"apk-installed: line {lineno} is not 'X:value' ({line!r}); skipped")
            pkg = _package(ctx, info, fields)
            if pkg is None:
                if fields:
                    problems.append(f"apk-installed: record at line {start} has no package name or version")
                continue
            ctx.add_owned_files(pkg, _files(tuple(root + p for p in paths)))
            out.append(pkg)
    if bad_lines and not out:
        raise ParseError(f"not an apk installed database ({bad_lines} lines are not 'X:value')")
    if bad_lines > MAX_LINE_WARNINGS:
        problems.append(f"apk-installed: {bad_lines - MAX_LINE_WARNINGS} more lines skipped")
    for reason in problems:
        ctx.warn(info.path, reason)
    return out


CATALOGER = Cataloger(
    name="apk",
    os_packages=True,
    parsers=(Parser(f"**{DB_PATH}", parse_installed, "apk-installed"),),
)
