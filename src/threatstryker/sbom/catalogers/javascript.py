"""JavaScript packages: npm, yarn (classic and berry) and pnpm lockfiles, and installed node_modules.

A project's own package.json is not a package (its dependencies are ranges); workspace members, links
and local folders in lockfiles are the project's own code and are left out too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from threatstryker.model import Package
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
from threatstryker.sources.filetree import FileInfo

ECOSYSTEM = "npm"
#: An installed package.json larger than this is not read.
PACKAGE_JSON_LIMIT = 16 * 1024 * 1024
#: npm's own limit on a package name's length; versions get the same room.
MAX_NAME_LEN = 214
MAX_VERSION_LEN = 256

_NAME_RE = re.compile(r"^(?:@[^\s/@]+/)?[^\s/@][^\s/]*$")
_BAD_VERSION_RE = re.compile(r"[\s\x00-\x1f\x7f]")
#: Version or range prefixes that point at the project's own files rather than a published package.
_LOCAL_PROTOCOLS = ("workspace:", "link:", "portal:", "file:", "patch:")


# --- shared helpers -----------------------------------------------------------------------------------


def valid(name: Any, version: Any) -> bool:
    """True when ``name`` is a plausible npm name ("x" or "@scope/x") and ``version`` a plausible version."""
    return (
        isinstance(name, str)
        and isinstance(version, str)
        and 0 < len(name) <= MAX_NAME_LEN
        and 0 < len(version) <= MAX_VERSION_LEN
        and _NAME_RE.match(name) is not None
        and _BAD_VERSION_RE.search(version) is None
    )


def npm_purl(name: str, version: str) -> str:
    """pkg:npm/name@version, with a scope as the (encoded) namespace: pkg:npm/%40scope/name@version."""
    if name.startswith("@") and "/" in name:
        scope, _, base = name.partition("/")
        return purl(ECOSYSTEM, base, version, namespace=scope)
    return purl(ECOSYSTEM, name, version)


def split_spec(spec: str) -> tuple[str, str]:
    """("name", "rest") of "name@rest" or "@scope/name@rest"; rest is "" when there is no '@'."""
    at = spec.find("@", 1)
    if at < 0:
        return spec, ""
    return spec[:at], spec[at + 1 :]


def licenses_of(data: dict[str, Any]) -> list[str]:
    """Licenses of a package.json (or lockfile entry): "license" as a string or {"type": ...}, and the
    legacy "licenses" array."""
    out: list[str] = []
    values: list[Any] = [data.get("license")]
    legacy = data.get("licenses")
    if isinstance(legacy, list):
        values.extend(legacy)
    elif legacy is not None:
        values.append(legacy)
    for value in values:
        if isinstance(value, dict):
            value = value.get("type")
        if isinstance(value, str):
            value = value.strip()
            if value and len(value) <= 200 and value not in out:
                out.append(value)
    return out


class Collector:
    """One file's packages: validated, repeats merged (a package needed outside development is not dev),
    invalid entries counted and reported once."""

    def __init__(self, ctx: ParseContext, info: FileInfo, found_by: str) -> None:
        self.ctx, self.info, self.found_by = ctx, info, found_by
        self.location = ctx.location(info)
        self.packages: dict[tuple[str, str], Package] = {}
        self.bad = 0

    def add(self, name: Any, version: Any, dev: bool = False, licenses: list[str] | None = None) -> None:
        if not valid(name, version):
            self.bad += 1
            return
        have = self.packages.get((name, version))
        if have is not None:
            if not dev:
                have.metadata.pop("dev", None)
            return
        self.packages[(name, version)] = Package(
            ecosystem=ECOSYSTEM,
            name=name,
            version=version,
            purl=npm_purl(name, version),
            found_by=self.found_by,
            locations=[self.location],
            licenses=list(licenses or []),
            metadata={"dev": True} if dev else {},
        )

    def result(self) -> list[Package]:
        if self.bad:
            self.ctx.warn(self.info.path, f"{self.found_by}: skipped {self.bad} entries without a valid "
                                          "name or version")
        return list(self.packages.values())


def _load_yaml_docs(ctx: ParseContext, info: FileInfo) -> list[dict[str, Any]]:
    import yaml  # imported on first use: keeps start-up fast

    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every scalar a string; nothing constructed
    try:
        docs = list(yaml.load_all(ctx.read_text(info, MANIFEST_READ_LIMIT), Loader=loader))
    except yaml.YAMLError as exc:
        raise ParseError(f"invalid YAML ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") \
            from exc
    return [d for d in docs if isinstance(d, dict)]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _truthy(value: Any) -> bool:
    return value is True or value == "true"


# --- package-lock.json / npm-shrinkwrap.json ----------------------------------------------------------


def _inside_installed_package(info: FileInfo) -> bool:
    """A lockfile shipped inside an installed package (node_modules/x/yarn.lock) is that package's own
    development lock: nothing it lists was installed here, and what was installed is read from node_modules."""
    return "/node_modules/" in info.path


def parse_package_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """package-lock.json: v2/v3 "packages" (keyed by node_modules paths), else v1 nested "dependencies"."""
    if _inside_installed_package(info):
        return []
    data = load_json_object(ctx, info)
    out = Collector(ctx, info, "javascript-package-lock")
    packages = data.get("packages")
    if isinstance(packages, dict):
        for key, entry in packages.items():
            if key == "" or "node_modules/" not in key or not isinstance(entry, dict) or entry.get("link"):
                continue  # the root project, a workspace folder, or a link to one
            name = entry.get("name") or key.rpartition("node_modules/")[2]
            version = entry.get("version")
            if isinstance(version, str) and version.startswith(_LOCAL_PROTOCOLS):
                continue
            out.add(name, version, _truthy(entry.get("dev")), licenses_of(entry))
        return out.result()
    deps = data.get("dependencies")
    if deps is None:
        return out.result()
    if not isinstance(deps, dict):
        raise ParseError("'dependencies' is not an object")
    for name, entry in _walk_v1(deps):
        version = entry.get("version")
        if isinstance(version, str) and version.startswith("npm:"):
            name, version = split_spec(version[4:])  # an alias: "npm:real-name@1.2.3"
        if not isinstance(version, str) or ":" in version or "/" in version:
            continue  # git, tarball URL, file: or link: dependency: no registry version
        out.add(name, version, _truthy(entry.get("dev")))
    return out.result()


def _walk_v1(deps: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, entry) of every v1 dependency, nested ones included (iteratively: no recursion limit)."""
    stack = [deps]
    while stack:
        level = stack.pop()
        for name, entry in level.items():
            if not isinstance(entry, dict):
                continue
            yield name, entry
            nested = entry.get("dependencies")
            if isinstance(nested, dict):
                stack.append(nested)


