"""Packages, their locations, and the SBOM that holds them: what every cataloger produces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Location:
    """Where a package was found: a path inside the target and, for images, the layer that introduced it.

    ``path`` is absolute inside the target ("/usr/lib/python3/dist-packages/x.dist-info/METADATA");
    a file inside an archive uses a virtual path joined with ':' ("/app/a.war:WEB-INF/lib/b.jar").
    """

    path: str
    layer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path}
        if self.layer is not None:
            d["layer"] = self.layer
        return d


@dataclass(frozen=True, slots=True)
class Distro:
    """The operating system release of a root filesystem, from etc/os-release (or a fallback file)."""

    id: str  # "debian", "ubuntu", "alpine", "rhel", "rocky", ...
    version_id: str = ""  # "12", "22.04", "3.19.1"
    codename: str = ""
    name: str = ""
    id_like: tuple[str, ...] = ()

    @property
    def purl_distro(self) -> str:
        """The value of the purl ``distro`` qualifier, e.g. ``debian-12``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version_id": self.version_id,
            "codename": self.codename,
            "name": self.name,
            "id_like": list(self.id_like),
        }


@dataclass(slots=True)
class Package:
    """One software package found in a target.

    ``ecosystem`` is the purl type ("deb", "rpm", "apk", "pypi", "npm", "golang", "maven", "cargo", "gem",
    "composer", "nuget", "generic"). ``name`` is normalised per ecosystem. For OS packages ``source_name`` and
    ``source_version`` name the source package the distro's advisories are written against; for language
    packages an OS package manager installed, ``owner`` is the owning OS package's purl.
    """

    ecosystem: str
    name: str
    version: str
    purl: str
    found_by: str
    locations: list[Location] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    owner: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A stable identifier: the purl plus the first location, hashed."""
        first = self.locations[0].path if self.locations else ""
        return hashlib.sha256(f"{self.purl}|{first}".encode()).hexdigest()[:16]

    @property
    def key(self) -> tuple[str, str, str]:
        """The (ecosystem, name, version) triple used for comparisons."""
        return (self.ecosystem, self.name, self.version)

    @property
    def layer(self) -> str | None:
        """The layer that introduced the package (the first location's layer)."""
        return self.locations[0].layer if self.locations else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "ecosystem": self.ecosystem,
            "name": self.name,
            "version": self.version,
            "purl": self.purl,
            "found_by": self.found_by,
            "locations": [loc.to_dict() for loc in self.locations],
            "licenses": list(self.licenses),
        }
        for attr in ("source_name", "source_version", "arch", "owner"):
            value = getattr(self, attr)
            if value is not None:
                d[attr] = value
        if self.metadata:
            d["metadata"] = self.metadata
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Package:
        return cls(
            ecosystem=d["ecosystem"],
            name=d["name"],
            version=d.get("version", ""),
            purl=d.get("purl", ""),
            found_by=d.get("found_by", "sbom"),
            locations=[Location(loc["path"], loc.get("layer")) for loc in d.get("locations", [])],
            licenses=list(d.get("licenses", [])),
            source_name=d.get("source_name"),
            source_version=d.get("source_version"),
            arch=d.get("arch"),
            owner=d.get("owner"),
            metadata=dict(d.get("metadata", {})),
        )


@dataclass(frozen=True, slots=True)
class ScanWarning:
    """A problem met during a scan that did not stop it: the path concerned and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(slots=True)
class TargetInfo:
    """What was scanned: the scheme, the path given, and for images their digest, tags and layers."""

    scheme: str
    path: str
    name: str = ""
    image_id: str | None = None
    tags: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.scheme}:{self.path}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"scheme": self.scheme, "path": self.path, "name": self.name or self.path}
        if self.image_id:
            d["image_id"] = self.image_id
        if self.tags:
            d["tags"] = list(self.tags)
        if self.layers:
            d["layers"] = list(self.layers)
        return d


@dataclass(slots=True)
class Sbom:
    """The result of cataloging one target: its packages, its distro and every warning met on the way."""

    target: TargetInfo
    packages: list[Package] = field(default_factory=list)
    distro: Distro | None = None
    warnings: list[ScanWarning] = field(default_factory=list)
    partial: bool = False
    created: str = ""
    tool_version: str = ""
    duration_s: float = 0.0

    def by_ecosystem(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.packages:
            counts[p.ecosystem] = counts.get(p.ecosystem, 0) + 1
        return dict(sorted(counts.items()))
