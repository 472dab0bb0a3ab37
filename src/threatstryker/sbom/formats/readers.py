"""Reads existing SBOM documents (CycloneDX JSON, SPDX JSON, syft JSON, native) back in as packages."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from threatstryker import __version__
from threatstryker.model import Distro, Location, Package, Sbom, ScanWarning, TargetInfo
from threatstryker.sbom.formats.native import SCHEMA, read_native
from threatstryker.sources.target import TargetError

#: SBOM documents larger than this are refused (a JSON document is parsed in memory).
MAX_SBOM_BYTES = 512 * 1024 * 1024
_ARRAY_KEYS = ("components", "packages", "artifacts")


def package_from_purl(purl: str, found_by: str, locations: list[Location] | None = None) -> Package | None:
    """A Package from a purl string, with the ecosystem's name convention; None when the purl is invalid."""
    try:
        p = PackageURL.from_string(purl)
    except ValueError:
        return None
    quals = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    name = p.name
    if p.namespace:
        if p.type == "maven":
            name = f"{p.namespace}:{p.name}"
        elif p.type in ("npm", "golang", "composer", "github", "generic", "swift"):
            name = f"{p.namespace}/{p.name}"
    source_name = source_version = None
    upstream = quals.get("upstream")
    if p.type in ("deb", "rpm", "apk"):
        source_name, source_version = p.name, p.version
        if upstream:
            if p.type == "rpm" and upstream.endswith(".src.rpm"):
                m = re.match(r"^(.*)-([^-]+-[^-]+)\.src\.rpm$", upstream)
                if m:
                    source_name, source_version = m.group(1), m.group(2)
            else:
                source_name, _, ver = upstream.partition("@")
                source_version = ver or p.version
    return Package(
        ecosystem=p.type,
        name=name,
        version=p.version or "",
        purl=purl,
        found_by=found_by,
        locations=locations or [],
        source_name=source_name,
        source_version=source_version,
        arch=quals.get("arch"),
    )


def _licenses_cdx(comp: dict[str, Any]) -> list[str]:
    out = []
    for entry in comp.get("licenses") or []:
        if not isinstance(entry, dict):
            continue
        if "expression" in entry:
            out.append(str(entry["expression"]))
        lic = entry.get("license") or {}
        if isinstance(lic, dict):
            value = lic.get("id") or lic.get("name")
            if value:
                out.append(str(value))
    return out


def _from_cyclonedx(items: list[Any], warnings: list[ScanWarning], origin: str) -> list[Package]:
    pkgs = []
    stack = list(items)
    while stack:
        comp = stack.pop(0)
        if not isinstance(comp, dict):
            continue
        stack.extend(comp.get("components") or [])
        purl = comp.get("purl")
        if not purl:
            if comp.get("type") not in ("operating-system", "file", "container"):
                warnings.append(ScanWarning(origin, f"component {comp.get('name')!r} has no purl; skipped"))
            continue
        props = {p.get("name"): p.get("value") for p in comp.get("properties") or [] if isinstance(p, dict)}
        locs = []
        i = 0
        while f"threatstryker:location:{i}:path" in props:
            layer = props.get(f"threatstryker:location:{i}:layer")
            locs.append(Location(str(props[f"threatstryker:location:{i}:path"]), layer))
            i += 1
        if not locs:
            for occ in (comp.get("evidence") or {}).get("occurrences") or []:
                if isinstance(occ, dict) and occ.get("location"):
                    locs.append(Location(str(occ["location"])))
        pkg = package_from_purl(purl, props.get("threatstryker:found_by") or "sbom-cyclonedx", locs)
        if pkg is None:
            warnings.append(ScanWarning(origin, f"invalid purl {purl!r}; skipped"))
            continue
        pkg.licenses = _licenses_cdx(comp)
        pkg.owner = props.get("threatstryker:owner")
        pkgs.append(pkg)
    return pkgs


def _from_spdx(items: list[Any], warnings: list[ScanWarning], origin: str) -> list[Package]:
    pkgs = []
    for item in items:
        if not isinstance(item, dict):
            continue
        purls = [r.get("referenceLocator") for r in item.get("externalRefs") or []
                 if isinstance(r, dict) and r.get("referenceType") == "purl"]
        if not purls:
            if item.get("SPDXID") not in ("SPDXRef-Target", "SPDXRef-DOCUMENT"):
                warnings.append(ScanWarning(origin, f"package {item.get('name')!r} has no purl; skipped"))
            continue
        pkg = package_from_purl(str(purls[0]), "sbom-spdx")
        if pkg is None:
            warnings.append(ScanWarning(origin, f"invalid purl {purls[0]!r}; skipped"))
            continue
        declared = item.get("licenseDeclared")
        if declared and declared not in ("NOASSERTION", "NONE"):
            pkg.licenses = [str(declared)]
        pkgs.append(pkg)
    return pkgs


