"""Ruby gems: Bundler's Gemfile.lock (declared) and installed gemspecs under specifications/ (read as text).

Gemspecs are Ruby programs; they are never evaluated. The literal assignments RubyGems writes when it
installs a gem (``s.name = "rack".freeze``, ``s.version = "2.2.4"``, ``s.licenses = ["MIT".freeze]``) and the
older YAML serialisation are read with regular expressions; anything computed is left alone, and the
version then falls back to the ``NAME-VERSION[-PLATFORM].gemspec`` file name RubyGems gives installed specs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from threatstryker.model import Package
from threatstryker.sbom.cataloger import (
    MANIFEST_READ_LIMIT,
    Cataloger,
    ParseContext,
    ParseError,
    Parser,
    purl,
)
from threatstryker.sources.filetree import FileInfo

#: Installed gemspecs list every file of the gem; the largest real ones are a few hundred KiB.
GEMSPEC_READ_LIMIT = 8 * 1024 * 1024

# -- Gemfile.lock ------------------------------------------------------------------------------------

#: Sections whose "specs:" list locked gems, and the source kind each records.
_SOURCE_SECTIONS = {"GEM": "rubygems", "GIT": "git", "PATH": "path", "PLUGIN SOURCE": "plugin"}
_SECTION_RE = re.compile(r"^[A-Z][A-Z ]*$")
_SPEC_RE = re.compile(r"^(?P<name>[^\s()]+) \((?P<version>[^()\s]+)\)$")
_DEP_RE = re.compile(r"^(?P<name>[^\s()!]+)!?(?: \(.*\))?$")
_CHECKSUM_RE = re.compile(r"^(?P<name>[^\s()]+) \((?P<version>[^()\s]+)\)(?: (?P<sums>.+))?$")


@dataclass(slots=True)
class _Locked:
    """One spec line of a source section, with the dependency lines indented below it."""

    name: str
    version: str
    platform: str
    source: str
    attrs: dict[str, str]
    dependencies: list[str] = field(default_factory=list)


def split_platform(version: str) -> tuple[str, str]:
    """Split Bundler's "VERSION-PLATFORM" ("1.15.4-x86_64-linux") into version and platform ("" for ruby)."""
    ver, _, platform = version.partition("-")
    return ver, platform


def parse_gemfile_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """Gems locked by a Gemfile.lock: every spec of its GEM, GIT, PATH and PLUGIN SOURCE sections."""
    text = ctx.read_text(info, MANIFEST_READ_LIMIT)
    section: str | None = None
    attrs: dict[str, str] = {}
    in_specs = False
    locked: list[_Locked] = []
    direct: set[str] = set()
    checksums: dict[tuple[str, str], str] = {}
    sections_seen = 0
    bad_lines: list[int] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if not line.startswith(" "):
            if not _SECTION_RE.match(line.rstrip()):
                bad_lines.append(lineno)  # merge conflict markers, stray text: the section goes on
                continue
            section, attrs, in_specs = line.rstrip(), {}, False
            sections_seen += 1
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if section in _SOURCE_SECTIONS:
            if indent == 2:
                key, _, value = body.partition(":")
                in_specs = key == "specs"
                if not in_specs:
                    attrs[key] = value.strip()
            elif indent == 4 and in_specs:
                m = _SPEC_RE.match(body)
                if m is None:
                    bad_lines.append(lineno)
                    continue
                version, platform = split_platform(m.group("version"))
                locked.append(_Locked(m.group("name"), version, platform, _SOURCE_SECTIONS[section], attrs))
            elif indent == 6 and in_specs and locked:
                dep = _DEP_RE.match(body)
                if dep is not None:
                    locked[-1].dependencies.append(dep.group("name"))
        elif section == "DEPENDENCIES" and indent == 2:
            dep = _DEP_RE.match(body)
            if dep is not None:
                direct.add(dep.group("name"))
        elif section == "CHECKSUMS" and indent == 2:
            m = _CHECKSUM_RE.match(body)
            if m is not None and m.group("sums"):
                checksums[(m.group("name"), m.group("version"))] = m.group("sums")
    if sections_seen == 0 and text.strip():
        raise ParseError("no Bundler lockfile section (GEM, GIT, PATH, PLATFORMS, ...) found")
    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:5]) + (" ..." if len(bad_lines) > 5 else "")
        ctx.warn(info.path, f"gemfile-lock: {len(bad_lines)} unreadable line(s) skipped (line {shown})")
    for gem in locked:
        yield _locked_package(ctx, info, gem, gem.name in direct, checksums)


