"""Findings for the suppression tests, built from the model classes, and a file writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from threatstryker.model import Location
from threatstryker.model.finding import PackageRef, VulnerabilityFinding

OPENSSL_PURL = "pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=debian-12"
LOG4J_PURL = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


def vuln(
    vid: str = "CVE-2023-1234",
    *,
    aliases: tuple[str, ...] = (),
    ecosystem: str = "deb",
    name: str = "openssl",
    version: str = "3.0.15-1~deb12u1",
    purl: str = OPENSSL_PURL,
    paths: tuple[str, ...] = ("/var/lib/dpkg/status",),
    severity: str = "high",
) -> VulnerabilityFinding:
    """A vulnerability finding on one package (openssl from Debian's dpkg status unless told otherwise)."""
    package = PackageRef(ecosystem, name, version, purl, tuple(Location(p) for p in paths), found_by="test")
    return VulnerabilityFinding(id=vid, package=package, aliases=aliases, severity=severity)


def log4j(vid: str = "CVE-2021-44228", aliases: tuple[str, ...] = ("GHSA-jfh8-c2jp-5v3q",),
          version: str = "2.14.1") -> VulnerabilityFinding:
    """A vulnerability finding on log4j-core in an application's lib directory."""
    return vuln(vid, aliases=aliases, ecosystem="maven", name="org.apache.logging.log4j:log4j-core",
                version=version, purl=f"pkg:maven/org.apache.logging.log4j/log4j-core@{version}",
                paths=(f"/app/lib/log4j-core-{version}.jar",), severity="critical")


def write(path: Path, content: str | dict[str, Any]) -> Path:
    """Writes text as given, or a dict as indented JSON; returns the path."""
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2), encoding="utf-8")
    return path
