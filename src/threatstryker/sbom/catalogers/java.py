"""Java: jar/war/ear/par/jpi/hpi/kar archives (nested ones too), pom.properties, pom.xml and gradle.lockfile.

Inside an archive every ``META-INF/maven/G/A/pom.properties`` is a package (a fat jar holds many); the
archive itself is named by the pom.properties that describes it or else by its MANIFEST.MF and file name.
Archives are read through ``_zipindex`` (only the central directory entries named like a manifest, a pom or
an archive are looked at) with a cap on the uncompressed bytes read per top-level archive, a nesting depth
bound, and a compression-ratio check before a nested archive is opened (zip bombs).
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
from xml.etree import ElementTree

from threatstryker.model import Location, Package
from threatstryker.sbom.cataloger import Cataloger, ParseContext, ParseError, Parser, purl
from threatstryker.sbom.catalogers._zipindex import ZipEntry, ZipIndexError, ZipReader
from threatstryker.sources.filetree import FileInfo, FileTreeError

ARCHIVE_EXTENSIONS = (".jar", ".war", ".ear", ".par", ".jpi", ".hpi", ".kar")
#: Archives inside archives are opened down to this many levels.
MAX_DEPTH = 5
#: Uncompressed bytes read from one top-level archive, everything nested in it included.
MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024
#: Nested archives up to this size are read into memory; larger ones are spooled to a temporary file.
MAX_IN_MEMORY = 32 * 1024 * 1024
#: Nested archives larger than this are not opened.
MAX_NESTED = 512 * 1024 * 1024
#: Metadata files (MANIFEST.MF, pom.properties, pom.xml) larger than this are not read.
MAX_META = 2 * 1024 * 1024
#: A nested archive expanding more than this many times its compressed size is taken for a zip bomb.
MAX_RATIO = 100

_POM_PROPERTIES = re.compile(r"(?:^|/)META-INF/maven/[^/]+/[^/]+/pom\.properties$")
_IDENTITY_KEYS = (
    "Implementation-Title", "Implementation-Version", "Implementation-Vendor-Id", "Bundle-SymbolicName",
    "Bundle-Version", "Bundle-License", "Specification-Title", "Specification-Version",
)
_VERSION_PART = re.compile(
    r"(?i)^(?:\d.*|snapshot|release|final|ga|jre\d*|android|alpha\d*|beta\d*|rc\d*|m\d+|cr\d*|sp\d*"
    r"|incubating|b\d+|[0-9a-f]{7,40})$"
)
_GENERIC_TOKENS = frozenset(
    ["org", "com", "net", "io", "de", "apache", "google", "eclipse", "github", "codehaus", "java", "api", "core", "lib"]
)
_LICENSE_URLS = {
    "apache.org/licenses/license-2.0": "Apache-2.0",
    "opensource.org/licenses/apache-2.0": "Apache-2.0",
    "opensource.org/licenses/mit": "MIT",
    "opensource.org/licenses/mit-license": "MIT",
    "opensource.org/licenses/bsd-3-clause": "BSD-3-Clause",
    "opensource.org/licenses/bsd-license": "BSD-3-Clause",
    "eclipse.org/legal/epl-v10": "EPL-1.0",
    "eclipse.org/legal/epl-2.0": "EPL-2.0",
    "eclipse.org/legal/epl-v20": "EPL-2.0",
    "gnu.org/licenses/old-licenses/lgpl-2.1": "LGPL-2.1-only",
}


class _BudgetSpent(Exception):
    """The cap on uncompressed bytes read from one archive was reached."""


class _TooLarge(Exception):
    """A member is larger than the cap for its kind."""


_READ_ERRORS = (
    ZipIndexError, zlib.error, EOFError, OSError, RuntimeError, ValueError, NotImplementedError, struct.error,
    _TooLarge,
)
_MANIFEST = "META-INF/MANIFEST.MF"
_POM_TAILS = ("pom.properties", "pom.properties\n", "pom.xml")  # "$" of _POM_PROPERTIES also matches before "\n"


def _wanted(name: str) -> bool:
    """Whether _ArchiveScan.scan may look at an entry: every name it tests (a manifest, a pom.properties and
    the pom.xml beside it, a nested archive) passes; the tests there stay exact. ``upper()`` never shortens
    a string, so a name longer than the manifest's cannot upper-case to it."""
    return (name.endswith(_POM_TAILS) or name.lower().endswith(ARCHIVE_EXTENSIONS)
            or (len(name) <= len(_MANIFEST) and name.upper() == _MANIFEST))


