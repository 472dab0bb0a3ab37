"""Version ordering per ecosystem, for matching packages against vulnerability feeds.

Schemes and what implements them (each checked against its spec and, where the tool is on
the machine, against the real tool):

========== ============================================ ==========================================
scheme     ecosystems                                   implementation
========== ============================================ ==========================================
deb        Debian, Ubuntu (purl deb)                    own: Debian Policy 5.6.12 / dpkg verrevcmp
rpm        Red Hat, Rocky, Alma, SUSE, ... (purl rpm)   own: rpm 4.18 rpmvercmp (``~``, ``^``)
apk        Alpine, Wolfi, Chainguard (purl apk)         own: apk-tools version.c rules
pep440     PyPI (purl pypi)                             ``packaging.version`` (PyPA reference)
npm        npm                                          own: SemVer 2 + node-semver's ``v`` prefix
semver     crates.io (purl cargo)                       own: SemVer 2.0.0
go         Go (purl golang), incl. pseudo-versions      own: x/mod/semver + go/version toolchains
maven      Maven                                        own: Maven 3.9 ComparableVersion
gem        RubyGems (purl gem)                          own: Gem::Version
nuget      NuGet                                        own: NuGet.Versioning (4-part SemVer 2)
composer   Packagist (purl composer)                    own: Composer normalize + version_compare
========== ============================================ ==========================================

Every function raises :class:`InvalidVersion` (a ``ValueError`` naming the scheme and the
version) for a version its scheme does not accept, and :class:`ValueError` for an unknown
scheme or ecosystem. Inputs are capped at :data:`MAX_LENGTH` characters and every parser is
linear, so hostile input costs little.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import apk, composer, dpkg, gem, maven, nuget, pep440, rpm, semver
from ._base import MAX_LENGTH, InvalidVersion, Reject, cmp

__all__ = ["MAX_LENGTH", "SCHEMES", "InvalidVersion", "Version", "compare", "is_valid", "parse", "scheme_for"]


@dataclass(frozen=True)
class _Scheme:
    parse: Callable[[str], Any]
    compare: Callable[[Any, Any], int]
    hash: Callable[[Any], int] = hash


SCHEMES: dict[str, _Scheme] = {
    "deb": _Scheme(dpkg.parse, dpkg.compare),
    "rpm": _Scheme(rpm.parse, rpm.compare),
    "apk": _Scheme(apk.parse, apk.compare),
    "pep440": _Scheme(pep440.parse, pep440.compare),
    "npm": _Scheme(semver.parse_npm, cmp),
    "semver": _Scheme(semver.parse_semver, cmp),
    "go": _Scheme(semver.parse_go, cmp),
    "maven": _Scheme(maven.parse, maven.compare, maven.hash_key),
    "gem": _Scheme(gem.parse, gem.compare),
    "nuget": _Scheme(nuget.parse, cmp),
    "composer": _Scheme(composer.parse, composer.compare),
}

_ECOSYSTEMS: dict[str, str] = {
    # purl types
    "deb": "deb",
    "rpm": "rpm",
    "apk": "apk",
    "pypi": "pep440",
    "npm": "npm",
    "golang": "go",
    "maven": "maven",
    "gem": "gem",
    "composer": "composer",
    "nuget": "nuget",
    "cargo": "semver",
    # OSV ecosystem names (compared case-insensitively, any ":release" suffix dropped)
    "debian": "deb",
    "ubuntu": "deb",
    "alpine": "apk",
    "wolfi": "apk",
    "chainguard": "apk",
    "red hat": "rpm",
    "rocky linux": "rpm",
    "almalinux": "rpm",
    "suse": "rpm",
    "opensuse": "rpm",
    "mageia": "rpm",
    "openeuler": "rpm",
    "photon os": "rpm",
    "go": "go",
    "rubygems": "gem",
    "packagist": "composer",
    "crates.io": "semver",
}


def scheme_for(ecosystem: str) -> str:
    """The version scheme of a purl type (``deb``, ``pypi``...) or an OSV ecosystem (``Debian:12``...)."""
    name = ecosystem.split(":", 1)[0].strip().lower()
    try:
        return _ECOSYSTEMS[name]
    except KeyError:
        raise ValueError(f"no version scheme known for ecosystem {ecosystem!r}") from None


def _scheme(scheme: str) -> _Scheme:
    try:
        return SCHEMES[scheme]
    except KeyError:
        raise ValueError(f"unknown version scheme {scheme!r}; known: {', '.join(SCHEMES)}") from None


class Version:
    """A parsed version: ordered and hashable against versions of the same scheme."""

    __slots__ = ("_key", "scheme", "text")

    def __init__(self, scheme: str, text: str, key: Any) -> None:
        self.scheme = scheme
        self.text = text
        self._key = key

    def _cmp(self, other: object) -> int:
        if not isinstance(other, Version) or other.scheme != self.scheme:
            raise TypeError(f"cannot compare a {self.scheme} version with {other!r}")
        return SCHEMES[self.scheme].compare(self._key, other._key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version) or other.scheme != self.scheme:
            return NotImplemented
        return self._cmp(other) == 0

    def __lt__(self, other: Version) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: Version) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: Version) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: Version) -> bool:
        return self._cmp(other) >= 0

    def __hash__(self) -> int:
        return hash((self.scheme, SCHEMES[self.scheme].hash(self._key)))

    def __repr__(self) -> str:
        return f"Version({self.scheme!r}, {self.text!r})"

    def __str__(self) -> str:
        return self.text


def parse(scheme: str, v: str) -> Version:
    """Parse ``v`` in ``scheme``; surrounding whitespace is ignored."""
    s = _scheme(scheme)
    if not isinstance(v, str):
        raise InvalidVersion(scheme, v, "not a string")
    if len(v) > MAX_LENGTH:
        raise InvalidVersion(scheme, v, f"longer than {MAX_LENGTH} characters")
    text = v.strip()
    if not text:
        raise InvalidVersion(scheme, v, "empty")
    try:
        key = s.parse(text)
    except Reject as e:
        raise InvalidVersion(scheme, v, str(e)) from None
    except (ValueError, RecursionError, OverflowError) as e:  # defensive: never another kind of crash
        raise InvalidVersion(scheme, v, f"unparsable ({type(e).__name__})") from None
    return Version(scheme, text, key)


def compare(scheme: str, a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` in ``scheme``."""
    s = _scheme(scheme)
    return s.compare(parse(scheme, a)._key, parse(scheme, b)._key)


def is_valid(scheme: str, v: str) -> bool:
    """Whether ``v`` is a valid version in ``scheme`` (an unknown scheme still raises)."""
    try:
        parse(scheme, v)
    except InvalidVersion:
        return False
    return True
