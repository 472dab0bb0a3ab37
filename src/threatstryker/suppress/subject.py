"""What suppression reads from a finding of any kind (a Protocol), and those facts gathered once per finding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from packageurl import PackageURL

from threatstryker.model.finding import PackageRef, Suppression
from threatstryker.model.package import Location

from .purls import parse_purl


class Suppressible(Protocol):
    """A finding of any kind (vulnerability, secret, malware): ``kind``, ``id``, ``ids`` (the id and its
    aliases), a stable ``fingerprint``, and the ``suppressed`` field suppression sets. What it is about is
    read from :class:`Packaged` and :class:`Located` when the finding also has those."""

    @property
    def kind(self) -> str: ...

    @property
    def id(self) -> str: ...

    @property
    def ids(self) -> tuple[str, ...]: ...

    @property
    def fingerprint(self) -> str: ...

    suppressed: Suppression | None


class Packaged(Protocol):
    """A finding about a package (vulnerabilities): matched on its purl, its name and its location paths."""

    @property
    def package(self) -> PackageRef | None: ...


class Located(Protocol):
    """A finding about files (secrets, malware): matched on its location paths."""

    @property
    def locations(self) -> Sequence[Location]: ...


@dataclass(frozen=True, slots=True)
class Subject:
    """The facts of one finding that rules match against; ``ids`` case-folded."""

    kind: str
    ids: frozenset[str]
    fingerprint: str
    ecosystem: str
    name: str
    purl_text: str
    paths: tuple[str, ...]

    @property
    def purl(self) -> PackageURL | None:
        """The package's purl, parsed (None when there is none or it is invalid)."""
        return parse_purl(self.purl_text)

    @classmethod
    def of(cls, finding: Suppressible) -> Subject:
        """The facts of ``finding``: its package when it is :class:`Packaged`, its locations when it is
        :class:`Located` (read with ``getattr``: runtime protocol checks cost more than the matching)."""
        pkg = getattr(finding, "package", None)
        if not isinstance(pkg, PackageRef):
            pkg = None
        paths = [loc.path for loc in pkg.locations] if pkg else []
        locations = getattr(finding, "locations", None)
        if isinstance(locations, (list, tuple)):
            paths += [loc.path for loc in locations if isinstance(loc, Location)]
        return cls(
            kind=finding.kind,
            ids=frozenset(i.casefold() for i in finding.ids if i),
            fingerprint=finding.fingerprint.lower(),
            ecosystem=pkg.ecosystem if pkg else "",
            name=pkg.name if pkg else "",
            purl_text=pkg.purl if pkg else "",
            paths=tuple(dict.fromkeys(paths)),
        )