def _from_syft(items: list[Any], warnings: list[ScanWarning], origin: str) -> list[Package]:
    pkgs = []
    for art in items:
        if not isinstance(art, dict) or not art.get("purl"):
            continue
        locs = [Location(loc.get("path", ""), loc.get("layerID") or None)
                for loc in art.get("locations") or [] if isinstance(loc, dict)]
        pkg = package_from_purl(art["purl"], "sbom-syft", locs)
        if pkg is None:
            warnings.append(ScanWarning(origin, f"invalid purl {art['purl']!r}; skipped"))
            continue
        lic = []
        for entry in art.get("licenses") or []:
            lic.append(entry.get("value") if isinstance(entry, dict) else str(entry))
        pkg.licenses = [x for x in lic if x]
        pkgs.append(pkg)
    return pkgs


def _salvage(text: str) -> tuple[str, list[Any]]:
    """From a truncated JSON document, the items of its package array that decoded completely."""
    decoder = json.JSONDecoder()
    for key in _ARRAY_KEYS:
        m = re.search(rf'"{key}"\s*:\s*\[', text)
        if not m:
            continue
        pos = m.end()
        items: list[Any] = []
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or text[pos] == "]":
                break
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except ValueError:
                break
            items.append(obj)
        return key, items
    return "", []


def _kind(doc: dict[str, Any], text: str) -> str:
    if doc.get("schema") == SCHEMA or SCHEMA in text[:300]:
        return "native"
    if doc.get("bomFormat") == "CycloneDX" or '"bomFormat"' in text[:2000]:
        return "cyclonedx"
    if "spdxVersion" in doc or '"spdxVersion"' in text[:2000]:
        return "spdx"
    if "artifacts" in doc or '"artifacts"' in text[:200]:
        return "syft"
    return ""


def read_sbom_file(target: TargetInfo) -> Sbom:
    """Read an SBOM document as an Sbom; a truncated document yields the packages before the cut (partial)."""
    path = target.path
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SBOM_BYTES + 1)
    except OSError as exc:
        raise TargetError(f"sbom:{path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SBOM_BYTES:
        raise TargetError(f"sbom:{path}: larger than {MAX_SBOM_BYTES // (1024 * 1024)} MiB")
    text = raw.decode("utf-8", "replace")
    warnings: list[ScanWarning] = []
    partial = False
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise TargetError(f"sbom:{path}: not an SBOM document (top level is not an object)")
    except json.JSONDecodeError as exc:
        key, items = _salvage(text)
        if not key:
            raise TargetError(f"sbom:{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        doc = {key: items}
        partial = True
        warnings.append(ScanWarning(path, f"document is truncated or corrupt ({exc.msg} at line {exc.lineno}); "
                                          f"kept {len(items)} complete entries"))
    kind = _kind(doc, text)
    target.name = target.name or path
    if kind == "native" and not partial:
        sbom = read_native(doc, target)
        sbom.warnings = warnings + sbom.warnings
        return sbom
    if kind == "cyclonedx" or (partial and "components" in doc):
        packages = _from_cyclonedx(doc.get("components") or [], warnings, path)
    elif kind == "spdx" or (partial and "packages" in doc and kind != "native"):
        packages = _from_spdx(doc.get("packages") or [], warnings, path)
    elif kind == "syft" or (partial and "artifacts" in doc):
        packages = _from_syft(doc.get("artifacts") or [], warnings, path)
    elif kind == "native":
        packages = [Package.from_dict(p) for p in doc.get("packages", []) if isinstance(p, dict) and "ecosystem" in p]
    else:
        raise TargetError(f"sbom:{path}: not a CycloneDX, SPDX, syft or ThreatStryker JSON document")
    return Sbom(
        target=target,
        packages=packages,
        distro=_distro(doc, packages),
        warnings=warnings,
        partial=partial,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        tool_version=__version__,
    )


def _distro(doc: dict[str, Any], packages: list[Package]) -> Distro | None:
    """The distro a document names: syft's "distro", a CycloneDX operating-system component, or the
    ``distro`` qualifier of its OS packages' purls ("debian-12")."""
    syft = doc.get("distro")
    if isinstance(syft, dict) and syft.get("id"):
        return Distro(str(syft["id"]), str(syft.get("versionID", "")), name=str(syft.get("prettyName", "")))
    for comp in doc.get("components") or []:
        if isinstance(comp, dict) and comp.get("type") == "operating-system" and comp.get("name"):
            return Distro(str(comp["name"]).lower(), str(comp.get("version") or ""))
    for pkg in packages:
        if pkg.ecosystem in ("deb", "rpm", "apk"):
            try:
                quals = PackageURL.from_string(pkg.purl).qualifiers
            except ValueError:
                continue
            value = quals.get("distro", "") if isinstance(quals, dict) else ""
            if value:
                ident, _, version = value.partition("-")
                return Distro(ident, version)
    return None
