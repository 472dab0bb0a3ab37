"""A realistic scan report of a Debian 12 image with a Java app and Python packages, built by hand.

CVSS base scores are the values the CVSS v2/v3.1/v4 equations give for the vectors used.
"""

from __future__ import annotations

import pytest

from threatstryker.model import Distro, Location, Package, Sbom, ScanWarning, TargetInfo
from threatstryker.model.finding import (
    Cvss,
    Epss,
    Fix,
    Kev,
    MatchDetail,
    PackageRef,
    ScanReport,
    Suppression,
    VulnerabilityFinding,
)

BASE_LAYER = "sha256:" + "1f" * 32
APP_LAYER = "sha256:" + "9c" * 32
PY_LAYER = "sha256:" + "4e" * 32
DPKG_STATUS = "/var/lib/dpkg/status"

# vector -> base score, as the CVSS equations compute them
V31_CRIT_NO_INTEGRITY = ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H", 9.1)
V31_SCOPE_CHANGED_ALL_HIGH = ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0)
V31_ALL_HIGH = ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)
V31_HIGH_COMPLEXITY = ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1)
V31_AVAILABILITY = ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5)
V31_XSS = ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", 5.4)
V31_LOCAL_LOW = ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", 3.3)
V2_LOG4SHELL = ("AV:N/AC:M/Au:N/C:C/I:C/A:C", 9.3)
V40_CRIT = ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3)


def cvss(version: str, vs: tuple[str, float], severity: str, source: str = "nvd") -> Cvss:
    return Cvss(version=version, vector=vs[0], base_score=vs[1], severity=severity, source=source)


def deb(name: str, version: str, source: str | None = None) -> PackageRef:
    purl = f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"
    if source:
        purl += f"&upstream={source}"
    return PackageRef("deb", name, version, purl, (Location(DPKG_STATUS, BASE_LAYER),), "dpkg")


def debian_match(record: str, pkg: PackageRef, fixed: str = "") -> MatchDetail:
    rng = f">=0, <{fixed} (ECOSYSTEM)" if fixed else ""
    return MatchDetail("debian", record, "Debian:12", pkg.name, pkg.version, "deb",
                       "range" if fixed else "status", rng, "source-package")


OPENSSL = deb("openssl", "3.0.11-1~deb12u2")
PERL = deb("perl", "5.36.0-7+deb12u1")
LIBTIFF = deb("libtiff6", "4.5.0-6+deb12u1", "tiff")
COREUTILS = deb("coreutils", "9.1-1")
ZLIB = deb("zlib1g", "1:1.2.13.dfsg-1", "zlib")
LOG4J = PackageRef(
    "maven", "org.apache.logging.log4j:log4j-core", "2.14.1",
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    (Location("/app/shop-api.jar:BOOT-INF/lib/log4j-core-2.14.1.jar", APP_LAYER),), "java-archive",
)
JINJA2 = PackageRef(
    "pypi", "jinja2", "3.1.2", "pkg:pypi/jinja2@3.1.2",
    (Location("/usr/local/lib/python3.11/site-packages/Jinja2-3.1.2.dist-info/METADATA", PY_LAYER),), "python",
)
URLLIB3 = PackageRef(
    "pypi", "urllib3", "1.26.5", "pkg:pypi/urllib3@1.26.5",
    (Location("/usr/local/lib/python3.11/site-packages/urllib3-1.26.5.dist-info/METADATA", PY_LAYER),), "python",
)