#: Every ASCII name _wanted accepts ends, once lower-cased, with one of these: ZipReader.entries skips the
#: others (most entries of a jar are classes) without decoding them or calling _wanted.
_WANTED_SUFFIXES = tuple(s.lower().encode() for s in (*ARCHIVE_EXTENSIONS, *_POM_TAILS, _MANIFEST))


def _open_zip(stream: BinaryIO) -> tuple[ZipReader, list[ZipEntry]]:
    """An archive's reader and the entries _ArchiveScan looks at (damage in the directory raises here)."""
    reader = ZipReader(stream)
    return reader, list(reader.entries(_wanted, _WANTED_SUFFIXES))


# --- small text formats ---------------------------------------------------------------------------------


def _unescape_property(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            e = text[i + 1]
            if e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(e, e))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_properties(text: str) -> dict[str, str]:
    """A Java .properties file: ``key=value``, ``key: value`` or ``key value``; continuations and escapes."""
    props: dict[str, str] = {}
    pending = ""
    for raw in text.splitlines():
        line = raw.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending += line[:-1]
            continue
        logical, pending = pending + line, ""
        m = re.match(r"((?:\\.|[^\\=:\s])*)\s*[=:]?\s*(.*)$", logical, re.DOTALL)
        if m and m.group(1):
            props[_unescape_property(m.group(1))] = _unescape_property(m.group(2))
    return props


def parse_manifest(text: str) -> dict[str, str]:
    """The main attributes of a MANIFEST.MF, completed by identity attributes of its named sections."""
    sections: list[dict[str, str]] = [{}]
    key: str | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.startswith(" ") and key is not None:
            sections[-1][key] += line[1:]
            continue
        if not line.strip():
            if sections[-1]:
                sections.append({})
            key = None
            continue
        name, sep, value = line.partition(":")
        key = name.strip() if sep else None
        if key:
            sections[-1][key] = value.strip()
    main = sections[0]
    for extra in sections[1:]:
        for k in _IDENTITY_KEYS:
            if k in extra:
                main.setdefault(k, extra[k])
    return main


def split_filename(filename: str) -> tuple[str, str]:
    """("name", "version") of an archive file name such as ``log4j-1.2-api-2.17.1.jar``; no version -> ""."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    cuts = [m.start() for m in re.finditer(r"-\d", stem)]
    for cut in cuts:
        parts = stem[cut + 1 :].split("-")
        if all(_VERSION_PART.match(p) for p in parts[1:]):
            return stem[:cut], stem[cut + 1 :]
    if cuts:
        return stem[: cuts[0]], stem[cuts[0] + 1 :]
    return stem, ""


def _split_header(value: str) -> list[str]:
    """An OSGi header's comma-separated clauses (commas inside quotes kept)."""
    out: list[str] = []
    buf: list[str] = []
    quoted = False
    for c in value:
        if c == '"':
            quoted = not quoted
        if c == "," and not quoted:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(c)
    out.append("".join(buf))
    return [s.strip() for s in out if s.strip()]


def license_name(value: str) -> str:
    """An SPDX id for well-known license URLs, the value itself otherwise."""
    key = re.sub(r"^https?://(www\.)?", "", value.strip().lower()).rstrip("/")
    key = re.sub(r"\.(txt|html|php)$", "", key)
    return _LICENSE_URLS.get(key, value.strip())