def _locked_package(
    ctx: ParseContext, info: FileInfo, gem: _Locked, direct: bool, checksums: dict[tuple[str, str], str]
) -> Package:
    meta: dict[str, Any] = {"source": gem.source, "direct": direct}
    for key in ("remote", "revision", "branch", "tag", "ref", "glob"):
        if gem.attrs.get(key):
            meta[key] = gem.attrs[key]
    if gem.platform:
        meta["platform"] = gem.platform
    if gem.dependencies:
        meta["dependencies"] = gem.dependencies
    full_version = f"{gem.version}-{gem.platform}" if gem.platform else gem.version
    if (gem.name, full_version) in checksums:
        meta["checksum"] = checksums[(gem.name, full_version)]
    return Package(
        ecosystem="gem",
        name=gem.name,
        version=gem.version,
        purl=purl("gem", gem.name, gem.version, qualifiers={"platform": gem.platform}),
        found_by="gemfile-lock",
        locations=[ctx.location(info)],
        metadata=meta,
    )


# -- installed gemspecs ------------------------------------------------------------------------------

#: A Ruby string literal as RubyGems writes it: "x", 'x' or %q{x} (any bracket), optionally .freeze'd.
_STR = (
    r"""(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'"""
    r"|%[qQ]?(?:\{([^}]*)\}|<([^>]*)>|\(([^)]*)\)|\[([^\]]*)\]))"
    r"(?:\.freeze)?"
)
_STR_RE = re.compile(_STR)


def _attr_re(attr: str, value: str = _STR) -> re.Pattern[str]:
    return re.compile(rf"^[ \t]*\w+\.{attr}[ \t]*=[ \t]*{value}", re.MULTILINE)


_NAME_RE = _attr_re("name")
_VERSION_RE = _attr_re("version", rf"(?:Gem::Version\.(?:new|create)\(\s*{_STR}\s*\)|{_STR})")
_PLATFORM_RE = _attr_re("platform")
_HOMEPAGE_RE = _attr_re("homepage")
_LICENSE_RE = _attr_re("license")
_LICENSES_RE = re.compile(r"^[ \t]*\w+\.licenses[ \t]*=[ \t]*\[(?P<list>[^\]]*)\]", re.MULTILINE)
_LICENSES_WORDS_RE = re.compile(
    r"^[ \t]*\w+\.licenses[ \t]*=[ \t]*%w(?:\[(?P<sb>[^\]]*)\]|\((?P<pa>[^)]*)\)|\{(?P<br>[^}]*)\})", re.MULTILINE
)
_NEW_RE = re.compile(rf"Gem::Specification\.new\(?\s*{_STR}\s*,\s*{_STR}")
_FILENAME_RE = re.compile(r"^(?P<name>.+?)-(?P<version>\d[^-]*)(?:-(?P<platform>.+))?\.gemspec$")

# The YAML serialisation older RubyGems and some packagers wrote ("--- !ruby/object:Gem::Specification").
_Y_NAME_RE = re.compile(r"^name:[ \t]*['\"]?(?P<v>[^\s'\"]+)", re.MULTILINE)
_Y_VERSION_RE = re.compile(
    r"^version:[ \t]*(?:!ruby/object:Gem::Version[ \t]*\n[ \t]+version:[ \t]*)?['\"]?(?P<v>[^\s'\"]+)",
    re.MULTILINE,
)
_Y_PLATFORM_RE = re.compile(r"^platform:[ \t]*['\"]?(?P<v>[^\s'\"]+)", re.MULTILINE)
_Y_HOMEPAGE_RE = re.compile(r"^homepage:[ \t]*['\"]?(?P<v>[^\s'\"]+)", re.MULTILINE)
_Y_LICENSES_RE = re.compile(r"^licenses:[ \t]*\n(?P<list>(?:[ \t]*-[ \t]+.*\n?)+)", re.MULTILINE)


