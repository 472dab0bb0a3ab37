"""Purl patterns: which package purls the purl in an ignore entry or VEX statement covers.

A pattern covers a purl when type, namespace and name are equal (names compared the way the purl
type normalises them: PEP 503 for ``pypi``, as given for every other type), the version is equal
when the pattern has one, every qualifier the pattern has is present with the same value, and the
subpath is equal when the pattern has one. So ``pkg:deb/debian/openssl`` covers every version and
architecture of Debian's openssl, ``pkg:deb/debian/openssl@3.0.15-1~deb12u1`` one version.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from packageurl import PackageURL
from packaging.utils import canonicalize_name


def normal_name(purl_type: str, name: str) -> str:
    """A package name as purls of ``purl_type`` compare it (PEP 503 for ``pypi``; as given otherwise)."""
    return canonicalize_name(name) if purl_type == "pypi" else name


@functools.lru_cache(maxsize=16384)
def parse_purl(text: str) -> PackageURL | None:
    """The parsed purl, or None when ``text`` is empty or not a valid purl (cached: parsing is slow, and
    many findings share a package)."""
    if not text:
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class PurlPattern:
    """A purl used as a pattern (see the module docstring); ``text`` is the purl as written."""

    text: str
    type: str
    namespace: str | None
    name: str
    version: str | None
    qualifiers: tuple[tuple[str, str], ...]
    subpath: str | None

    @classmethod
    def parse(cls, text: str) -> PurlPattern:
        """The pattern of a purl string; ValueError (packageurl-python's message) when it is not a purl."""
        p = PackageURL.from_string(text.strip())
        quals = p.qualifiers if isinstance(p.qualifiers, dict) else {}
        return cls(
            text=text.strip(),
            type=p.type,
            namespace=p.namespace or None,
            name=normal_name(p.type, p.name),
            version=p.version or None,
            qualifiers=tuple(sorted(quals.items())),
            subpath=p.subpath or None,
        )

    def covers(self, purl: PackageURL | None) -> bool:
        """Whether this pattern covers ``purl`` (never a missing one)."""
        if purl is None or purl.type != self.type or (purl.namespace or None) != self.namespace:
            return False
        if normal_name(purl.type, purl.name) != self.name:
            return False
        if self.version is not None and purl.version != self.version:
            return False
        if self.subpath is not None and purl.subpath != self.subpath:
            return False
        if self.qualifiers:
            quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
            return all(quals.get(key) == value for key, value in self.qualifiers)
        return True