# --- yarn.lock ----------------------------------------------------------------------------------------


def parse_yarn_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """yarn.lock: berry (YAML with __metadata) or classic (the v1 text format)."""
    if _inside_installed_package(info):
        return []
    text = ctx.read_text(info, MANIFEST_READ_LIMIT)
    out = Collector(ctx, info, "javascript-yarn-lock")
    if re.search(r"^__metadata:", text, re.MULTILINE):
        _yarn_berry(ctx, info, out)
    else:
        _yarn_classic(ctx, info, text, out)
    return out.result()


def _yarn_berry(ctx: ParseContext, info: FileInfo, out: Collector) -> None:
    docs = _load_yaml_docs(ctx, info)
    if not docs:
        raise ParseError("no YAML mapping")
    for key, entry in docs[0].items():
        if key == "__metadata" or not isinstance(entry, dict):
            continue
        resolution = entry.get("resolution")
        if not isinstance(resolution, str):
            out.bad += 1
            continue
        name, ref = split_spec(resolution)
        if ref.startswith(_LOCAL_PROTOCOLS):
            continue  # workspace, link, portal, file or a patched copy of a package listed on its own
        version = ref[4:] if ref.startswith("npm:") else entry.get("version")
        out.add(name, version)


def yarn_classic_entries(text: str, bad: list[int]) -> Iterator[tuple[list[str], dict[str, str]]]:
    """(specs, fields) of each entry of a classic yarn.lock: the "name@range" specs of its key line and its
    top-level fields (version, resolved, integrity). Numbers of lines that are no part of the format are
    appended to ``bad`` (with the entry they would belong to dropped)."""
    specs: list[str] | None = None
    fields: dict[str, str] = {}
    dropped = False  # inside the body of a key line that was not understood
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not raw[0].isspace():
            if specs is not None:
                yield specs, fields
            specs, fields = None, {}
            dropped = not stripped.endswith(":")
            if dropped:
                bad.append(number)
            else:
                specs = [s.strip().strip('"') for s in stripped[:-1].split(",")]
        elif specs is None:
            if not dropped:
                bad.append(number)
                dropped = True
        elif raw.startswith("  ") and not raw.startswith("   "):
            key, _, value = stripped.partition(" ")
            if value:
                fields[key.strip('"')] = value.strip().strip('"')
    if specs is not None:
        yield specs, fields