def _literal(m: re.Match[str]) -> str:
    """The text of the first string literal that matched (escaped quotes unescaped, other escapes kept)."""
    value = next((g for g in m.groups() if g is not None), "")
    return value.replace('\\"', '"').replace("\\'", "'")


@dataclass(slots=True)
class GemSpec:
    """The literal facts of a gemspec: what could be read without running it."""

    name: str = ""
    version: str = ""
    platform: str = ""
    homepage: str = ""
    licenses: list[str] = field(default_factory=list)


def read_gemspec(text: str) -> GemSpec:
    """Read name, version, platform, homepage and licenses from a Ruby or YAML gemspec's text."""
    if text.lstrip("\ufeff \t\r\n").startswith("---"):
        return _read_yaml_gemspec(text)
    spec = GemSpec()
    if m := _NAME_RE.search(text):
        spec.name = _literal(m)
    if m := _VERSION_RE.search(text):
        spec.version = _literal(m)
    if not spec.name and (m := _NEW_RE.search(text)):
        literals = list(_STR_RE.finditer(text, m.start(), m.end()))
        spec.name = _literal(literals[0])
        spec.version = spec.version or _literal(literals[1])
    if m := _PLATFORM_RE.search(text):
        spec.platform = _literal(m)
    if m := _HOMEPAGE_RE.search(text):
        spec.homepage = _literal(m)
    if m := _LICENSES_RE.search(text):
        spec.licenses = [_literal(s) for s in _STR_RE.finditer(m.group("list"))]
    elif m := _LICENSES_WORDS_RE.search(text):
        spec.licenses = next(g for g in m.groups() if g is not None).split()
    elif m := _LICENSE_RE.search(text):
        spec.licenses = [_literal(m)]
    spec.licenses = [lic for lic in spec.licenses if lic]
    return spec


def _read_yaml_gemspec(text: str) -> GemSpec:
    spec = GemSpec()
    for attr, rx in (("name", _Y_NAME_RE), ("version", _Y_VERSION_RE), ("platform", _Y_PLATFORM_RE),
                     ("homepage", _Y_HOMEPAGE_RE)):
        if m := rx.search(text):
            setattr(spec, attr, m.group("v"))
    if m := _Y_LICENSES_RE.search(text):
        for item in m.group("list").splitlines():
            lic = item.strip().removeprefix("-").strip().strip("'\"")
            if lic:
                spec.licenses.append(lic)
    return spec


def parse_gemspec(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """The installed gem a specifications/NAME-VERSION.gemspec file describes."""
    text = ctx.read_text(info, GEMSPEC_READ_LIMIT)
    spec = read_gemspec(text)
    from_name = _FILENAME_RE.match(info.name)
    if not spec.name or not spec.version:
        if from_name is None or (spec.name and spec.name != from_name.group("name")):
            missing = "name" if not spec.name else "version"
            raise ParseError(f"no literal gem {missing} in the gemspec nor in its file name")
        ctx.warn(info.path, "gemspec: no literal name or version; taken from the file name")
        spec.name = spec.name or from_name.group("name")
        spec.version = from_name.group("version")
        spec.platform = spec.platform or (from_name.group("platform") or "")
    platform = "" if spec.platform == "ruby" else spec.platform
    meta: dict[str, Any] = {}
    if platform:
        meta["platform"] = platform
    if spec.homepage:
        meta["homepage"] = spec.homepage
    if info.path.rsplit("/", 2)[-2] == "default":
        meta["default_gem"] = True
    yield Package(
        ecosystem="gem",
        name=spec.name,
        version=spec.version,
        purl=purl("gem", spec.name, spec.version, qualifiers={"platform": platform}),
        found_by="gemspec",
        locations=[ctx.location(info)],
        licenses=spec.licenses,
        metadata=meta,
    )


CATALOGER = Cataloger(
    name="ruby",
    parsers=(
        Parser("**/Gemfile.lock", parse_gemfile_lock, "gemfile-lock", declared=True),
        Parser("**/gems.locked", parse_gemfile_lock, "gemfile-lock", declared=True),
        Parser("**/specifications/*.gemspec", parse_gemspec, "gemspec"),
        Parser("**/specifications/default/*.gemspec", parse_gemspec, "gemspec"),
    ),
)
