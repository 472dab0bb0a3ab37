"""Severity, CVSS, CWE and links on findings: distro ratings first for OS packages, NVD filling the gaps.

NVD has no copy in the shared data, so the one NVD record below is written in the API 2.0 shape (the
values are NVD's for CVE-2023-1393); everything else is real data from shared/data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from threatstryker.match.matcher import MatchOptions, match_packages
from threatstryker.model.package import Distro, Package
from threatstryker.sbom.cataloger import purl
from threatstryker.vulndb.build import build_database
from threatstryker.vulndb.store import VulnDB

NVD_PAGE = {
    "resultsPerPage": 1,
    "startIndex": 0,
    "totalResults": 1,
    "format": "NVD_CVE",
    "version": "2.0",
    "timestamp": "2026-11-30T00:00:00.000",
    "vulnerabilities": [
        {
            "cve": {
                "id": "CVE-2023-1393",
                "sourceIdentifier": "secalert@redhat.com",
                "published": "2023-03-30T21:15:09.000",
                "lastModified": "2024-11-21T07:39:09.000",
                "vulnStatus": "Modified",
                "descriptions": [
                    {"lang": "en", "value": "A flaw was found in X.Org Server Overlay Window use-after-free."}
                ],
                "metrics": {
                    "cvssMetricV31": [
                        {
                            "source": "nvd@nist.gov",
                            "type": "Primary",
                            "cvssData": {
                                "version": "3.1",
                                "vectorString": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
                                "baseScore": 7.8,
                                "baseSeverity": "HIGH",
                            },
                            "exploitabilityScore": 1.8,
                            "impactScore": 5.9,
                        }
                    ]
                },
                "weaknesses": [
                    {"source": "nvd@nist.gov", "type": "Primary",
                     "description": [{"lang": "en", "value": "CWE-416"}]}
                ],
                "references": [{"url": "https://bugzilla.redhat.com/show_bug.cgi?id=2180288",
                                "source": "secalert@redhat.com"}],
            }
        }
    ],
}


@pytest.fixture(scope="module")
def db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnDB]:
    tmp = tmp_path_factory.mktemp("enrich")
    (tmp / "nvd").mkdir()
    (tmp / "nvd" / "nvd-api-00000.json").write_text(json.dumps(NVD_PAGE))
    build_database(
        [shared_data / "debian-tracker", shared_data / "osv" / "Ubuntu", shared_data / "osv" / "PyPI",
         shared_data / "kev", f"nvd={tmp / 'nvd'}"],
        tmp / "vuln.db",
    )
    with VulnDB.open(tmp / "vuln.db") as handle:
        yield handle


def test_nvd_fills_severity_cwe_and_links_for_a_distro_record(db: VulnDB) -> None:
    pkg = Package("deb", "xserver-xorg-core", "2:1.20.11-1+deb11u5",
                  purl("deb", "xserver-xorg-core", "2:1.20.11-1+deb11u5", "debian", {"distro": "debian-11"}),
                  "dpkg", source_name="xorg-server", source_version="2:1.20.11-1+deb11u5")
    result = match_packages([pkg], Distro("debian", "11"), db, MatchOptions(today=date(2026, 12, 1)))
    f = next(f for f in result.findings if f.id == "CVE-2023-1393")
    # the DSA list gives no rating, so NVD's primary CVSS v3.1 decides
    assert f.severity == "high"
    assert f.severity_source == "cvss:3.1:nvd:primary:nvd@nist.gov"
    assert f.cvss[0].base_score == 7.8 and f.cvss[0].exploitability == 1.8 and f.cvss[0].impact == 5.9
    assert f.cwes == ("CWE-416",)
    assert "https://bugzilla.redhat.com/show_bug.cgi?id=2180288" in f.urls
    assert any("security-tracker.debian.org" in u for u in f.urls)
    assert f.summary  # the DSA's description


def test_distro_priority_wins_for_os_packages(db: VulnDB) -> None:
    # the old-layout Ubuntu record CVE-2010-5298 rates it "low" (ubuntu_priority) for openssl on 14.04
    version = "1.0.1f-1ubuntu2"
    pkg = Package("deb", "openssl", version, purl("deb", "openssl", version, "ubuntu", {"distro": "ubuntu-14.04"}),
                  "dpkg", source_name="openssl", source_version=version)
    result = match_packages([pkg], Distro("ubuntu", "14.04"), db, MatchOptions(today=date(2018, 1, 1)))
    f = next(f for f in result.findings if f.id == "CVE-2010-5298")
    assert (f.severity, f.severity_source) == ("low", "vendor")
    assert f.fix.state == "fixed" and f.fix.versions == ("1.0.1f-1ubuntu2.1",)
    assert f.matched_by[0].ecosystem == "Ubuntu:14.04:LTS"


def test_language_record_cvss_preferred(db: VulnDB) -> None:
    pkg = Package("pypi", "urllib3", "1.26.16", "pkg:pypi/urllib3@1.26.16", "python")
    result = match_packages([pkg], None, db, MatchOptions())
    f = next(f for f in result.findings if f.id == "CVE-2023-43804")
    assert f.severity_source.startswith("cvss:3.1:osv:PYSEC-2023-192")
    assert f.cvss[0].source == "osv:PYSEC-2023-192"
