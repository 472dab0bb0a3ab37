"""Debian security tracker lists and Alpine secdb -> Advisory, on the real public data
(../shared/data/debian-tracker, ../shared/data/alpine-secdb) and on small malformed inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from threatstryker.vulndb.advisory import Advisory, AdvisoryError, Event
from threatstryker.vulndb.feeds import alpine, debian

# ---------------------------------------------------------------------------------------------
# helpers


def _split(items: object) -> tuple[list[Advisory], list[AdvisoryError]]:
    advisories: list[Advisory] = []
    errors: list[AdvisoryError] = []
    for item in items:  # type: ignore[attr-defined]
        (errors if isinstance(item, AdvisoryError) else advisories).append(item)
    return advisories, errors


def _by_id(advisories: list[Advisory]) -> dict[str, Advisory]:
    result = {a.id: a for a in advisories}
    assert len(result) == len(advisories), "ids are unique"
    return result


def _debian(text: str) -> tuple[list[Advisory], list[AdvisoryError]]:
    return _split(debian.parse_list(text.split("\n"), "t/list"))


def _alpine(data: object) -> tuple[list[Advisory], list[AdvisoryError]]:
    return _split(alpine.parse_secdb(data, "t.yaml"))


# ---------------------------------------------------------------------------------------------
# real data: Debian


@pytest.fixture(scope="module")
def tracker(shared_data: Path) -> tuple[dict[str, Advisory], list[AdvisoryError]]:
    path = shared_data / "debian-tracker"
    if not path.is_dir():
        pytest.skip(f"{path} missing")
    advisories, errors = _split(debian.iter_records(path))
    return _by_id(advisories), errors


def test_debian_real_counts_and_the_one_malformed_line(
    tracker: tuple[dict[str, Advisory], list[AdvisoryError]],
) -> None:
    advisories, errors = tracker
    # one advisory per header line: 5406 DSA + 3534 DLA + 208 DTSA (grep -c '^\[' */list)
    assert sum(a.id.startswith("DSA-") for a in advisories.values()) == 5406
    assert sum(a.id.startswith("DLA-") for a in advisories.values()) == 3534
    assert sum(a.id.startswith("DTSA-") for a in advisories.values()) == 208
    # The only malformed line in the data, DSA/list line 17244, gives the package name where
    # the version belongs: "[woody] - kernel-image-2.4.17-ia64 kernel-image-2.4.17-ia64".
    assert [str(e) for e in errors] == [
        f"{errors[0].source}: DSA-423: 'kernel-image-2.4.17-ia64' is not a valid Debian version "
        "(kernel-image-2.4.17-ia64 in woody)"
    ]
    assert errors[0].source.endswith("DSA/list:17244")
    assert advisories["DSA-423"].affected == ()  # the advisory is still there, its CVEs too
    assert len(advisories["DSA-423"].aliases) > 10
    # every release in the data is known
    ecosystems = {a.ecosystem for adv in advisories.values() for a in adv.affected}
    assert ecosystems == {f"Debian:{n}" for n in ("3.0", "3.1", "4.0", "5", "6", "7", "8", "9", "10", "11")}


def test_debian_real_newest_dsa(tracker: tuple[dict[str, Advisory], list[AdvisoryError]]) -> None:
    # DSA/list line 1-3:  [29 Mar 2023] DSA-5380-1 xorg-server - security update
    #                     {CVE-2023-1393}   [bullseye] - xorg-server 2:1.20.11-1+deb11u6
    # (there is no [bookworm] line anywhere: the snapshot predates bookworm's release)
    adv = tracker[0]["DSA-5380-1"]
    assert adv.published == datetime(2023, 3, 29, tzinfo=UTC)
    assert adv.summary == "security update"
    assert adv.aliases == ("CVE-2023-1393",)
    assert adv.database_specific["packages"] == ["xorg-server"]
    (aff,) = adv.affected
    assert (aff.ecosystem, aff.ecosystem_release, aff.name) == ("Debian:11", "11", "xorg-server")
    assert aff.ranges[0].events == (Event("introduced", "0"), Event("fixed", "2:1.20.11-1+deb11u6"))
    assert aff.fix_state == "fixed"
    assert adv.references[0].url == "https://security-tracker.debian.org/tracker/DSA-5380-1"


def test_debian_real_other_shapes(tracker: tuple[dict[str, Advisory], list[AdvisoryError]]) -> None:
    advisories = tracker[0]
    dla = advisories["DLA-3380-1"]  # newest DLA, buster
    assert dla.published == datetime(2023, 4, 1, tzinfo=UTC)
    assert len(dla.aliases) == 11 and dla.aliases[0] == "CVE-2020-12362"
    assert dla.affected[0].ecosystem == "Debian:10"
    assert dla.affected[0].ranges[0].fixed == ("20190114+really20220913-0+deb10u1",)
    # DTSA: long date, etch, urgency note, CVE list with a trailing space
    dtsa = advisories["DTSA-1-1"]
    assert dtsa.published == datetime(2005, 8, 26, tzinfo=UTC)
    assert dtsa.aliases == ("CVE-2005-2626", "CVE-2005-2627")
    assert dtsa.affected[0].ecosystem == "Debian:4.0"
    assert dtsa.affected[0].ranges[0].fixed == ("2005.08.R1-0.1etch1",)
    assert dtsa.affected[0].database_specific["note"] == "high"
    # <end-of-life>: every version affected, no fix
    eol = advisories["DSA-3699-1"].affected[0]
    assert (eol.name, eol.ecosystem, eol.database_specific["status"]) == ("virtualbox", "Debian:8", "end-of-life")
    assert eol.fix_state == "not_fixed"
    # header with no " - ": no package list, whole text is the summary
    git = advisories["DSA-2114-1"]
    assert git.summary == "git-core" and "packages" not in git.database_specific
    assert git.affected[0].ranges[0].fixed == ("1:1.5.6.5-3+lenny3.1",)
    # several source packages in one header, one affected entry per release line
    pg = advisories["DSA-1964-1"]
    assert pg.database_specific["packages"] == ["postgresql-7.4", "postgresql-8.1", "postgresql-8.3"]
    assert [(a.ecosystem, a.name) for a in pg.affected][:3] == [
        ("Debian:4.0", "postgresql-8.1"),
        ("Debian:4.0", "postgresql-7.4"),
        ("Debian:5", "postgresql-8.3"),
    ]
    # NOTE lines are kept; "NOTE: <unfixed> ..." is a note, not a package line
    assert advisories["DSA-1605-1"].database_specific["notes"][0].startswith("<unfixed>")
    not_affected = [
        a for adv in advisories.values() for a in adv.affected if a.database_specific.get("status") == "not-affected"
    ]
    assert len(not_affected) == 55 and all(a.ranges == () for a in not_affected)


# ---------------------------------------------------------------------------------------------
# real data: Alpine


@pytest.fixture(scope="module")
def secdb(shared_data: Path) -> tuple[dict[str, Advisory], list[AdvisoryError]]:
    path = shared_data / "alpine-secdb"
    if not path.is_dir():
        pytest.skip(f"{path} missing")
    advisories, errors = _split(alpine.iter_records(path))
    return _by_id(advisories), errors


# Genuinely malformed in the real data (apk rejects them: "4.8.0.-r1" has an empty number,
# "2.7.16-33" / "57-1-r2" / "4.10-1-r1" / "1.11-20-r0" have a stray "-", "0.8.21.r2" has a
# letter after a dot, "6.6.2p1-r0" a suffix apk does not know), plus heimdal's empty list.
_ALPINE_BAD = {
    ("v3.10/community.yaml", "phpmyadmin: version key is not a valid apk version: '4.8.0.-r1'"),
    ("v3.11/community.yaml", "phpmyadmin: version key is not a valid apk version: '4.8.0.-r1'"),
    ("v3.11/main.yaml", "opensmtpd: version key is not a valid apk version: '6.6.2p1-r0'"),
    ("v3.11/main.yaml", "python2: version key is not a valid apk version: '2.7.16-33'"),
    ("v3.11/main.yaml", "xen: version key is not a valid apk version: '4.10-1-r1'"),
    ("v3.3/main.yaml", "irssi: version key is not a valid apk version: '0.8.21.r2'"),
    ("v3.3/main.yaml", "libxi: version key is not a valid apk version: '1.7.5.-r1'"),
    ("v3.4/main.yaml", "icu: version key is not a valid apk version: '57-1-r2'"),
    ("v3.4/main.yaml", "irssi: version key is not a valid apk version: '0.8.21.r2'"),
    ("v3.5/main.yaml", "irssi: version key is not a valid apk version: '0.8.21.r2'"),
    ("v3.5/main.yaml", "wget: version key is not a valid apk version: '1.18.-r2'"),
    ("v3.6/main.yaml", "heimdal '7.4.0-r0': entries are a NoneType, not a list"),
    ("v3.6/main.yaml", "irssi: version key is not a valid apk version: '1.0.4.-r0'"),
    ("v3.6/main.yaml", "py-django: version key is not a valid apk version: '1.11-20-r0'"),
    ("v3.7/community.yaml", "quassel: version key is not a valid apk version: '0.12.5.-r0'"),
    ("v3.7/main.yaml", "git: version key is not a valid apk version: '2.15.r-r1'"),
    ("v3.7/main.yaml", "py-django: version key is not a valid apk version: '1.11-20-r0'"),
    ("v3.8/community.yaml", "phpmyadmin: version key is not a valid apk version: '4.8.0.-r1'"),
    ("v3.8/main.yaml", "mariadb: version key is not a valid apk version: '10.2.26.r0'"),
    ("v3.8/main.yaml", "mariadb: version key is not a valid apk version: '10.2.24.r0'"),
    ("v3.8/main.yaml", "mariadb: version key is not a valid apk version: '10.2.22.r0'"),
    ("v3.8/main.yaml", "py-django: version key is not a valid apk version: '1.11-20-r0'"),
    ("v3.8/main.yaml", "xen: version key is not a valid apk version: '4.10-1-r1'"),
    ("v3.9/community.yaml", "phpmyadmin: version key is not a valid apk version: '4.8.0.-r1'"),
    ("v3.9/main.yaml", "xen: version key is not a valid apk version: '4.10-1-r1'"),
}


def test_alpine_real_counts_and_malformed_keys(secdb: tuple[dict[str, Advisory], list[AdvisoryError]]) -> None:
    advisories, errors = secdb
    got = {(e.source.split("alpine-secdb/")[-1], str(e).split(": ", 1)[1]) for e in errors}
    assert got == _ALPINE_BAD and len(errors) == len(_ALPINE_BAD)
    assert len(advisories) == 2468
    assert sum(i.startswith("CVE-") for i in advisories) == 2438
    assert sum(len(a.affected) for a in advisories.values()) == 11837
    # XSA-*, wnpa-sec-*, and "ZBX-11023" (v3.4 zabbix) are advisories of their own
    assert sorted(i for i in advisories if not i.startswith(("CVE-", "XSA-"))) == [
        "ZBX-11023",
        "wnpa-sec-2017-18",
        "wnpa-sec-2017-19",
        "wnpa-sec-2017-20",
        "wnpa-sec-2017-21",
    ]
    not_affected = [a for adv in advisories.values() for a in adv.affected if a.database_specific.get("not_affected")]
    assert len(not_affected) == 5  # v3.8/main.yaml db "0": five Oracle Berkeley DB CVEs
    per_release = {f"v3.{n}" for n in range(3, 12)}
    assert {a.ecosystem_release for adv in advisories.values() for a in adv.affected} == per_release


def test_alpine_real_entries(secdb: tuple[dict[str, Advisory], list[AdvisoryError]]) -> None:
    advisories = secdb[0]
    # v3.11/main.yaml line 1342: openssl 1.1.1d-r3: [CVE-2019-1551]
    (ssl,) = [a for a in advisories["CVE-2019-1551"].affected if a.ecosystem == "Alpine:v3.11"]
    assert (ssl.name, ssl.purl) == ("openssl", "pkg:apk/alpine/openssl")
    assert ssl.ranges[0].events == (Event("introduced", "0"), Event("fixed", "1.1.1d-r3"))
    assert ssl.database_specific["repos"] == ["main"]
    # v3.8/main.yaml: db "0": [CVE-2016-0682, ...] -> not affected, no ranges
    (db,) = advisories["CVE-2016-0682"].affected
    assert (db.ecosystem, db.name, db.ranges, db.database_specific["not_affected"]) == ("Alpine:v3.8", "db", (), True)
    # extra text: "CVE-2017-5753 CVE-2017-5715 CVE-2017-5754 XSA-254 XPTI" (v3.7 xen 4.9.1-r3)
    spectre = advisories["CVE-2017-5715"]
    assert "XSA-254" in spectre.aliases
    (xen,) = [a for a in spectre.affected if a.ecosystem == "Alpine:v3.7"]
    assert xen.ranges[0].fixed == ("4.9.1-r3",)
    assert xen.database_specific["entries"] == ["CVE-2017-5753 CVE-2017-5715 CVE-2017-5754 XSA-254 XPTI"]
    assert "XSA-248" in advisories  # an entry with no CVE is an advisory of its own
    # repaired slips: "CVE 2018-16859" (v3.9 ansible 2.7.3-r0), "CVE-2017-17434-1" (rsync)
    (ans,) = advisories["CVE-2018-16859"].affected
    assert (ans.ecosystem, ans.name, ans.ranges[0].fixed) == ("Alpine:v3.9", "ansible", ("2.7.3-r0",))
    rsync = [a for a in advisories["CVE-2017-17434"].affected if a.ecosystem == "Alpine:v3.11"]
    assert rsync[0].ranges[0].fixed == ("3.1.2-r7",)
    assert "CVE-2018-14462" in advisories  # "CVE-2018-14462 (ICMP)"


# ---------------------------------------------------------------------------------------------
# malformed input: Debian


def test_debian_bad_header_skips_its_lines() -> None:
    text = "[29 Mar 2023] XSA-1-1 foo - bar\n\t{CVE-2023-1}\n\t[bullseye] - foo 1.0\n[01 Apr 2023] DSA-2-1 ok - fine\n"
    advisories, errors = _debian(text)
    assert [a.id for a in advisories] == ["DSA-2-1"]
    assert len(errors) == 1 and str(errors[0]).startswith("t/list:1: not an advisory header")
    assert "\n" not in str(errors[0])


def test_debian_bad_date_and_lines() -> None:
    text = (
        "[32 Foo 2023] DSA-1-1 a - b\n"
        "\t[bullseye] - a 1.0\n"
        "[01 Apr 2023] DSA-2-1 a - b\n"
        "\t{CVE-2023-0001 BOGUS}\n"
        "\t{CVE-2023-0002\n"
        "\t[bullseye] - a 1.0 (a note (with parens))\n"
        "\t[bullseye] - a not_a version!\n"
        "\t[bullseye] - a <wontfix>\n"
        "\tsomething else\n"
    )
    advisories, errors = _debian(text)
    (adv,) = advisories
    assert adv.id == "DSA-2-1" and adv.aliases == ("CVE-2023-0001",)  # valid ids of a bad list kept
    assert adv.affected[0].database_specific["note"] == "a note (with parens)"
    messages = [str(e) for e in errors]
    assert "unknown month" in messages[0] and "DSA-1-1" in messages[0]
    assert any("not a CVE id" in m for m in messages)
    assert any("unclosed CVE list" in m for m in messages)
    assert any("not a '[release] - package version' line" in m for m in messages)
    assert any("unknown state '<wontfix>'" in m for m in messages)
    assert any("unrecognised line" in m for m in messages)
    assert len(errors) == 6


def test_debian_unknown_release_kept_with_error() -> None:
    advisories, errors = _debian(
        "[01 Apr 2023] DSA-9-1 a - b\n\t{CVE-2023-9999}\n\t[duke] - a 2.0-1\n\t[bookworm] - a <unfixed>\n"
    )
    (adv,) = advisories
    assert [(a.ecosystem, a.ecosystem_release) for a in adv.affected] == [("Debian:duke", "duke"), ("Debian:12", "12")]
    assert adv.affected[1].fix_state == "not_fixed" and adv.affected[1].database_specific["status"] == "unfixed"
    assert [str(e) for e in errors] == ["t/list:3: DSA-9-1: unknown release 'duke'; kept as ecosystem 'Debian:duke'"]


def test_debian_indented_line_before_any_header_and_caps(tmp_path: Path) -> None:
    advisories, errors = _debian("\t{CVE-2023-1}\n\t[bullseye] - a 1\n")
    assert advisories == [] and len(errors) == 1  # reported once
    big = tmp_path / "list"
    big.write_text("[01 Apr 2023] DSA-1-1 a - b\n")
    assert "over the 4-byte cap" in str(next(iter(debian.iter_records(big, max_bytes=4))))
    assert "no such file" in str(next(iter(debian.iter_records(tmp_path / "missing"))))
    (long_line,) = _debian("[01 Apr 2023] DSA-1-1 " + "x" * (debian.MAX_LINE_CHARS + 1))[1]
    assert "over" in str(long_line)


# ---------------------------------------------------------------------------------------------
# malformed input: Alpine


def _file(**packages: object) -> dict[str, object]:
    return {
        "distroversion": "v3.20",
        "reponame": "main",
        "packages": [{"pkg": {"name": n, "secfixes": s}} for n, s in packages.items()],
    }


def test_alpine_wrong_types() -> None:
    assert "not a secdb object" in str(_alpine([1, 2])[1][0])
    assert "'distroversion' is not a release" in str(_alpine({"distroversion": 3.1, "packages": []})[1][0])
    assert "'packages' is a str" in str(_alpine({"distroversion": "v3.1", "packages": "x"})[1][0])
    data = _file(a="nope", b={1.5: ["CVE-2020-1"]}, c={"1.0-r0": [7, "no id here", "CVE-2020-0002"]})
    data["packages"].append({"pkg": {"secfixes": {}}})  # type: ignore[attr-defined]
    advisories, errors = _alpine(data)
    assert [a.id for a in advisories] == ["CVE-2020-0002"]
    messages = [str(e) for e in errors]
    assert messages == [
        "t.yaml: a: secfixes is a str, not a mapping",
        "t.yaml: b: version key is not a valid apk version: 1.5",
        "t.yaml: c '1.0-r0': entry 7 is not a string",
        "t.yaml: c '1.0-r0': entry names no advisory id: 'no id here'",
        "t.yaml: packages[3] has no pkg.name string",
    ]


def test_alpine_not_affected_int_key_and_refix() -> None:
    advisories, errors = _alpine(
        _file(foo={0: ["CVE-2020-0001"], "1.2-r1": ["CVE-2020-0002"], "1.10-r0": ["CVE-2020-0002 (again)"]})
    )
    assert errors == []
    by = _by_id(advisories)
    (na,) = by["CVE-2020-0001"].affected
    assert na.ranges == () and na.database_specific["not_affected"] is True and na.ecosystem == "Alpine:v3.20"
    (fix,) = by["CVE-2020-0002"].affected
    assert fix.ranges[0].fixed == ("1.10-r0",)  # highest by apk order, not by text
    assert fix.database_specific["also_listed_under"] == ["1.2-r1"]


def test_alpine_truncated_yaml_json_and_merge(tmp_path: Path) -> None:
    good = "distroversion: v3.11\nreponame: main\npackages:\n  - pkg:\n      name: a\n      secfixes:\n"
    (tmp_path / "v3.11").mkdir()
    (tmp_path / "v3.11" / "main.yaml").write_text(good + "        1.0-r0:\n          - CVE-2020-1234\n")
    (tmp_path / "v3.11" / "community.yaml").write_text(good + '        "1.0-r0:\n          - [CVE')
    (tmp_path / "v3.12").mkdir()
    doc = _file(a={"2.0-r0": ["CVE-2020-1234"]})
    doc["distroversion"] = "v3.12"
    (tmp_path / "v3.12" / "main.json").write_text(json.dumps(doc))
    (tmp_path / "v3.12" / "bad.json").write_text("{")
    advisories, errors = _split(alpine.iter_records(tmp_path))
    assert sorted(str(e).split(": ", 1)[1].split(":")[0] for e in errors) == ["not valid JSON", "not valid YAML"]
    (adv,) = advisories
    assert adv.id == "CVE-2020-1234" and adv.source == str(tmp_path)
    assert [(a.ecosystem, a.ranges[0].fixed) for a in adv.affected] == [
        ("Alpine:v3.11", ("1.0-r0",)),
        ("Alpine:v3.12", ("2.0-r0",)),
    ]
    assert "over the 3-byte cap" in str(next(iter(alpine.iter_records(tmp_path / "v3.11" / "main.yaml", max_bytes=3))))


def test_alpine_entry_ids() -> None:
    assert alpine.entry_ids("CVE-????-?????  XSA-295") == (["XSA-295"], [])
    assert alpine.entry_ids("CVE_2019-2426") == (["CVE-2019-2426"], [])
    assert alpine.entry_ids("CVE-2019-19451.patch") == (["CVE-2019-19451"], [])
    assert alpine.entry_ids("CVE-2019-5060 TALOS-2019-0844") == (["CVE-2019-5060"], ["TALOS-2019-0844"])
    assert alpine.entry_ids("wnpa-sec-2017-18") == (["wnpa-sec-2017-18"], [])
    assert alpine.entry_ids("XPTI") == ([], [])


def test_debian_list_symlinked_outside_the_directory_is_refused(tmp_path: Path) -> None:
    from threatstryker.vulndb.feeds import debian

    outside = tmp_path / "outside"
    outside.write_text("[29 Mar 2023] DSA-1-1 pkg - issue\n\t{CVE-2023-0001}\n\t[bullseye] - pkg 1.0-1\n")
    (tmp_path / "data/DSA").mkdir(parents=True)
    (tmp_path / "data/DSA/list").symlink_to(outside)
    results = list(debian.iter_records(tmp_path / "data"))
    assert len(results) == 1 and "symlink leads outside" in str(results[0])