def _yarn_classic(ctx: ParseContext, info: FileInfo, text: str, out: Collector) -> None:
    bad: list[int] = []
    entries = 0
    for specs, fields in yarn_classic_entries(text, bad):
        entries += 1
        names: list[str] = []
        local = False
        for spec in specs:
            name, rng = split_spec(spec)
            if rng.startswith("npm:"):
                name = split_spec(rng[4:])[0]  # an alias: the package is the one after npm:
            local = local or rng.startswith(_LOCAL_PROTOCOLS)
            if name not in names:
                names.append(name)
        if local:
            continue
        version = fields.get("version")
        for name in names[:1]:
            out.add(name, version)
    if bad and not entries:
        raise ParseError(f"line {bad[0]}: not a yarn.lock entry")
    if bad:
        ctx.warn(info.path, f"{out.found_by}: {len(bad)} line(s) not understood (first at line {bad[0]})")


# --- pnpm-lock.yaml -----------------------------------------------------------------------------------


def pnpm_key(key: str, lockfile_major: int) -> tuple[str, str]:
    """(name, version) of a pnpm "packages" key: "/name/1.2.3_peer@1" (v5), "/name@1.2.3(peer@1)" (v6),
    "name@1.2.3" (v9); ("", "") when the key has no such shape."""
    key = key.lstrip("/")
    if lockfile_major and lockfile_major < 6:
        parts = key.split("/")
        if parts[0].startswith("@"):
            if len(parts) < 3:
                return "", ""
            name, rest = "/".join(parts[:2]), "/".join(parts[2:])
        else:
            if len(parts) < 2:
                return "", ""
            name, rest = parts[0], "/".join(parts[1:])
        return name, rest.split("_", 1)[0]
    name, version = split_spec(key.split("(", 1)[0])
    return name, version


def _major(value: Any) -> int:
    m = re.match(r"\s*'?(\d+)", str(value))
    return int(m.group(1)) if m else 0