def findings() -> list[VulnerabilityFinding]:
    """Seven active findings, deliberately not in rank order."""
    return [
        VulnerabilityFinding(
            id="CVE-2024-22195", package=JINJA2, aliases=("GHSA-h5c8-rqwp-cp95",), severity="medium",
            severity_source="cvss", cvss=(cvss("3.1", V31_XSS, "medium", "osv:GHSA-h5c8-rqwp-cp95"),),
            epss=Epss(0.00094, 0.39, "2025-06-01"), fix=Fix("fixed", ("3.1.3",)),
            matched_by=(MatchDetail("osv", "GHSA-h5c8-rqwp-cp95", "PyPI", "jinja2", "3.1.2", "pep440", "range",
                                    ">=0, <3.1.3 (ECOSYSTEM)"),),
            summary="Jinja vulnerable to HTML attribute injection when passing user input as keys to xmlattr filter",
            urls=("https://github.com/advisories/GHSA-h5c8-rqwp-cp95",), cwes=("CWE-79",),
            published="2024-01-11T03:15:11Z",
        ),
        VulnerabilityFinding(
            id="CVE-2024-5535", package=OPENSSL, severity="critical", severity_source="cvss",
            cvss=(cvss("3.1", V31_CRIT_NO_INTEGRITY, "critical"),), epss=Epss(0.0047, 0.72, "2025-06-01"),
            fix=Fix("fixed", ("3.0.14-1~deb12u1",)),
            matched_by=(debian_match("CVE-2024-5535", OPENSSL, "3.0.14-1~deb12u1"),),
            summary="SSL_select_next_proto buffer overread",
            urls=("https://security-tracker.debian.org/tracker/CVE-2024-5535",
                  "https://www.openssl.org/news/secadv/20240627.txt"),
            cwes=("CWE-200",), published="2024-06-27T11:15:24Z",
        ),
        VulnerabilityFinding(
            id="CVE-2023-52356", package=LIBTIFF, severity="high", severity_source="cvss",
            cvss=(cvss("3.1", V31_AVAILABILITY, "high"),), epss=Epss(0.0009, 0.38), fix=Fix("wont_fix"),
            matched_by=(debian_match("CVE-2023-52356", LIBTIFF),),
            summary="Segfault in TIFFReadRGBATileExt()", cwes=("CWE-125",),
        ),
        VulnerabilityFinding(
            id="PYSEC-2023-192", package=URLLIB3, severity="unknown", fix=Fix("fixed", ("1.26.17",)),
            summary="Cookie request header is not stripped during cross-origin redirects",
        ),
        VulnerabilityFinding(
            id="CVE-2016-2781", package=COREUTILS, severity="negligible", severity_source="debian",
            fix=Fix("not_fixed"), matched_by=(debian_match("CVE-2016-2781", COREUTILS),),
            summary="chroot --userspec allows a terminal escape via TIOCSTI",
        ),
        VulnerabilityFinding(
            id="CVE-2023-31484", package=PERL, severity="high", severity_source="cvss",
            cvss=(cvss("3.1", V31_HIGH_COMPLEXITY, "high"),), epss=Epss(0.0021, 0.59), fix=Fix("not_fixed"),
            matched_by=(debian_match("CVE-2023-31484", PERL),),
            summary="CPAN.pm does not verify TLS certificates when downloading distributions over HTTPS",
            cwes=("CWE-295",),
        ),
        VulnerabilityFinding(
            id="CVE-2021-44228", package=LOG4J, aliases=("GHSA-jfh8-c2jp-5v3q",), severity="critical",
            severity_source="cvss",
            cvss=(cvss("2.0", V2_LOG4SHELL, "high"), cvss("3.1", V31_SCOPE_CHANGED_ALL_HIGH, "critical")),
            epss=Epss(0.94358, 0.99967, "2025-06-01"),
            kev=Kev("2021-12-10", "2021-12-24", known_ransomware=True,
                    name="Apache Log4j2 Remote Code Execution Vulnerability"),
            fix=Fix("fixed", ("2.15.0",)),
            matched_by=(MatchDetail("osv", "GHSA-jfh8-c2jp-5v3q", "Maven", LOG4J.name, "2.14.1", "maven", "range",
                                    ">=2.13.0, <2.15.0 (ECOSYSTEM)"),),
            summary="Remote code injection in Log4j",
            urls=("https://logging.apache.org/log4j/2.x/security.html",), cwes=("CWE-502", "CWE-917"),
            published="2021-12-10T00:00:00Z",
        ),
    ]


#: Active finding ids in the order every format lists them.
EXPECTED_ORDER = ["CVE-2021-44228", "CVE-2024-5535", "CVE-2023-31484", "CVE-2023-52356", "CVE-2024-22195",
                  "CVE-2016-2781", "PYSEC-2023-192"]


def suppressed() -> list[VulnerabilityFinding]:
    return [
        VulnerabilityFinding(
            id="CVE-2023-45853", package=ZLIB, severity="critical", severity_source="cvss",
            cvss=(cvss("3.1", V31_ALL_HIGH, "critical"),), fix=Fix("wont_fix"),
            summary="MiniZip integer overflow in zipOpenNewFileInZip4_64",
            suppressed=Suppression("openvex", "vex/openvex.json", "vulnerable_code_not_present minizip is not built",
                                   status="not_affected"),
        ),
        VulnerabilityFinding(
            id="CVE-2024-34064", package=JINJA2, aliases=("GHSA-h75v-3vvj-5mfj",), severity="medium",
            severity_source="cvss", cvss=(cvss("3.1", V31_XSS, "medium"),), fix=Fix("fixed", ("3.1.4",)),
            suppressed=Suppression("ignore", ".threatstryker-ignore.yaml", "accepted risk: templates are trusted",
                                   expires="2026-12-31"),
        ),
    ]


def target() -> TargetInfo:
    return TargetInfo("docker-archive", "/tmp/shop-api.tar", name="shop-api:1.4.2",
                      image_id="sha256:" + "ab" * 32, tags=["shop-api:1.4.2"],
                      layers=[BASE_LAYER, APP_LAYER, PY_LAYER])


DEBIAN_12 = Distro("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)", ())


def make_report(**changes: object) -> ScanReport:
    report = ScanReport(
        target=target(), scanners=("vuln",), findings=findings(), suppressed=suppressed(),
        warnings=[ScanWarning("/usr/lib/x86_64-linux-gnu/libbroken.so.1", "truncated ELF header")],
        notices=["ignore entry for CVE-2020-1234 (.threatstryker-ignore.yaml:4) expired on 2025-01-01"],
        distro=DEBIAN_12, created="2025-06-02T10:00:00Z", tool_version="0.1.0", duration_s=3.2151,
        db={"tool_version": "0.1.0", "schema_version": "1", "built_at": "2025-06-01T04:00:00Z"}, packages=143,
    )
    for key, value in changes.items():
        setattr(report, key, value)
    return report


def empty_report() -> ScanReport:
    return ScanReport(target=TargetInfo("dir", "/srv/empty"), scanners=("vuln",), packages=0)


def sbom_for(report: ScanReport) -> Sbom:
    """An SBOM holding the Debian packages of the findings plus one unaffected package (bash)."""
    pkgs = [Package(r.ecosystem, r.name, r.version, r.purl, r.found_by, list(r.locations))
            for r in (OPENSSL, PERL, LIBTIFF, COREUTILS, ZLIB)]
    pkgs.append(Package("deb", "bash", "5.2.15-2+b7", "pkg:deb/debian/bash@5.2.15-2+b7?arch=amd64&distro=debian-12",
                        "dpkg", [Location(DPKG_STATUS, BASE_LAYER)], licenses=["GPL-3.0-or-later"]))
    return Sbom(target=report.target, packages=pkgs, distro=report.distro)


@pytest.fixture
def report() -> ScanReport:
    return make_report()