def bundle_licenses(header: str) -> list[str]:
    """Licenses of a Bundle-License header: ``Apache-2.0;link=...``, a URL, or several clauses."""
    out: list[str] = []
    for clause in _split_header(header):
        lic = license_name(clause.split(";", 1)[0].strip().strip('"'))
        if lic and lic not in out:
            out.append(lic)
    return out


# --- packages -------------------------------------------------------------------------------------------


def maven_package(name_group: str, artifact: str, version: str, found_by: str, loc: Location) -> Package:
    """A maven package: named "group:artifact" when the group is known, else by the artifact id."""
    name = f"{name_group}:{artifact}" if name_group else artifact
    return Package(
        ecosystem="maven", name=name, version=version, purl=purl("maven", artifact, version, name_group or None),
        found_by=found_by, locations=[loc],
    )


@dataclass(slots=True)
class _Pom:
    group: str
    artifact: str
    version: str
    path: str
    licenses: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return re.sub(r"[._]", "-", text.lower())


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", text.lower()) if t and not t.isdigit()} - _GENERIC_TOKENS


def _consistent(pom: _Pom, manifest: dict[str, str], file_version: str) -> bool:
    """Whether a lone pom.properties may describe the archive around it (not a shaded dependency)."""
    if file_version and file_version != pom.version:
        return False
    title = (manifest.get("Implementation-Title") or manifest.get("Bundle-SymbolicName")
             or manifest.get("Specification-Title") or "")
    if not title:
        return True
    if (manifest.get("Implementation-Version") or manifest.get("Bundle-Version")) == pom.version:
        return True
    return bool(_tokens(title) & (_tokens(pom.group) | _tokens(pom.artifact)))


def _same_version(pom: _Pom, manifest: dict[str, str]) -> bool:
    return pom.version in (manifest.get("Implementation-Version"), manifest.get("Bundle-Version"))


#: Directory names under which archives are laid out as GROUP/PATH/ARTIFACT/VERSION/ARTIFACT-VERSION.jar
_REPOSITORY_ROOTS = frozenset({"repository", "maven-repo", "maven2", "m2repo"})


def repository_coordinates(path: str) -> tuple[str, str, str] | None:
    """(group, artifact, version) of an archive stored in a Maven repository layout, else None.

    ``~/.m2/repository/org/apache/ant/ant/1.10.12/ant-1.10.12.jar`` gives ("org.apache.ant", "ant", "1.10.12"):
    the layout is written by Maven itself, so it names the artifact more reliably than a manifest does.
    """
    parts = path.strip("/").split("/")
    if len(parts) < 5:
        return None
    filename, version, artifact = parts[-1], parts[-2], parts[-3]
    if not filename.startswith(f"{artifact}-{version}"):
        return None
    rest = filename[len(artifact) + len(version) + 1:]
    if not (rest.startswith(".") or rest.startswith("-")):
        return None
    roots = [i for i, comp in enumerate(parts[:-3]) if comp in _REPOSITORY_ROOTS]
    if not roots or roots[-1] >= len(parts) - 4:
        return None
    group = ".".join(parts[roots[-1] + 1 : -3])
    return group, artifact, version


def _archive_packages(filename: str, manifest: dict[str, str], poms: list[_Pom], loc: Location,
                      coords: tuple[str, str, str] | None = None) -> list[Package]:
    """Packages of one archive: one per pom.properties, plus the archive itself when none describes it."""
    stem = filename.rsplit(".", 1)[0]
    file_name, file_version = split_filename(filename)
    names = {_norm(stem), _norm(file_name)}
    described = next((p for p in poms if _norm(p.artifact) in names), None)
    if described is None and len(poms) == 1 and _consistent(poms[0], manifest, file_version):
        described = poms[0]
    elif described is None and len(poms) > 1:  # a fat jar: the pom whose version the manifest repeats
        same = [p for p in poms if _same_version(p, manifest) and _consistent(p, manifest, file_version)]
        described = same[0] if len(same) == 1 else None
    licenses = bundle_licenses(manifest.get("Bundle-License", ""))
    packages: list[Package] = []
    for pom in poms:
        pkg = maven_package(pom.group, pom.artifact, pom.version, "java-archive", loc)
        pkg.licenses = list(pom.licenses)
        pkg.metadata["pom_properties"] = pom.path
        if pom is described:
            pkg.licenses += [lic for lic in licenses if lic not in pkg.licenses]
            pkg.metadata.update(_manifest_metadata(manifest))
        packages.append(pkg)
    if described is None:
        if coords is not None:
            pkg = maven_package(*coords, "java-archive", loc)
            pkg.metadata.update(_manifest_metadata(manifest))
            pkg.metadata["named_by"] = "repository-layout"
        else:
            pkg = _manifest_package(manifest, stem, file_name, file_version, loc)
        if all(p.purl != pkg.purl for p in packages):
            pkg.licenses = licenses
            packages.append(pkg)
    return packages


