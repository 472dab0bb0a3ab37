"""OSV range evaluation (events, limits, explicit versions) and the distro -> feed release mapping."""

from __future__ import annotations

from datetime import date

import pytest

from threatstryker.match.distros import distro_from_purl, eol_date, release_keys
from threatstryker.match.plan import Skip, plan_package
from threatstryker.match.ranges import Evaluation, evaluate, parse_cached
from threatstryker.model.package import Distro, Package
from threatstryker.vulndb.advisory import Affected, Event, Range


def affected(*ranges: Range, versions: tuple[str, ...] = (), eco: str = "PyPI") -> Affected:
    return Affected(eco, eco, None, "pkg", "pkg", ranges=ranges, versions=versions)


def rng(*events: tuple[str, str], kind: str = "ECOSYSTEM") -> Range:
    return Range(kind, tuple(Event(k, v) for k, v in events))


def check(aff: Affected, version: str, scheme: str = "pep440") -> object:
    parsed = parse_cached(scheme, version)
    assert parsed is not None
    return evaluate(aff, parsed, Evaluation(), "TEST-1")


TWO_BRANCHES = affected(rng(("introduced", "0"), ("fixed", "1.19.7"), ("introduced", "1.20.0"), ("fixed", "1.20.2")))


@pytest.mark.parametrize(
    "version,hit,fixed",
    [
        ("1.0", True, "1.19.7"),
        ("1.19.6", True, "1.19.7"),
        ("1.19.7", False, None),
        ("1.19.99", False, None),
        ("1.20.0", True, "1.20.2"),
        ("1.20.1", True, "1.20.2"),
        ("1.20.2", False, None),
        ("2.0", False, None),
    ],
)
def test_two_branches(version: str, hit: bool, fixed: str | None) -> None:
    result = check(TWO_BRANCHES, version)
    assert (result is not None) == hit
    if result is not None:
        assert result.fixed == (fixed,)  # type: ignore[attr-defined]


def test_events_given_out_of_order_are_sorted() -> None:
    shuffled = affected(rng(("fixed", "1.20.2"), ("introduced", "1.20.0"), ("fixed", "1.19.7"), ("introduced", "0")))
    assert check(shuffled, "1.19.8") is None
    assert check(shuffled, "1.20.1") is not None


def test_last_affected_is_inclusive() -> None:
    aff = affected(rng(("introduced", "1.0"), ("last_affected", "1.5")))
    assert check(aff, "0.9") is None
    hit = check(aff, "1.5")
    assert hit is not None and hit.last_affected == ("1.5",) and hit.fixed == ()  # type: ignore[attr-defined]
    assert check(aff, "1.5.1") is None


def test_limit_caps_the_range() -> None:
    aff = affected(rng(("introduced", "1.0"), ("limit", "2.0")))
    assert check(aff, "1.9") is not None
    assert check(aff, "2.0") is None
    assert check(affected(rng(("introduced", "1.0"), ("limit", "*"))), "9.0") is not None


def test_introduced_and_fixed_at_the_same_version_is_empty() -> None:
    assert check(affected(rng(("introduced", "1.0"), ("fixed", "1.0"))), "1.0") is None


def test_explicit_versions_only_without_version_ranges() -> None:
    listed = affected(rng(("introduced", "abc123"), kind="GIT"), versions=("1.0", "1.1"))
    assert check(listed, "1.1") is not None
    assert check(listed, "1.1.0") is not None  # equal under PEP 440
    assert check(listed, "1.2") is None
    # with an ECOSYSTEM range, the (git-derived) list is not consulted
    both = affected(rng(("introduced", "2.0"), ("fixed", "2.1")), versions=("1.0",))
    assert check(both, "1.0") is None


def test_record_versions_the_scheme_rejects_are_counted() -> None:
    ev = Evaluation()
    bad = affected(rng(("introduced", "0"), ("fixed", "not/a/version")))
    parsed = parse_cached("pep440", "1.0")
    assert parsed is not None
    assert evaluate(bad, parsed, ev, "BAD-1") is None
    assert ev.bad_ranges == 1 and "BAD-1" in ev.bad_range_examples[0]


def test_deb_scheme_in_ranges() -> None:
    aff = affected(rng(("introduced", "0"), ("fixed", "1:2.0-1")), eco="Debian")
    assert check(aff, "2.5-1", "deb") is not None  # epoch 0 < epoch 1
    assert check(aff, "1:2.0-1~bpo1", "deb") is not None  # ~ sorts before
    assert check(aff, "1:2.0-1", "deb") is None


