"""Which feed ecosystem and release a distro's packages are matched in, and whether the release is past its end of life.

A scanned tree says what it is in os-release (``ID=debian``, ``VERSION_ID=12``); OSV and the
distro feeds name the same thing ``Debian:12``, ``Alpine:v3.19``, ``Ubuntu:22.04:LTS``,
``Red Hat:enterprise_linux:9::appstream``. :func:`release_keys` turns the first into the
second: a list of :class:`ReleaseKey` (ecosystem base, release, whether the release is a prefix).

End-of-life dates live in ``data/distro_eol.yaml`` (facts from each vendor's lifecycle page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

import yaml

from ..model.package import Distro
from ..vulndb.feeds.debian import RELEASES as DEBIAN_RELEASES

__all__ = ["ReleaseKey", "distro_from_purl", "eol_date", "release_keys"]


@dataclass(frozen=True, slots=True)
class ReleaseKey:
    """Where a distro's advisories are stored: ``ecosystem`` base, ``release`` (``""`` for none)
    and ``prefix`` (every stored release starting with ``release`` belongs to this distro)."""

    ecosystem: str
    release: str
    prefix: bool = False

    @property
    def label(self) -> str:
        return f"{self.ecosystem}:{self.release}{'*' if self.prefix else ''}" if self.release else self.ecosystem


_MAJOR = re.compile(r"^(\d+)")
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)")


def _major(version: str) -> str:
    m = _MAJOR.match(version)
    return m.group(1) if m else ""


def _major_minor(version: str) -> str:
    m = _MAJOR_MINOR.match(version)
    return f"{m.group(1)}.{m.group(2)}" if m else ""


def release_keys(distro: Distro | None) -> list[ReleaseKey]:
    """The feed keys of a distro release, most specific first; empty when the distro is unknown
    or has no feed this project reads (the caller reports that)."""
    if distro is None:
        return []
    ident = distro.id.lower()
    version = distro.version_id
    if ident == "debian":
        number = _major(version) or DEBIAN_RELEASES.get(distro.codename.lower(), "")
        return [ReleaseKey("Debian", number)] if number else []
    if ident == "ubuntu":
        v = _major_minor(version)
        return [ReleaseKey("Ubuntu", f"{v}:LTS"), ReleaseKey("Ubuntu", v)] if v else []
    if ident == "alpine":
        v = _major_minor(version)
        if "_alpha" in version or not v:
            return [ReleaseKey("Alpine", "edge")]
        return [ReleaseKey("Alpine", f"v{v}")]
    if ident in ("rhel", "centos", "redhat"):
        major = _major(version)
        return [ReleaseKey("Red Hat", f"enterprise_linux:{major}::", prefix=True)] if major else []
    if ident == "rocky":
        major = _major(version)
        return [ReleaseKey("Rocky Linux", major)] if major else []
    if ident == "almalinux":
        major = _major(version)
        return [ReleaseKey("AlmaLinux", major)] if major else []
    if ident in ("sles", "sled", "sles_sap"):
        major, _, minor = version.partition(".")
        product = {"sles": "Server", "sled": "Desktop", "sles_sap": "Server for SAP Applications"}[ident]
        name = f"Linux Enterprise {product} {major}" + (f" SP{minor}" if minor and minor != "0" else "")
        return [ReleaseKey("SUSE", name)] if major else []
    if ident == "opensuse-leap":
        return [ReleaseKey("openSUSE", f"Leap {version}")] if version else []
    if ident == "opensuse-tumbleweed":
        return [ReleaseKey("openSUSE", "Tumbleweed")]
    if ident == "wolfi":
        return [ReleaseKey("Wolfi", "")]
    if ident == "chainguard":
        return [ReleaseKey("Chainguard", "")]
    if ident == "mageia":
        major = _major(version)
        return [ReleaseKey("Mageia", major)] if major else []
    return []


def distro_from_purl(qualifier: str, namespace: str | None) -> Distro | None:
    """A distro from a purl ``distro`` qualifier (``debian-12``, ``alpine-3.19.1``, or a codename
    as some tools write: ``trixie``) and namespace (``debian``); ``None`` when neither says."""
    ident = (namespace or "").lower()
    version = ""
    if qualifier:
        head, sep, tail = qualifier.rpartition("-")
        if sep and tail[:1].isdigit():
            ident, version = head.lower(), tail
        elif qualifier.lower() in DEBIAN_RELEASES:
            return Distro(ident or "debian", DEBIAN_RELEASES[qualifier.lower()], codename=qualifier.lower())
        elif qualifier[:1].isdigit():
            version = qualifier
        else:
            ident = qualifier.lower()
    if ident == "redhat":
        ident = "rhel"
    return Distro(ident, version) if ident else None


@cache
def _eol_table() -> dict[str, dict[str, date]]:
    text = resources.files(__package__).joinpath("data/distro_eol.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return {
        distro: {str(release): (d if isinstance(d, date) else date.fromisoformat(str(d))) for release, d in rel.items()}
        for distro, rel in raw["eol"].items()
    }


def eol_date(distro: Distro | None) -> date | None:
    """The end-of-life date of the distro release (the end of every free security support,
    LTS included), or ``None`` when the table does not know it."""
    if distro is None:
        return None
    table = _eol_table().get(distro.id.lower())
    if not table:
        return None
    version = distro.version_id
    if distro.id.lower() == "debian" and not version:
        version = DEBIAN_RELEASES.get(distro.codename.lower(), "")
    for key in (version, _major_minor(version), _major(version)):
        if key and key in table:
            return table[key]
    return None