def parse_pnpm_lock(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """pnpm-lock.yaml (lockfileVersion 5.x, 6.x, 9.x): every "packages" entry with a registry version or
    explicit name and version fields."""
    if _inside_installed_package(info):
        return []
    docs = _load_yaml_docs(ctx, info)
    out = Collector(ctx, info, "javascript-pnpm-lock")
    if not docs:
        raise ParseError("no YAML mapping")
    doc = next((d for d in docs if "importers" in d or "dependencies" in d or "specifiers" in d), docs[-1])
    if "lockfileVersion" not in doc:
        raise ParseError("no lockfileVersion")
    major = _major(doc.get("lockfileVersion"))
    packages = doc.get("packages") or {}
    if not isinstance(packages, dict):
        raise ParseError("'packages' is not a mapping")
    dev_only = _pnpm_dev_only(doc) if major >= 9 else set()
    for key, entry in packages.items():
        entry = entry if isinstance(entry, dict) else {}
        name, version = pnpm_key(str(key), major)
        if str(key).lstrip("/").startswith(_LOCAL_PROTOCOLS) or version.startswith(_LOCAL_PROTOCOLS):
            continue  # a workspace folder or local directory: the project's own code
        if isinstance(entry.get("name"), str) and isinstance(entry.get("version"), str):
            name, version = entry["name"], entry["version"]
        elif major < 6 and not str(key).startswith("/"):
            out.bad += 1  # a non-registry v5 key without name and version fields
            continue
        elif ":" in version:
            if not isinstance(entry.get("version"), str):
                continue  # a tarball, git or file: reference with no declared version
            version = entry["version"]
        out.add(name, version, _truthy(entry.get("dev")) or str(key) in dev_only)
    return out.result()


def _pnpm_snapshot_key(name: str, ref: Any) -> str | None:
    """The v9 snapshot key a dependency reference points at: "name@1.2.3(peer@1)", or the alias target."""
    if not isinstance(ref, str) or ref.startswith(_LOCAL_PROTOCOLS):
        return None
    return ref if "@" in ref.split("(", 1)[0][1:] else f"{name}@{ref}"


def _pnpm_edges(section: Any) -> list[str]:
    out: list[str] = []
    for field in ("dependencies", "optionalDependencies"):
        deps = section.get(field) if isinstance(section, dict) else None
        for name, ref in (deps.items() if isinstance(deps, dict) else ()):
            if isinstance(ref, dict):  # importers: {specifier, version}
                ref = ref.get("version")
            key = _pnpm_snapshot_key(str(name), ref)
            if key:
                out.append(key)
    return out


def _pnpm_dev_only(doc: dict[str, Any]) -> set[str]:
    """v9 "packages" keys reached only from importers' devDependencies (v9 entries carry no dev flag)."""
    snapshots = _as_dict(doc.get("snapshots"))
    importers = _as_dict(doc.get("importers"))
    prod: list[str] = []
    dev: list[str] = []
    for importer in importers.values():
        prod.extend(_pnpm_edges(importer))
        dev.extend(_pnpm_edges({"dependencies": importer.get("devDependencies")}
                               if isinstance(importer, dict) else None))

    def reach(start: list[str]) -> set[str]:
        return {k.split("(", 1)[0] for k in reachable(start, lambda key: _pnpm_edges(snapshots.get(key)))}

    return reach(dev) - reach(prod) if dev else set()


# --- installed node_modules ---------------------------------------------------------------------------


def installed_name(path: str) -> str | None:
    """The package name a node_modules/<name>/package.json or node_modules/@scope/<name>/package.json path
    implies, or None for any other package.json (fixtures deeper inside a package, scope folders)."""
    parts = path.split("/")
    if len(parts) >= 4 and parts[-3] == "node_modules" and not parts[-2].startswith(("@", ".")):
        return parts[-2]
    if len(parts) >= 5 and parts[-4] == "node_modules" and parts[-3].startswith("@") \
            and not parts[-2].startswith("."):
        return f"{parts[-3]}/{parts[-2]}"
    return None


def parse_installed(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """An installed package: package.json directly in node_modules/<name>/ or node_modules/@scope/<name>/."""
    dir_name = installed_name(info.path)
    if dir_name is None:
        return []
    data = load_json_object(ctx, info, PACKAGE_JSON_LIMIT)
    name = data.get("name")
    if not isinstance(name, str):
        name = dir_name
    version = data.get("version")
    if not isinstance(version, str) or not version:
        if _truthy(data.get("private")):
            return []
        raise ParseError("no version")
    if not valid(name, version):
        raise ParseError(f"implausible name or version ({str(name)[:40]!r} {version[:40]!r})")
    return [
        Package(
            ecosystem=ECOSYSTEM,
            name=name,
            version=version,
            purl=npm_purl(name, version),
            found_by="javascript-installed",
            locations=[ctx.location(info)],
            licenses=licenses_of(data),
        )
    ]


CATALOGER = Cataloger(
    name="javascript",
    parsers=(
        Parser("**/node_modules/*/package.json", parse_installed, "javascript-installed"),
        Parser("**/node_modules/@*/*/package.json", parse_installed, "javascript-installed"),
        Parser("**/package-lock.json", parse_package_lock, "javascript-package-lock", declared=True),
        Parser("**/npm-shrinkwrap.json", parse_package_lock, "javascript-package-lock", declared=True),
        Parser("**/yarn.lock", parse_yarn_lock, "javascript-yarn-lock", declared=True),
        Parser("**/pnpm-lock.yaml", parse_pnpm_lock, "javascript-pnpm-lock", declared=True),
    ),
)