@pytest.mark.parametrize(
    "distro,labels",
    [
        (Distro("debian", "12"), ["Debian:12"]),
        (Distro("debian", "", codename="trixie"), ["Debian:13"]),
        (Distro("ubuntu", "22.04"), ["Ubuntu:22.04:LTS", "Ubuntu:22.04"]),
        (Distro("alpine", "3.19.1"), ["Alpine:v3.19"]),
        (Distro("alpine", "3.21_alpha20240923"), ["Alpine:edge"]),
        (Distro("rhel", "9.3"), ["Red Hat:enterprise_linux:9::*"]),
        (Distro("rocky", "9.3"), ["Rocky Linux:9"]),
        (Distro("almalinux", "8.10"), ["AlmaLinux:8"]),
        (Distro("sles", "15.5"), ["SUSE:Linux Enterprise Server 15 SP5"]),
        (Distro("opensuse-leap", "15.5"), ["openSUSE:Leap 15.5"]),
        (Distro("wolfi", "20230201"), ["Wolfi"]),
        (Distro("chainguard", ""), ["Chainguard"]),
        (Distro("arch", ""), []),
        (None, []),
    ],
)
def test_release_keys(distro: Distro | None, labels: list[str]) -> None:
    assert [k.label for k in release_keys(distro)] == labels


def test_distro_from_purl_qualifier() -> None:
    assert distro_from_purl("debian-12", "debian") == Distro("debian", "12")
    assert distro_from_purl("alpine-3.19.1", "alpine") == Distro("alpine", "3.19.1")
    assert distro_from_purl("bookworm", "debian") == Distro("debian", "12", codename="bookworm")
    assert distro_from_purl("", "ubuntu") == Distro("ubuntu", "")
    assert distro_from_purl("", None) is None


def test_eol_dates() -> None:
    assert eol_date(Distro("debian", "10")) == date(2024, 6, 30)
    assert eol_date(Distro("alpine", "3.19.4")) == date(2025, 11, 1)
    assert eol_date(Distro("ubuntu", "20.04")) == date(2025, 5, 31)
    assert eol_date(Distro("debian", "", codename="buster")) == date(2024, 6, 30)
    assert eol_date(Distro("gentoo", "2.15")) is None


def test_plan_deb_uses_source_and_rpm_uses_both_names() -> None:
    deb = Package("deb", "libssl3", "3.0.11-1~deb12u2", "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12",
                  "dpkg", source_name="openssl", source_version="3.0.11-1~deb12u2")
    plan = plan_package(deb, Distro("debian", "12"))
    assert isinstance(plan, list)
    assert [(p.key.label, p.name, p.via) for p in plan] == [("Debian:12", "openssl", "source-package")]
    rpm = Package("rpm", "openssl-libs", "1:3.0.7-25.el9_3", "pkg:rpm/rocky/openssl-libs@1:3.0.7-25.el9_3",
                  "rpm", source_name="openssl", source_version="1:3.0.7-25.el9_3")
    plan = plan_package(rpm, Distro("rocky", "9.3"))
    assert isinstance(plan, list)
    assert [(p.name, p.scheme) for p in plan] == [("openssl-libs", "rpm"), ("openssl", "rpm")]
    # a deb package in an Alpine tree is matched in the release its purl names, never in Alpine's
    plan = plan_package(deb, Distro("alpine", "3.19"))
    assert isinstance(plan, list) and [p.key.label for p in plan] == ["Debian:12"]
    bare = Package("deb", "libssl3", "3.0.11-1", "pkg:deb/debian/libssl3@3.0.11-1", "dpkg")
    skip = plan_package(bare, Distro("alpine", "3.19"))
    assert isinstance(skip, Skip) and skip.reason == "no-feed" and "release unknown" in skip.detail


def test_plan_language_names() -> None:
    maven = Package("maven", "guava", "31.0.1-jre", "pkg:maven/com.google.guava/guava@31.0.1-jre", "java")
    npm = Package("npm", "@babel/core", "7.0.0", "pkg:npm/%40babel/core@7.0.0", "npm")
    go = Package("golang", "github.com/aws/aws-sdk-go", "v1.44.0", "pkg:golang/github.com/aws/aws-sdk-go@v1.44.0", "go")
    names = []
    for pkg in (maven, npm, go):
        plan = plan_package(pkg, None)
        assert isinstance(plan, list)
        names.append((plan[0].key.ecosystem, plan[0].name))
    assert names == [("Maven", "com.google.guava:guava"), ("npm", "@babel/core"), ("Go", "github.com/aws/aws-sdk-go")]
    no_group = Package("maven", "thing", "1.0", "pkg:maven/thing@1.0", "java")
    skip = plan_package(no_group, None)
    assert isinstance(skip, Skip) and skip.reason == "unsupported"
    unknown = Package("conan", "zlib", "1.3", "pkg:conan/zlib@1.3", "conan")
    skip = plan_package(unknown, None)
    assert isinstance(skip, Skip) and skip.reason == "unsupported"
