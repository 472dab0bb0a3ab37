"""Turn one SBOM package into the database lookups that can match it (ecosystem, release, name, version, scheme).

* OS packages (purl ``deb``/``rpm``/``apk``) are looked up in their distro release's feeds:
  ``deb`` by *source* package and source version (Debian and Ubuntu track sources), ``rpm`` and
  ``apk`` by both the binary name and the source (origin) name, since their feeds use either.
* Language packages are looked up in their ecosystem (PyPI, npm, Go, Maven ``group:artifact``,
  crates.io, RubyGems, Packagist, NuGet) with no release. A language package owned by an OS
  package (installed by dpkg/rpm/apk) is skipped unless ``comprehensive``: its owner is matched
  against the distro's advisories, which track the fix the distro shipped.
* The Go standard library (``stdlib`` at the toolchain version of a binary) is looked up as
  ``Go``/``stdlib`` with ``via="stdlib"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from packageurl import PackageURL

from ..model.package import Distro, Package
from ..vulndb.versions import scheme_for
from .distros import ReleaseKey, distro_from_purl, release_keys

__all__ = ["LANGUAGE_ECOSYSTEMS", "OS_TYPES", "Lookup", "Skip", "plan_package"]

#: purl type -> OSV ecosystem of language packages.
LANGUAGE_ECOSYSTEMS: dict[str, str] = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "maven": "Maven",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "composer": "Packagist",
    "nuget": "NuGet",
}
OS_TYPES = frozenset({"deb", "rpm", "apk"})
#: purl type -> the distro ids whose packages use it (a deb package is never matched in Alpine).
_FAMILY: dict[str, frozenset[str]] = {
    "deb": frozenset({"debian", "ubuntu"}),
    "apk": frozenset({"alpine", "wolfi", "chainguard"}),
    "rpm": frozenset(
        {"rhel", "centos", "rocky", "almalinux", "sles", "sled", "sles_sap", "opensuse-leap", "opensuse-tumbleweed",
         "mageia"}
    ),
}


@dataclass(frozen=True, slots=True)
class Lookup:
    """One database lookup: ``key`` (ecosystem, release), the package ``name`` and ``version``
    to compare, the version ``scheme`` and ``via`` (``package``, ``source-package``, ``stdlib``,
    ``owner``)."""

    key: ReleaseKey
    name: str
    version: str
    scheme: str
    via: str


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a package has no lookup: ``reason`` is a short code (``owned``, ``no-feed``,
    ``no-distro``, ``no-version``, ``unsupported``) and ``detail`` says more."""

    reason: str
    detail: str = ""


def _osv_name(pkg: Package, purl: PackageURL | None) -> str:
    ptype = pkg.ecosystem
    if purl is None:
        return pkg.name
    if ptype == "maven":
        return f"{purl.namespace}:{purl.name}" if purl.namespace else ""
    if ptype in ("golang", "composer") and purl.namespace:
        return f"{purl.namespace}/{purl.name}"
    if ptype == "npm" and purl.namespace:
        ns = purl.namespace if purl.namespace.startswith("@") else f"@{purl.namespace}"
        return f"{ns}/{purl.name}"
    return purl.name


def _parse_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text) if text else None
    except ValueError:
        return None


def _distro_for(pkg: Package, purl: PackageURL | None, distro: Distro | None) -> Distro | None:
    family = _FAMILY.get(pkg.ecosystem, frozenset())
    if distro is not None and distro.id.lower() in family:
        return distro
    if purl is not None:
        qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
        found = distro_from_purl(str(qualifiers.get("distro", "")), purl.namespace)
        if found is not None and found.id.lower() in family:
            return found
    return None


def plan_package(pkg: Package, distro: Distro | None, *, comprehensive: bool = False) -> list[Lookup] | Skip:
    """The lookups for ``pkg`` in a tree of ``distro``, or a :class:`Skip` saying why there are none."""
    if not pkg.version:
        return Skip("no-version", "the package has no version")
    purl = _parse_purl(pkg.purl)
    if pkg.ecosystem in OS_TYPES:
        found = _distro_for(pkg, purl, distro)
        if found is None:
            return Skip("no-distro", f"no {pkg.ecosystem} distro release known for this package")
        keys = release_keys(found)
        if not keys:
            release = found.version_id or found.codename or "release unknown"
            return Skip("no-feed", f"no feed for {found.id} ({release})")
        scheme = scheme_for(pkg.ecosystem)
        names: list[tuple[str, str, str]] = []
        source = pkg.source_name or pkg.name
        source_version = pkg.source_version or pkg.version
        if pkg.ecosystem == "deb":
            names.append((source, source_version, "source-package" if source != pkg.name else "package"))
        else:
            names.append((pkg.name, pkg.version, "package"))
            if source != pkg.name:
                names.append((source, source_version, "source-package"))
        return [Lookup(key, name, version, scheme, via) for key in keys for name, version, via in names]
    ecosystem = LANGUAGE_ECOSYSTEMS.get(pkg.ecosystem)
    if ecosystem is None:
        return Skip("unsupported", f"no vulnerability feed for {pkg.ecosystem} packages")
    if pkg.owner and not comprehensive:
        return Skip("owned", f"installed by {pkg.owner}; matched through that package")
    name = _osv_name(pkg, purl)
    if not name:
        return Skip("unsupported", "no Maven group id known")
    via = "stdlib" if pkg.ecosystem == "golang" and name == "stdlib" else "package"
    return [Lookup(ReleaseKey(ecosystem, ""), name, pkg.version, scheme_for(pkg.ecosystem), via)]
