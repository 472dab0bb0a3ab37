"""Matching packages against the database built from the real public records (shared/data)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from threatstryker.match.matcher import MatchOptions, MatchResult, match_packages
from threatstryker.model.package import Distro, Location, Package
from threatstryker.sbom.cataloger import purl
from threatstryker.vulndb.store import VulnDB

TODAY = date(2026, 12, 1)


@pytest.fixture
def db(vulndb_path: Path) -> Iterator[VulnDB]:
    with VulnDB.open(vulndb_path) as handle:
        yield handle


def deb(name: str, version: str, source: str | None = None, source_version: str | None = None,
        release: str = "11") -> Package:
    return Package(
        ecosystem="deb",
        name=name,
        version=version,
        purl=purl("deb", name, version, "debian", {"distro": f"debian-{release}"}),
        found_by="dpkg",
        locations=[Location("/var/lib/dpkg/status")],
        source_name=source,
        source_version=source_version,
    )


def lang(ptype: str, name: str, version: str, namespace: str | None = None, owner: str | None = None) -> Package:
    return Package(
        ecosystem=ptype,
        name=name,
        version=version,
        purl=purl(ptype, name, version, namespace),
        found_by=f"{ptype}-test",
        locations=[Location(f"/app/{name}")],
        owner=owner,
    )


def run(db: VulnDB, packages: list[Package], distro: Distro | None = None, **opts: object) -> MatchResult:
    return match_packages(packages, distro, db, MatchOptions(today=TODAY, **opts))  # type: ignore[arg-type]


def ids(result: MatchResult) -> set[str]:
    return {f.id for f in result.findings}


BULLSEYE = Distro("debian", "11", codename="bullseye")


def test_debian_binary_matched_by_source_package(db: VulnDB) -> None:
    # DSA-5380-1: [bullseye] - xorg-server 2:1.20.11-1+deb11u6, {CVE-2023-1393}
    old = deb("xserver-xorg-core", "2:1.20.11-1+deb11u5", "xorg-server", "2:1.20.11-1+deb11u5")
    result = run(db, [old], BULLSEYE)
    found = {f.id: f for f in result.findings}
    assert "CVE-2023-1393" in found
    f = found["CVE-2023-1393"]
    assert "DSA-5380-1" in f.aliases
    assert f.fix.state == "fixed"
    assert f.fix.versions == ("2:1.20.11-1+deb11u6",)
    detail = next(m for m in f.matched_by if m.record == "DSA-5380-1")
    assert (detail.feed, detail.ecosystem, detail.package, detail.scheme, detail.via) == (
        "debian", "Debian:11", "xorg-server", "deb", "source-package",
    )
    assert detail.range == ">=0, <2:1.20.11-1+deb11u6 (ECOSYSTEM)"
    assert f.epss is not None and f.epss.probability == pytest.approx(0.00071)
    # the fixed version and a later one are not affected by it
    for version in ("2:1.20.11-1+deb11u6", "2:1.20.11-1+deb11u7"):
        later = deb("xserver-xorg-core", version, "xorg-server", version)
        assert "CVE-2023-1393" not in ids(run(db, [later], BULLSEYE))


def test_binary_name_alone_does_not_match_a_source_advisory(db: VulnDB) -> None:
    # without the Source field the binary name is used, and xserver-xorg-core has no advisory of its own
    pkg = deb("xserver-xorg-core", "2:1.20.11-1+deb11u5")
    assert run(db, [pkg], BULLSEYE).findings == []


def test_other_release_does_not_match(db: VulnDB) -> None:
    pkg = deb("xserver-xorg-core", "2:1.20.11-1+deb11u5", "xorg-server", "2:1.20.11-1+deb11u5", release="12")
    assert "CVE-2023-1393" not in ids(run(db, [pkg], Distro("debian", "12")))


def test_multi_cve_advisory_fans_out_per_cve(db: VulnDB) -> None:
    # DSA-5378-1 xen: five CVEs fixed in 4.14.5+94-ge49571868d-1
    pkg = deb("xen-hypervisor-4.14-amd64", "4.14.5+24-g87d90d511c-1", "xen", "4.14.5+24-g87d90d511c-1")
    found = {f.id: f for f in run(db, [pkg], BULLSEYE).findings}
    expected = {"CVE-2022-23824", "CVE-2022-42331", "CVE-2022-42332", "CVE-2022-42333", "CVE-2022-42334"}
    assert expected <= set(found)
    for cve in expected:
        assert "DSA-5378-1" in found[cve].aliases
        # each finding carries only its own CVE, not the other four
        assert not (set(found[cve].aliases) & (expected - {cve}))


def test_distro_from_purl_when_the_sbom_has_none(db: VulnDB) -> None:
    pkg = deb("xserver-xorg-core", "2:1.20.11-1+deb11u5", "xorg-server", "2:1.20.11-1+deb11u5")
    assert "CVE-2023-1393" in ids(run(db, [pkg], None))


def test_alpine_by_origin_with_apk_versions(db: VulnDB) -> None:
    distro = Distro("alpine", "3.11.6")

    def libssl(version: str) -> Package:
        return Package(
            ecosystem="apk", name="libssl1.1", version=version, found_by="apk",
            purl=purl("apk", "libssl1.1", version, "alpine", {"distro": "alpine-3.11.6"}),
            source_name="openssl", source_version=version,
        )

    found = ids(run(db, [libssl("1.1.1d-r2")], distro))
    assert "CVE-2019-1551" in found  # fixed in 1.1.1d-r3
    assert "CVE-2019-1547" not in found  # fixed in 1.1.1d-r1
    assert "CVE-2019-1551" not in ids(run(db, [libssl("1.1.1d-r3")], distro))


def test_pypi_aliases_merged_and_names_normalised(db: VulnDB) -> None:
    pkg = lang("pypi", "URLLib3", "1.26.16")
    found = {f.id: f for f in run(db, [pkg]).findings}
    f = found["CVE-2023-43804"]
    assert {"GHSA-v845-jxx5-vc9f", "PYSEC-2023-192"} <= set(f.aliases)
    assert f.fix.versions == ("1.26.17",)
    assert f.severity in ("medium", "high") and f.severity_source.startswith("cvss:")
    assert f.cvss and f.cvss[0].vector.startswith("CVSS:3")
    assert f.matched_by[0].scheme == "pep440"
    assert f.epss is not None
    assert "CVE-2023-43804" not in ids(run(db, [lang("pypi", "urllib3", "1.26.17")]))


def test_withdrawn_records_are_not_reported(db: VulnDB) -> None:
    # PYSEC-2023-73 (redis, every version) was withdrawn
    assert "CVE-2023-31655" not in ids(run(db, [lang("pypi", "redis", "4.5.5")]))
    assert not any("PYSEC-2023-73" in f.ids for f in run(db, [lang("pypi", "redis", "4.5.5")]).findings)


def test_go_stdlib_from_toolchain_version(db: VulnDB) -> None:
    # GO-2023-1621: fixed 1.19.7 and, for 1.20.x, 1.20.2
    found = {f.id: f for f in run(db, [lang("golang", "stdlib", "go1.20.1")]).findings}
    f = found["CVE-2023-24532"]
    assert "GO-2023-1621" in f.aliases
    assert f.fix.versions == ("1.20.2",)
    assert f.matched_by[0].via == "stdlib"
    assert f.matched_by[0].range == ">=1.20.0-0, <1.20.2 (SEMVER)"
    assert "CVE-2023-24532" not in ids(run(db, [lang("golang", "stdlib", "go1.20.2")]))
    assert "CVE-2023-24532" not in ids(run(db, [lang("golang", "stdlib", "go1.19.7")]))


def test_go_pseudo_version(db: VulnDB) -> None:
    pkg = lang("golang", "go-ntlmssp", "v0.0.0-20200615164410-66371956d46c", namespace="github.com/Azure")
    found = {f.id: f for f in run(db, [pkg]).findings}
    assert any("GO-2026-5543" in f.ids for f in found.values())


def test_maven_last_affected_has_unknown_fix(db: VulnDB) -> None:
    # GHSA-f7vh-qwp3-x37m: log4j:log4j introduced 0, last_affected 1.2.17
    found = {f.id: f for f in run(db, [lang("maven", "log4j", "1.2.17", namespace="log4j")]).findings}
    f = found["CVE-2022-23307"]
    assert f.fix.state == "unknown"
    assert f.matched_by[0].range == ">=0, <=1.2.17 (ECOSYSTEM)"
    assert "CVE-2022-23307" not in ids(run(db, [lang("maven", "log4j", "1.2.18", namespace="log4j")]))


def test_unfixed_and_ignore_unfixed(db: VulnDB) -> None:
    pkg = lang("golang", "aws-sdk-go", "v1.44.122", namespace="github.com/aws")
    result = run(db, [pkg])
    unfixed = [f for f in result.findings if f.fix.state == "not_fixed"]
    assert unfixed, "aws-sdk-go v1 has advisories with no fixed version"
    dropped = run(db, [pkg], ignore_unfixed=True)
    assert all(f.fix.state == "fixed" for f in dropped.findings)
    assert dropped.stats.unfixed_dropped == len(unfixed)


def test_os_owned_language_package_needs_comprehensive(db: VulnDB) -> None:
    owned = lang("pypi", "urllib3", "1.26.5", owner="pkg:deb/debian/python3-urllib3@1.26.5-1~exp1?distro=debian-12")
    default = run(db, [owned])
    assert default.findings == []
    assert default.stats.skipped == {"owned": 1}
    assert "CVE-2023-43804" in ids(run(db, [owned], comprehensive=True))


def test_invalid_version_is_a_warning_not_a_silent_pass(db: VulnDB) -> None:
    result = run(db, [lang("pypi", "urllib3", "not a version!")])
    assert result.findings == []
    assert len(result.warnings) == 1
    assert "not a valid pep440 version" in result.warnings[0].reason
    assert "could not be checked" in result.warnings[0].reason
    # no records for the package: nothing to warn about
    assert run(db, [lang("pypi", "no-such-package-xyz", "not a version!")]).warnings == []


def test_end_of_life_release(db: VulnDB) -> None:
    # [jessie] - virtualbox <end-of-life> in the DSA list; Debian 8 ended 2020-06-30
    jessie = Distro("debian", "8", codename="jessie")
    pkg = deb("virtualbox", "4.3.36-dfsg-1+deb8u1", "virtualbox", "4.3.36-dfsg-1+deb8u1", release="8")
    result = run(db, [pkg], jessie)
    assert result.findings
    assert {f.fix.state for f in result.findings} <= {"eol", "fixed"}
    assert any(f.fix.state == "eol" for f in result.findings)
    assert any("end of life on 2020-06-30" in n for n in result.notices)
    status = [m for f in result.findings for m in f.matched_by if m.method == "status"]
    assert status and "[end-of-life]" in status[0].range


def test_kev_flag(db: VulnDB) -> None:
    # CVE-2021-44228 (Log4Shell) is in KEV and in the Maven sample
    pkg = lang("maven", "log4j-core", "2.14.1", namespace="org.apache.logging.log4j")
    found = {f.id: f for f in run(db, [pkg]).findings}
    f = found["CVE-2021-44228"]
    assert f.kev is not None and f.kev.date_added == "2021-12-10"
    assert f.epss is not None and f.epss.percentile > 0.99


def test_findings_sorted_and_fingerprints_stable(db: VulnDB) -> None:
    pkgs = [lang("pypi", "urllib3", "1.26.16"), lang("golang", "stdlib", "go1.20.1")]
    first, second = run(db, pkgs), run(db, list(reversed(pkgs)))
    assert [f.fingerprint for f in first.findings] == [f.fingerprint for f in second.findings]
    ranks = [f.rank for f in first.findings]
    assert ranks == sorted(ranks, reverse=True)
    assert len({f.fingerprint for f in first.findings}) == len(first.findings)
