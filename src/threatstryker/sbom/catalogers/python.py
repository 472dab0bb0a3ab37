"""Python packages: installed distributions (dist-info, egg-info, eggs), pinned requirements, lockfiles.

Installed metadata is read header by header up to the first blank line, so long descriptions in the
body are never loaded. Lockfiles list what a project resolved (``declared``); requirements files count
only exactly pinned lines (``==``/``===``), since a range names no version.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from threatstryker.model import Location, Package
from threatstryker.sbom.cataloger import (
    MANIFEST_READ_LIMIT,
    Cataloger,
    ParseContext,
    ParseError,
    Parser,
    load_json_object,
    purl,
    reachable,
)
from threatstryker.sources.filetree import FileInfo, FileTreeError

if TYPE_CHECKING:
    from packaging.requirements import Requirement


def canonicalize_name(name: str) -> str:
    """The PEP 503 normalised name (packaging's, imported on first use: keeps start-up fast)."""
    from packaging.utils import canonicalize_name as canonical

    return canonical(name)


def _requirement(spec: str) -> Requirement:
    from packaging.requirements import Requirement

    return Requirement(spec)


def _invalid_requirement() -> type[Exception]:
    from packaging.requirements import InvalidRequirement

    return InvalidRequirement

#: Metadata headers beyond this many bytes are not read (Name and Version always come first).
HEADER_LIMIT = 512 * 1024
#: Requirements files and top_level.txt larger than this are not read.
SMALL_FILE_LIMIT = 4 * 1024 * 1024
#: How deep ``-r`` includes are followed.
MAX_INCLUDE_DEPTH = 8
#: Names and versions longer than this are treated as malformed.
MAX_FIELD_LEN = 256

ECOSYSTEM = "pypi"
INSTALLED = "python-installed"
VENDORED = "python-vendored"
REQUIREMENTS = "python-requirements"

_BAD_FIELD_RE = re.compile(r"[\s\x00-\x1f\x7f]")
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_OPTION_SPLIT_RE = re.compile(r"\s+--?[A-Za-z]")
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_INCLUDE_RE = re.compile(r"^(?:-r|--requirement)(?:\s*=\s*|\s+|(?=[^\s=]))(?P<path>\S+)")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".egg")


# --- shared helpers -----------------------------------------------------------------------------------


def _valid(name: str, version: str) -> bool:
    """True when a name and version are plausible (short, no whitespace or control characters)."""
    return (
        0 < len(name) <= MAX_FIELD_LEN
        and 0 < len(version) <= MAX_FIELD_LEN
        and _NAME_RE.match(name) is not None
        and _BAD_FIELD_RE.search(version) is None
    )