def _manifest_package(manifest: dict[str, str], stem: str, file_name: str, file_version: str,
                      loc: Location) -> Package:
    title = manifest.get("Implementation-Title", "")
    if file_version:
        artifact = file_name
    elif title and not re.search(r"\s", title):
        artifact = title
    else:
        artifact = stem
    # the file name's version first: manifests of old releases often carry the previous release's number
    # ("commons-beanutils-1.7.0.jar" says Implementation-Version 1.6) or extra words ("5.13.0 (b0)")
    stated = (manifest.get("Implementation-Version") or manifest.get("Bundle-Version")
              or manifest.get("Specification-Version") or "").split()
    version = file_version or (stated[0] if stated else "")
    vendor_id = manifest.get("Implementation-Vendor-Id", "")
    group = vendor_id if re.fullmatch(r"[A-Za-z0-9_.\-]+", vendor_id) else ""
    pkg = maven_package(group, artifact, version, "java-archive", loc)
    pkg.metadata.update(_manifest_metadata(manifest))
    pkg.metadata["named_by"] = "filename" if file_version else "manifest"
    return pkg


def _manifest_metadata(manifest: dict[str, str]) -> dict[str, object]:
    fields = {k: manifest[k] for k in _IDENTITY_KEYS if manifest.get(k)}
    return {"manifest": fields} if fields else {}


# --- archives -------------------------------------------------------------------------------------------


class _ArchiveScan:
    """One top-level archive and everything nested in it, sharing one byte budget."""

    def __init__(self, ctx: ParseContext, info: FileInfo) -> None:
        self.ctx = ctx
        self.info = info
        self.left = MAX_ARCHIVE_BYTES
        self.packages: list[Package] = []

    def where(self, inner: str | None) -> str:
        return f"{self.info.path}:{inner}" if inner else self.info.path

    def take(self, n: int) -> None:
        if n > self.left:
            raise _BudgetSpent
        self.left -= n

    def read(self, zf: ZipReader, zi: ZipEntry, limit: int) -> bytes:
        if zi.file_size > limit:
            raise _TooLarge(f"{zi.name} is {zi.file_size} bytes uncompressed (cap {limit})")
        with zf.open(zi, limit) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise _TooLarge(f"{zi.name} is larger than {limit} bytes")
        self.take(len(data))
        return data

    def read_text(self, zf: ZipReader, zi: ZipEntry, inner: str | None) -> str | None:
        try:
            return self.read(zf, zi, MAX_META).decode("utf-8", "replace")
        except _READ_ERRORS as exc:
            self.ctx.warn(self.where(inner), f"java-archive: cannot read {zi.name} ({_why(exc)})")
            return None

    def scan(self, zf: ZipReader, listed: list[ZipEntry], inner: str | None, filename: str, depth: int) -> None:
        """``listed``: the entries of ``zf`` that _wanted accepts, in central directory order."""
        entries = {zi.name: zi for zi in listed if not zi.is_dir}
        manifest: dict[str, str] = {}
        poms: list[_Pom] = []
        nested: list[ZipEntry] = []
        for name, zi in entries.items():
            if name.upper() == _MANIFEST:
                text = self.read_text(zf, zi, inner)
                manifest = parse_manifest(text) if text else {}
            elif _POM_PROPERTIES.search(name):
                pom = self.pom(zf, zi, entries, inner)
                if pom is not None:
                    poms.append(pom)
            elif name.lower().endswith(ARCHIVE_EXTENSIONS):
                nested.append(zi)
        loc = self.ctx.location(self.info, inner)
        coords = repository_coordinates(self.info.path) if inner is None else None
        self.packages.extend(_archive_packages(filename, manifest, poms, loc, coords))
        for zi in nested:
            self.nested(zf, zi, inner, depth + 1)

    def pom(self, zf: ZipReader, zi: ZipEntry, entries: dict[str, ZipEntry], inner: str | None) -> _Pom | None:
        text = self.read_text(zf, zi, inner)
        props = parse_properties(text or "")
        artifact, version = props.get("artifactId", "").strip(), props.get("version", "").strip()
        if not artifact or not version:
            if text is not None:
                self.ctx.warn(self.where(inner), f"java-archive: {zi.name} has no artifactId or version")
            return None
        pom = _Pom(props.get("groupId", "").strip(), artifact, version, zi.name)
        xml_info = entries.get(zi.name[: -len("pom.properties")] + "pom.xml")
        if xml_info is not None:
            xml = self.read_text(zf, xml_info, inner)
            if xml:
                with contextlib.suppress(ParseError):  # licenses are a bonus; the properties name the package
                    pom.licenses = pom_licenses(_parse_xml(xml))
        return pom

    def nested(self, zf: ZipReader, zi: ZipEntry, inner: str | None, depth: int) -> None:
        child = f"{inner}:{zi.name}" if inner else zi.name
        path = self.where(child)
        if depth > MAX_DEPTH:
            self.ctx.warn(path, f"java-archive: nested more than {MAX_DEPTH} archives deep; not opened")
            return
        if zi.file_size > MAX_NESTED:
            self.ctx.warn(path, f"java-archive: nested archive of {zi.file_size} bytes exceeds {MAX_NESTED}")
            return
        if zi.file_size > 1024 * 1024 and zi.file_size > MAX_RATIO * max(zi.compress_size, 1):
            ratio = zi.file_size // max(zi.compress_size, 1)
            self.ctx.warn(path, f"java-archive: compression ratio {ratio}:1 looks like a zip bomb; not opened")
            return
        try:
            stream = self.extract(zf, zi)
        except _READ_ERRORS as exc:
            self.ctx.warn(path, f"java-archive: cannot extract ({_why(exc)})")
            return
        with stream:
            try:
                inner_zip, listed = _open_zip(stream)
            except _READ_ERRORS as exc:
                self.ctx.warn(path, f"java-archive: not a readable zip archive ({_why(exc)})")
                return
            self.scan(inner_zip, listed, child, posixpath.basename(zi.name), depth)

    def extract(self, zf: ZipReader, zi: ZipEntry) -> BinaryIO:
        if zi.file_size <= MAX_IN_MEMORY:
            return io.BytesIO(self.read(zf, zi, MAX_IN_MEMORY))
        tmp = tempfile.TemporaryFile(prefix="threatstryker-jar-")  # noqa: SIM115 - returned to the caller
        try:
            with zf.open(zi, MAX_NESTED) as src:
                while chunk := src.read(1024 * 1024):
                    self.take(len(chunk))
                    tmp.write(chunk)
            tmp.seek(0)
        except BaseException:
            tmp.close()
            raise
        return tmp  # type: ignore[return-value]


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def parse_archive(ctx: ParseContext, info: FileInfo) -> list[Package]:
    """Packages of a Java archive and of the archives nested in it (each at "outer.war:inner.jar")."""
    scan = _ArchiveScan(ctx, info)
    with ctx.open(info) as stream:
        try:
            zf, listed = _open_zip(stream)
        except _READ_ERRORS as exc:
            raise ParseError(f"not a readable zip archive ({_why(exc)})") from exc
        try:
            scan.scan(zf, listed, None, info.name, 0)
        except _BudgetSpent:
            ctx.warn(info.path, f"java-archive: stopped after reading {MAX_ARCHIVE_BYTES} uncompressed bytes")
    return scan.packages