def make_package(
    name: str,
    version: str,
    found_by: str,
    location: Location,
    licenses: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Package:
    """A pypi Package with a PEP 503 normalised name and its purl."""
    norm = canonicalize_name(name)
    return Package(
        ecosystem=ECOSYSTEM,
        name=norm,
        version=version,
        purl=purl(ECOSYSTEM, norm, version),
        found_by=found_by,
        locations=[location],
        licenses=list(licenses or []),
        metadata=dict(metadata or {}),
    )


def _is_vendored(path: str) -> bool:
    return "/_vendor/" in path


# --- installed distributions --------------------------------------------------------------------------


def read_headers(stream: IO[bytes], limit: int = HEADER_LIMIT) -> str:
    """The header block of a METADATA / PKG-INFO stream: lines up to the first empty one, at most ``limit``
    bytes (a single overlong line is cut, never read whole)."""
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        line = stream.readline(limit - total)
        if not line or line in (b"\n", b"\r\n"):
            break
        chunks.append(line)
        total += len(line)
    return b"".join(chunks).decode("utf-8", "replace")


def metadata_licenses(msg: Any) -> list[str]:
    """Licenses a metadata header block declares: License-Expression (PEP 639), else a one-line License
    field, else the names of "License ::" trove classifiers."""
    expression = (msg.get("License-Expression") or "").strip()
    if expression and len(expression) <= MAX_FIELD_LEN:
        return [expression]
    field = (msg.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= 100 and field.upper() not in ("UNKNOWN", "NONE"):
        return [field]
    out: list[str] = []
    for classifier in msg.get_all("Classifier") or []:
        parts = [p.strip() for p in str(classifier).split("::")]
        if len(parts) >= 2 and parts[0] == "License" and parts[-1] not in ("OSI Approved", "") \
                and parts[-1] not in out:
            out.append(parts[-1])
    return out


def package_from_headers(
    ctx: ParseContext, info: FileInfo, headers: str, fmt: str, inner: str | None = None
) -> Package:
    """A Package from a metadata header block; ParseError when Name or Version is missing or malformed."""
    from email.parser import HeaderParser  # imported on first use: keeps start-up fast

    msg = HeaderParser().parsestr(headers)
    name = (msg.get("Name") or "").strip()
    version = (msg.get("Version") or "").strip()
    if not name or not version:
        raise ParseError("no Name or Version header")
    if not _valid(name, version):
        raise ParseError(f"implausible name or version ({name[:40]!r} {version[:40]!r})")
    found_by = VENDORED if _is_vendored(info.path) else INSTALLED
    return make_package(name, version, found_by, ctx.location(info, inner), metadata_licenses(msg),
                        {"format": fmt})


def _top_level(ctx: ParseContext, meta_dir: str) -> list[str]:
    """Import names from a distribution's top_level.txt, when it has one."""
    try:
        text = ctx.tree.read_text(f"{meta_dir}/top_level.txt", limit=64 * 1024)
    except (FileTreeError, OSError):
        return []
    return [n for n in (line.strip() for line in text.splitlines()) if n.isidentifier()][:50]


def parse_metadata_file(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """An installed distribution: *.dist-info/METADATA, *.egg-info/PKG-INFO, *.egg/EGG-INFO/PKG-INFO, or a
    *.egg-info file."""
    parent = posixpath.dirname(info.path)
    if info.name.endswith(".egg-info"):
        fmt = "egg-info"
    elif parent.endswith(".dist-info"):
        fmt = "dist-info"
    elif parent.endswith(".egg-info"):
        fmt = "egg-info"
    else:
        fmt = "egg"
    with ctx.open(info) as stream:
        headers = read_headers(stream)
    pkg = package_from_headers(ctx, info, headers, fmt)
    if not info.name.endswith(".egg-info"):  # a directory of metadata may hold top_level.txt
        top = _top_level(ctx, parent)
        if top:
            pkg.metadata["top_level"] = top
    return [pkg]


def parse_egg_zip(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """A zipped .egg: the PKG-INFO inside it (size-capped)."""
    inner = "EGG-INFO/PKG-INFO"
    with ctx.open(info) as stream:
        try:
            zf = zipfile.ZipFile(stream)  # type: ignore[arg-type]
        except zipfile.BadZipFile as exc:
            raise ParseError(f"not a zip archive ({exc})") from exc
        with zf:
            try:
                member = zf.getinfo(inner)
            except KeyError as exc:
                raise ParseError(f"no {inner} inside") from exc
            with zf.open(member) as fh:
                headers = read_headers(fh)  # type: ignore[arg-type]
    return [package_from_headers(ctx, info, headers, "egg", inner)]


# --- requirements files -------------------------------------------------------------------------------


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, content) of each logical line: continuations joined, comments removed."""
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = number
        if raw.endswith("\\"):
            buf.append(raw[:-1])
            continue
        buf.append(raw)
        line = _COMMENT_RE.sub("", " ".join(buf)).strip()
        buf = []
        if line:
            yield start, line
    if buf:
        line = _COMMENT_RE.sub("", " ".join(buf)).strip()
        if line:
            yield start, line


def pinned(line: str) -> tuple[Requirement | None, str | None]:
    """(requirement, pinned version) of a requirement line; version None when not exactly pinned,
    requirement None when the line is not a PEP 508 requirement."""
    spec = _OPTION_SPLIT_RE.split(line, maxsplit=1)[0].strip()
    try:
        req = _requirement(spec)
    except _invalid_requirement():
        return None, None
    specs = list(req.specifier)
    if req.url or len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return req, None
    return req, specs[0].version


def _looks_like_reference(line: str) -> bool:
    """Lines pip accepts that name no index package: paths, URLs, VCS references, archives."""
    return (
        line.startswith((".", "/", "~", "$"))
        or "://" in line
        or line.startswith(("git+", "hg+", "svn+", "bzr+", "file:"))
        or line.endswith(_ARCHIVE_SUFFIXES)
    )


def _include_target(ctx: ParseContext, base: str, ref: str) -> str | None:
    """The in-tree path of a ``-r`` include, or None when it is a URL, absolute, or climbs out of the tree."""
    if "://" in ref or ref.startswith(("/", "~", "$")):
        return None
    depth = base.count("/") - 1
    for comp in ref.split("/"):
        if comp == "..":
            depth -= 1
            if depth < 0:
                return None
        elif comp not in ("", "."):
            depth += 1
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), ref))


def _claimed_by_glob(path: str) -> bool:
    """True for files this cataloger parses on its own (so an include need not be followed)."""
    name = posixpath.basename(path)
    return ("requirements" in name and name.endswith(".txt")) or (
        posixpath.basename(posixpath.dirname(path)) == "requirements" and name.endswith(".txt")
    )


def parse_requirements_text(
    ctx: ParseContext,
    info: FileInfo,
    text: str,
    found_by: str,
    seen: set[str] | None = None,
    depth: int = 0,
) -> list[Package]:
    """Pinned packages of a requirements file's text, following ``-r`` includes inside the tree."""
    seen = seen if seen is not None else {info.path}
    out: list[Package] = []
    bad: list[int] = []
    location = ctx.location(info)
    for number, line in logical_lines(text):
        if line.startswith("-"):
            m = _INCLUDE_RE.match(line)
            if m and found_by == REQUIREMENTS:
                out.extend(_follow_include(ctx, info, m.group("path"), seen, depth))
            continue
        req, version = pinned(line)
        if req is None:
            if not _looks_like_reference(line):
                bad.append(number)
            continue
        if version is None:
            continue
        if not _valid(req.name, version):
            bad.append(number)
            continue
        meta: dict[str, Any] = {}
        if req.extras:
            meta["extras"] = sorted(req.extras)
        if req.marker is not None:
            meta["markers"] = str(req.marker)
        out.append(make_package(req.name, version, found_by, location, metadata=meta))
    if bad:
        ctx.warn(info.path, f"{found_by}: {len(bad)} line(s) not understood (first at line {bad[0]})")
    return out


def _follow_include(ctx: ParseContext, info: FileInfo, ref: str, seen: set[str], depth: int) -> list[Package]:
    target = _include_target(ctx, info.path, ref)
    if target is None:
        ctx.warn(info.path, f"{REQUIREMENTS}: include {ref[:80]!r} is outside the tree; not followed")
        return []
    if target in seen or _claimed_by_glob(target):
        return []  # already read, or read on its own as a requirements file
    if depth >= MAX_INCLUDE_DEPTH:
        ctx.warn(info.path, f"{REQUIREMENTS}: includes nested deeper than {MAX_INCLUDE_DEPTH}; not followed")
        return []
    seen.add(target)
    inc = ctx.tree.stat(target)
    if inc is None or not inc.is_file:
        ctx.warn(info.path, f"{REQUIREMENTS}: included file {ref[:80]!r} not found")
        return []
    inc = FileInfo(target, inc.kind, inc.size, inc.mode, inc.uid, inc.gid, inc.link, inc.layer)
    try:
        text = ctx.read_text(inc, SMALL_FILE_LIMIT)
    except (FileTreeError, OSError) as exc:
        ctx.warn(target, f"{REQUIREMENTS}: {exc}")
        return []
    return parse_requirements_text(ctx, inc, text, REQUIREMENTS, seen, depth + 1)


def parse_requirements(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """requirements*.txt: exactly pinned lines (``==``/``===``), with extras and markers kept as metadata."""
    return parse_requirements_text(ctx, info, ctx.read_text(info, SMALL_FILE_LIMIT), REQUIREMENTS)


def parse_requirements_dir(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """requirements/*.txt (a directory of requirements files); requirements*.txt names are read by
    :func:`parse_requirements` already."""
    if info.name.startswith("requirements"):
        return []
    return parse_requirements(ctx, info)


def parse_vendor_txt(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """_vendor/vendor.txt: the pinned list of packages a distribution (pip, setuptools) bundles."""
    return parse_requirements_text(ctx, info, ctx.read_text(info, SMALL_FILE_LIMIT), VENDORED)


# --- lockfiles ----------------------------------------------------------------------------------------


def _load_toml(ctx: ParseContext, info: FileInfo) -> dict[str, Any]:
    try:
        return tomllib.loads(ctx.read_text(info, MANIFEST_READ_LIMIT))
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"invalid TOML ({exc})") from exc


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _table_list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ParseError(f"'{key}' is not an array of tables")
    return [v for v in value if isinstance(v, dict)]


class _Collector:
    """Builds one lockfile's packages: validates names and versions, drops repeats, counts what it skipped."""

    def __init__(self, ctx: ParseContext, info: FileInfo, found_by: str) -> None:
        self.ctx, self.info, self.found_by = ctx, info, found_by
        self.location = ctx.location(info)
        self.packages: dict[tuple[str, str], Package] = {}
        self.bad = 0

    def add(self, name: Any, version: Any, metadata: dict[str, Any] | None = None) -> Package | None:
        if not isinstance(name, str) or not isinstance(version, str) or not _valid(name, version):
            self.bad += 1
            return None
        key = (canonicalize_name(name), version)
        have = self.packages.get(key)
        if have is not None:
            if have.metadata.get("dev") and not (metadata or {}).get("dev"):
                have.metadata.pop("dev", None)  # needed outside development too
            return have
        pkg = make_package(name, version, self.found_by, self.location, metadata=metadata)
        self.packages[key] = pkg
        return pkg

    def result(self) -> list[Package]:
        if self.bad:
            self.ctx.warn(self.info.path, f"{self.found_by}: skipped {self.bad} entries without a valid "
                                          "name or version")
        return list(self.packages.values())


def parse_poetry_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """poetry.lock: every [[package]]; local directory sources (the project's own code) are left out."""
    data = _load_toml(ctx, info)
    out = _Collector(ctx, info, "python-poetry-lock")
    for entry in _table_list(data, "package"):
        source = _as_dict(entry.get("source"))
        if source.get("type") == "directory":
            continue
        meta: dict[str, Any] = {}
        groups = entry.get("groups")
        if isinstance(groups, list) and groups:
            meta["groups"] = [str(g) for g in groups]
            if "main" not in groups:
                meta["dev"] = True
        elif entry.get("category") == "dev":
            meta["dev"] = True
        if entry.get("optional") is True:
            meta["optional"] = True
        if source.get("type") in ("git", "url", "file"):
            meta["source"] = source.get("type")
        out.add(entry.get("name"), entry.get("version"), meta)
    return out.result()


def parse_pipfile_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """Pipfile.lock: "default" and "develop" (and any custom category); git/path entries have no version."""
    data = load_json_object(ctx, info)
    out = _Collector(ctx, info, "python-pipfile-lock")
    categories = ["default", "develop"] + [k for k in data if k not in ("default", "develop", "_meta")]
    for category in categories:
        section = data.get(category)
        if not isinstance(section, dict):
            continue
        for name, entry in section.items():
            if not isinstance(entry, dict) or "version" not in entry:
                continue
            version = entry["version"]
            if isinstance(version, str):
                version = version.removeprefix("===").removeprefix("==").strip()
            meta: dict[str, Any] = {}
            if category == "develop":
                meta["dev"] = True
            elif category != "default":
                meta["category"] = category
            if isinstance(entry.get("markers"), str):
                meta["markers"] = entry["markers"]
            out.add(name, version, meta)
    return out.result()


def _uv_member(entry: dict[str, Any]) -> bool:
    """True for a workspace member (the project's own code) of a uv.lock."""
    return any(k in _as_dict(entry.get("source")) for k in ("editable", "virtual", "directory"))


def _dep_names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else []
    return [canonicalize_name(d["name"]) for d in items if isinstance(d, dict) and isinstance(d.get("name"), str)]


def _uv_dev_only(entries: list[dict[str, Any]]) -> set[str]:
    """Names of uv.lock packages reached only through workspace members' development dependency groups."""
    edges: dict[str, list[str]] = {}
    prod: list[str] = []
    dev: list[str] = []
    for entry in entries:
        name = canonicalize_name(str(entry.get("name", "")))
        out = _dep_names(entry.get("dependencies"))
        for extra in _as_dict(entry.get("optional-dependencies")).values():
            out.extend(_dep_names(extra))
        edges.setdefault(name, []).extend(out)
        if _uv_member(entry):
            prod.append(name)
            for group in _as_dict(entry.get("dev-dependencies")).values():
                dev.extend(_dep_names(group))

    def reach(start: list[str]) -> set[str]:
        return reachable(start, lambda node: edges.get(node, ()))

    return reach(dev) - reach(prod) if dev else set()


def parse_uv_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """uv.lock: every [[package]] with a version; workspace members (editable, virtual, directory) are
    left out."""
    data = _load_toml(ctx, info)
    out = _Collector(ctx, info, "python-uv-lock")
    entries = _table_list(data, "package")
    dev_only = _uv_dev_only(entries)
    for entry in entries:
        source = _as_dict(entry.get("source"))
        if _uv_member(entry):
            continue
        if "version" not in entry:
            continue  # a dynamic-version package
        meta: dict[str, Any] = {}
        if canonicalize_name(str(entry.get("name", ""))) in dev_only:
            meta["dev"] = True
        for kind in ("git", "url", "path"):
            if kind in source:
                meta["source"] = kind
        out.add(entry.get("name"), entry.get("version"), meta)
    return out.result()


def parse_pdm_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """pdm.lock: every [[package]] (repeats for extras merged); editable and local directory packages are
    left out."""
    data = _load_toml(ctx, info)
    out = _Collector(ctx, info, "python-pdm-lock")
    for entry in _table_list(data, "package"):
        path = entry.get("path")
        if entry.get("editable") is True or (isinstance(path, str) and not path.endswith(_ARCHIVE_SUFFIXES)):
            continue
        meta: dict[str, Any] = {}
        groups = entry.get("groups")
        if isinstance(groups, list) and groups:
            meta["groups"] = [str(g) for g in groups]
            if "default" not in groups:
                meta["dev"] = True
        for kind in ("git", "url", "path"):
            if kind in entry:
                meta["source"] = kind
        out.add(entry.get("name"), entry.get("version"), meta)
    return out.result()


CATALOGER = Cataloger(
    name="python",
    parsers=(
        Parser("**/*.dist-info/METADATA", parse_metadata_file, INSTALLED),
        Parser("**/*.egg-info/PKG-INFO", parse_metadata_file, INSTALLED),
        Parser("**/*.egg-info", parse_metadata_file, INSTALLED),
        Parser("**/*.egg/EGG-INFO/PKG-INFO", parse_metadata_file, INSTALLED),
        Parser("**/*.egg", parse_egg_zip, INSTALLED),
        Parser("**/_vendor/vendor.txt", parse_vendor_txt, VENDORED),
        Parser("**/*requirements*.txt", parse_requirements, REQUIREMENTS, declared=True),
        Parser("**/requirements/*.txt", parse_requirements_dir, REQUIREMENTS, declared=True),
        Parser("**/poetry.lock", parse_poetry_lock, "python-poetry-lock", declared=True),
        Parser("**/Pipfile.lock", parse_pipfile_lock, "python-pipfile-lock", declared=True),
        Parser("**/uv.lock", parse_uv_lock, "python-uv-lock", declared=True),
        Parser("**/pdm.lock", parse_pdm_lock, "python-pdm-lock", declared=True),
    ),
)