def parse_pom_properties(ctx: ParseContext, info: FileInfo) -> list[Package]:
    """A pom.properties file lying in the tree (an unpacked archive)."""
    props = parse_properties(ctx.read_text(info, limit=MAX_META))
    if not props:
        return []
    artifact, version = props.get("artifactId", "").strip(), props.get("version", "").strip()
    if not artifact or not version:
        raise ParseError("no artifactId or version")
    return [maven_package(props.get("groupId", "").strip(), artifact, version, "java-pom-properties",
                          ctx.location(info))]


# --- pom.xml and gradle.lockfile ------------------------------------------------------------------------


def _parse_xml(text: str) -> ElementTree.Element:
    """A pom's XML with namespaces dropped from tag names. Entity declarations are refused (XML bombs);
    ElementTree never fetches external entities."""
    if "<!ENTITY" in text:
        raise ParseError("XML entity declarations are not accepted")
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - no DTD entities (checked above)
    except ElementTree.ParseError as exc:
        raise ParseError(f"invalid XML: {exc}") from exc
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def _text(el: ElementTree.Element | None, path: str) -> str:
    found = el.find(path) if el is not None else None
    return (found.text or "").strip() if found is not None else ""


def pom_licenses(root: ElementTree.Element) -> list[str]:
    """Licenses a pom declares, as SPDX ids for well-known URLs, else by name."""
    out: list[str] = []
    for lic in root.findall("licenses/license"):
        name = license_name(_text(lic, "url")) if _text(lic, "url") else ""
        if not name or name == _text(lic, "url"):
            name = _text(lic, "name") or name
        if name and name not in out:
            out.append(name)
    return out


def _pom_props(root: ElementTree.Element) -> dict[str, str]:
    version = _text(root, "version") or _text(root, "parent/version")
    group = _text(root, "groupId") or _text(root, "parent/groupId")
    props = {
        "project.version": version, "pom.version": version, "version": version,
        "project.groupId": group, "pom.groupId": group, "groupId": group,
        "project.artifactId": _text(root, "artifactId"), "artifactId": _text(root, "artifactId"),
        "project.parent.version": _text(root, "parent/version"), "parent.version": _text(root, "parent/version"),
        "project.parent.groupId": _text(root, "parent/groupId"),
    }
    props = {k: v for k, v in props.items() if v}
    block = root.find("properties")
    for el in block if block is not None else ():
        if isinstance(el.tag, str):
            props[el.tag] = (el.text or "").strip()
    return props


def _resolve(value: str, props: dict[str, str]) -> str | None:
    for _ in range(10):
        if "${" not in value:
            return value
        new = re.sub(r"\$\{([^}]+)\}", lambda m: props.get(m.group(1), m.group(0)), value)
        if new == value:
            return None
        value = new
    return None if "${" in value else value


def parse_pom_xml(ctx: ParseContext, info: FileInfo) -> Iterator[Package]:
    """Dependencies a pom.xml declares with a version, resolving properties defined in the same pom."""
    text = ctx.read_text(info, limit=16 * 1024 * 1024)
    if not text.strip():
        return
    root = _parse_xml(text)
    if root.tag != "project":
        raise ParseError(f"root element is <{root.tag}>, not <project>")
    props = _pom_props(root)
    managed = {(_text(d, "groupId"), _text(d, "artifactId")): _text(d, "version")
               for d in root.findall("dependencyManagement/dependencies/dependency")}
    loc = ctx.location(info)
    for dep in root.findall("dependencies/dependency"):
        group = _resolve(_text(dep, "groupId"), props)
        artifact = _resolve(_text(dep, "artifactId"), props)
        version = _resolve(_text(dep, "version") or managed.get((_text(dep, "groupId"), _text(dep, "artifactId")), ""),
                           props)
        if not artifact or not version or version[0] in "[(":
            continue  # managed in a parent or BOM, unresolvable, or a range: not a version of this pom
        pkg = maven_package(group or "", artifact, version, "java-pom-xml", loc)
        for key in ("scope", "optional", "classifier", "type"):
            if _text(dep, key):
                pkg.metadata[key] = _text(dep, key)
        yield pkg


def parse_gradle_lockfile(ctx: ParseContext, info: FileInfo) -> Iterator[Package]:
    """``group:artifact:version=configuration,...`` lines of a Gradle dependency lock file."""
    text = ctx.read_text(info, limit=16 * 1024 * 1024)
    loc = ctx.location(info)
    bad: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("empty="):
            continue
        coords, _, configs = line.partition("=")
        parts = coords.split(":")
        if len(parts) != 3 or not all(parts):
            bad.append(lineno)
            continue
        pkg = maven_package(parts[0], parts[1], parts[2], "gradle-lockfile", loc)
        if configs:
            pkg.metadata["configurations"] = [c for c in configs.split(",") if c]
        yield pkg
    if bad:
        ctx.warn(info.path, f"gradle-lockfile: {len(bad)} malformed line(s), first at line {bad[0]}")


#: Where Debian records the Maven coordinates of the jars it installs in /usr/share/java, as symlinks
#: GROUP/ARTIFACT/VERSION/ARTIFACT-VERSION.jar (VERSION "debian" for the packaged version, whatever it is).
DEBIAN_MAVEN_REPO = "/usr/share/maven-repo"


def _maven_repo_links(ctx: ParseContext, repo: str) -> dict[str, tuple[str, str, str]]:
    """Jar path -> (group, artifact, version) from the symlinks of a Debian maven-repo (a real version
    preferred over "debian")."""
    found: dict[str, tuple[str, str, str]] = {}
    stack = [(repo, 0)]
    while stack and len(found) < 100_000:
        path, depth = stack.pop()
        for entry in ctx.tree.listdir(path):
            if entry.kind == "dir" and depth < 12:
                stack.append((entry.path, depth + 1))
            elif entry.kind == "symlink" and entry.path.endswith(".jar"):
                coords = repository_coordinates(entry.path)
                if coords is None:
                    continue
                try:
                    target = ctx.tree.resolve(entry.path)
                except FileTreeError:
                    continue
                if target not in found or found[target][2] == "debian":
                    found[target] = coords
    return found


def name_debian_jars(ctx: ParseContext, packages: list[Package]) -> list[Package]:
    """Give archives that carry no pom.properties the Maven coordinates Debian's maven-repo records for them."""
    orphans = [p for p in packages if p.ecosystem == "maven" and ":" not in p.name and p.found_by == "java-archive"
               and p.locations and ":" not in p.locations[0].path]
    if not orphans or ctx.tree.stat(DEBIAN_MAVEN_REPO) is None:
        return packages
    links = _maven_repo_links(ctx, DEBIAN_MAVEN_REPO)
    out: list[Package] = []
    for pkg in packages:
        coords = links.get(pkg.locations[0].path) if pkg in orphans else None
        if coords is None:
            out.append(pkg)
            continue
        group, artifact, version = coords
        named = maven_package(group, artifact, pkg.version if version == "debian" else version, pkg.found_by,
                              pkg.locations[0])
        named.locations, named.licenses = pkg.locations, pkg.licenses
        named.metadata = {**pkg.metadata, "named_by": "debian-maven-repo"}
        out.append(named)
    return out


CATALOGER = Cataloger(
    name="java",
    finalize=name_debian_jars,
    parsers=(
        *(Parser(f"**/*{ext}", parse_archive, "java-archive") for ext in ARCHIVE_EXTENSIONS),
        Parser("**/pom.properties", parse_pom_properties, "java-pom-properties"),
        Parser("**/pom.xml", parse_pom_xml, "java-pom-xml", declared=True),
        Parser("**/*gradle.lockfile", parse_gradle_lockfile, "gradle-lockfile", declared=True),
    ),
)
