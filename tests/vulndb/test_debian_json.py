"""The Debian security tracker JSON export -> Advisory, and into a built database.

There is no copy of the export in ../shared/data, so EXPORT below is an excerpt written here in the
export's format (source package -> issue id -> description/scope/debianbug/releases -> per release
status/repositories/fixed_version/urgency/nodsa/nodsa_reason) covering every status the tracker uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threatstryker.vulndb.advisory import Advisory, AdvisoryError, Event, Severity
from threatstryker.vulndb.build import BuildError, build_database, detect_kind
from threatstryker.vulndb.feeds import debian_json
from threatstryker.vulndb.store import VulnDB

EXPORT: dict[str, object] = {
    "openssl": {
        "CVE-2023-0464": {
            "description": "A security vulnerability has been identified in all supported versions ...",
            "scope": "remote",
            "debianbug": 1034720,
            "releases": {
                "bookworm": {
                    "status": "resolved",
                    "repositories": {"bookworm": "3.0.15-1~deb12u1", "bookworm-security": "3.0.15-1~deb12u1"},
                    "fixed_version": "3.0.8-1",
                    "urgency": "not yet assigned",
                },
                "bullseye": {
                    "status": "resolved",
                    "repositories": {"bullseye": "1.1.1w-0+deb11u1", "bullseye-security": "1.1.1w-0+deb11u2"},
                    "fixed_version": "1.1.1n-0+deb11u5",
                    "urgency": "not yet assigned",
                },
                "trixie": {
                    "status": "resolved",
                    "repositories": {"trixie": "3.5.1-1"},
                    "fixed_version": "3.0.8-1",
                    "urgency": "not yet assigned",
                },
                "sid": {
                    "status": "resolved",
                    "repositories": {"sid": "3.5.1-1"},
                    "fixed_version": "3.0.8-1",
                    "urgency": "not yet assigned",
                },
            },
        },
        "CVE-2024-2511": {
            "description": "Issue summary: Some non-default TLS server configurations can cause unbounded memory ...",
            "scope": "remote",
            "releases": {
                "bookworm": {
                    "status": "resolved",
                    "repositories": {"bookworm": "3.0.15-1~deb12u1"},
                    "fixed_version": "3.0.14-1~deb12u1",
                    "urgency": "not yet assigned",
                },
                "bullseye": {
                    "status": "open",
                    "repositories": {"bullseye": "1.1.1w-0+deb11u1"},
                    "urgency": "not yet assigned",
                    "nodsa": "Minor issue",
                    "nodsa_reason": "postponed",
                },
            },
        },
    },
    "zlib": {
        "CVE-2023-45853": {
            "description": "MiniZip in zlib through 1.3 has an integer overflow and resultant heap-based ...",
            "scope": "local",
            "debianbug": 1054290,
            "releases": {
                "bookworm": {
                    "status": "open",
                    "repositories": {"bookworm": "1:1.2.13.dfsg-1"},
                    "urgency": "not yet assigned",
                    "nodsa": "contrib/minizip not built and src:zlib not producing binary packages",
                    "nodsa_reason": "ignored",
                },
                "bullseye": {
                    "status": "open",
                    "repositories": {"bullseye": "1:1.2.11.dfsg-2+deb11u2"},
                    "urgency": "not yet assigned",
                    "nodsa": "Minor issue",
                    "nodsa_reason": "",
                },
                "trixie": {
                    "status": "resolved",
                    "repositories": {"trixie": "1:1.3.dfsg+really1.3.1-1"},
                    "fixed_version": "1:1.3.dfsg-3",
                    "urgency": "not yet assigned",
                },
            },
        },
    },
    "minizip": {
        "CVE-2023-45853": {
            "description": "MiniZip in zlib through 1.3 has an integer overflow and resultant heap-based ...",
            "scope": "local",
            "releases": {
                "bookworm": {
                    "status": "open",
                    "repositories": {"bookworm": "1.1-8+deb12u1"},
                    "fixed_version": "1.1-8+deb12u2",
                    "urgency": "not yet assigned",
                },
            },
        },
    },
    "curl": {
        "CVE-2024-2379": {
            "description": "libcurl skips the certificate verification for a QUIC connection under certain ...",
            "scope": "remote",
            "releases": {
                "bookworm": {
                    "status": "resolved",
                    "repositories": {"bookworm": "7.88.1-10+deb12u8"},
                    "fixed_version": "0",
                    "urgency": "not yet assigned",
                },
                "bullseye": {
                    "status": "resolved",
                    "repositories": {"bullseye": "7.74.0-1.3+deb11u14"},
                    "fixed_version": "0",
                    "urgency": "not yet assigned",
                },
            },
        },
    },
    "php7.4": {
        "CVE-2024-8925": {
            "description": "In PHP versions 8.1.* before 8.1.30, 8.2.* before 8.2.24, 8.3.* before 8.3.12 ...",
            "scope": "remote",
            "releases": {
                "bullseye": {
                    "status": "open",
                    "repositories": {"bullseye": "7.4.33-1+deb11u5"},
                    "urgency": "end-of-life",
                },
            },
        },
    },
    "glibc": {
        "TEMP-0000000-A9B3C4": {
            "description": "",
            "releases": {
                "bookworm": {
                    "status": "undetermined",
                    "repositories": {"bookworm": "2.36-9+deb12u9"},
                    "urgency": "unimportant",
                },
            },
        },
        "CVE-2025-0395": {
            "description": "When the assert() function in the GNU C Library versions 2.13 to 2.40 fails ...",
            "scope": "local",
            "releases": {
                "bookworm": {
                    "status": "open",
                    "repositories": {"bookworm": "2.36-9+deb12u9"},
                    "urgency": "low",
                },
                "duke": {"status": "open", "repositories": {"duke": "2.41-6"}, "urgency": "low"},
            },
        },
    },
}


def _split(items: object) -> tuple[dict[str, Advisory], list[AdvisoryError]]:
    advisories: dict[str, Advisory] = {}
    errors: list[AdvisoryError] = []
    for item in items:  # type: ignore[attr-defined]
        if isinstance(item, AdvisoryError):
            errors.append(item)
        else:
            assert item.id not in advisories, "each id is yielded once"
            advisories[item.id] = item
    return advisories, errors


def _one(adv: Advisory, package: str, ecosystem: str):  # type: ignore[no-untyped-def]
    found = [a for a in adv.affected if a.name == package and a.ecosystem == ecosystem]
    assert len(found) == 1, (package, ecosystem, adv.affected)
    return found[0]


@pytest.fixture
def export_file(tmp_path: Path) -> Path:
    path = tmp_path / "json"  # the name the tracker serves it under
    path.write_text(json.dumps(EXPORT, indent=1))
    return path


def test_statuses_become_ranges_and_markers(export_file: Path) -> None:
    advisories, errors = _split(debian_json.iter_records(export_file))
    assert sorted(advisories) == [
        "CVE-2023-0464", "CVE-2023-45853", "CVE-2024-2379", "CVE-2024-2511", "CVE-2024-8925", "CVE-2025-0395",
        "TEMP-0000000-A9B3C4",
    ]  # fmt: skip
    # the unknown codename is kept and reported once
    assert [str(e) for e in errors] == [
        f"{export_file}: CVE-2025-0395: unknown release 'duke'; kept as ecosystem 'Debian:duke'"
    ]

    adv = advisories["CVE-2023-0464"]
    assert adv.summary.startswith("A security vulnerability has been identified")
    assert adv.database_specific == {"scope": "remote"}
    assert adv.references[0].url == "https://security-tracker.debian.org/tracker/CVE-2023-0464"
    assert adv.modified is None and adv.source == str(export_file)
    bookworm = _one(adv, "openssl", "Debian:12")
    assert bookworm.ranges[0].events == (Event("introduced", "0"), Event("fixed", "3.0.8-1"))
    assert bookworm.fix_state == "fixed" and "status" not in bookworm.database_specific
    assert bookworm.severity == (Severity("Debian", "not yet assigned"),)
    assert bookworm.database_specific["release"] == "bookworm"
    assert bookworm.database_specific["debianbug"] == 1034720
    assert bookworm.database_specific["repositories"]["bookworm-security"] == "3.0.15-1~deb12u1"
    assert bookworm.purl == "pkg:deb/debian/openssl?arch=source"
    assert _one(adv, "openssl", "Debian:11").ranges[0].fixed == ("1.1.1n-0+deb11u5",)
    assert _one(adv, "openssl", "Debian:13").ecosystem_release == "13"
    assert _one(adv, "openssl", "Debian:sid").ecosystem_release == "sid"

    # open, by reason
    postponed = _one(advisories["CVE-2024-2511"], "openssl", "Debian:11")
    assert postponed.ranges[0].events == (Event("introduced", "0"),) and postponed.fix_state == "not_fixed"
    assert postponed.database_specific["status"] == "postponed"
    assert postponed.database_specific["note"] == "Minor issue"
    zlib = advisories["CVE-2023-45853"]
    ignored = _one(zlib, "zlib", "Debian:12")
    assert ignored.database_specific["status"] == "ignored" and ignored.fix_state == "not_fixed"
    assert ignored.database_specific["note"].startswith("contrib/minizip not built")
    assert _one(zlib, "zlib", "Debian:11").database_specific["status"] == "no-dsa"
    assert _one(zlib, "zlib", "Debian:13").ranges[0].fixed == ("1:1.3.dfsg-3",)
    # the same CVE under a second source package is gathered into the same advisory
    pending = _one(zlib, "minizip", "Debian:12")
    assert pending.database_specific["status"] == "unfixed" and pending.fix_state == "not_fixed"
    assert pending.database_specific["fixed_version"] == "1.1-8+deb12u2"  # not yet in the archive
    eol = _one(advisories["CVE-2024-8925"], "php7.4", "Debian:11")
    assert eol.database_specific["status"] == "end-of-life"
    assert eol.severity == (Severity("Debian", "end-of-life"),)

    # resolved with version "0": never affected
    for release in ("Debian:12", "Debian:11"):
        curl = _one(advisories["CVE-2024-2379"], "curl", release)
        assert curl.ranges == () and curl.database_specific["status"] == "not-affected"

    # undetermined, a TEMP- id, no description
    temp = advisories["TEMP-0000000-A9B3C4"]
    assert temp.summary == "" and temp.database_specific == {}
    undetermined = _one(temp, "glibc", "Debian:12")
    assert undetermined.ranges == () and undetermined.database_specific["status"] == "undetermined"
    assert undetermined.severity == (Severity("Debian", "unimportant"),)
    assert _one(advisories["CVE-2025-0395"], "glibc", "Debian:duke").ecosystem_release == "duke"


def test_malformed_parts_are_skipped_with_one_line_errors() -> None:
    bad = {
        "Bad Name": {"CVE-2024-0001": {"releases": {}}},
        "listpkg": ["not", "an", "object"],
        "okpkg": {
            "not-an-id": {"releases": {}},
            "CVE-2024-0002": "a string",
            "CVE-2024-0003": {"releases": []},
            "CVE-2024-0004": {"description": 7, "releases": {}},
            "CVE-2024-0005": {
                "description": "one good release among bad ones\nsecond line",
                "releases": {
                    "bookworm": {"status": "resolved", "fixed_version": "1.0-1", "urgency": "low"},
                    "bullseye": {"status": "fixed?"},
                    "trixie": {"status": "resolved", "fixed_version": "not a version!"},
                    "forky": {"status": "resolved"},
                    "sid": "open",
                },
            },
        },
    }
    advisories, errors = _split(debian_json.parse_tracker(bad, "t.json"))
    assert list(advisories) == ["CVE-2024-0005"]
    adv = advisories["CVE-2024-0005"]
    assert adv.summary == "one good release among bad ones second line"
    assert [a.ecosystem for a in adv.affected] == ["Debian:12"]
    messages = [str(e) for e in errors]
    assert len(messages) == 10
    assert all("\n" not in m and m.startswith("t.json: ") for m in messages)
    expected = [
        "not a source package name: 'Bad Name'",
        "package listpkg: a list, not an object",
        "package okpkg: not an issue id: 'not-an-id'",
        "CVE-2024-0002: package okpkg: a str, not an object",
        "CVE-2024-0003: package okpkg: 'releases' is a list, not an object",
        "CVE-2024-0004: package okpkg: 'description' is a int, not a string",
        "release 'bullseye': unknown status 'fixed?'",
        "release 'trixie': 'not a version!' is not a valid Debian version",
        "release 'forky': resolved with no 'fixed_version'",
        "release 'sid': a str, not an object",
    ]
    for needle in expected:
        assert any(needle in m for m in messages), needle


def test_not_an_export_and_caps(tmp_path: Path) -> None:
    _, errors = _split(debian_json.parse_tracker([1, 2], "t.json"))
    assert [str(e) for e in errors] == ["t.json: the export is a list, not an object of packages"]
    broken = tmp_path / "json"
    broken.write_text('{"openssl": {"CVE-2023-0464": ')  # a truncated download
    _, errors = _split(debian_json.iter_records(broken))
    assert len(errors) == 1 and "not valid JSON" in str(errors[0])
    big = tmp_path / "big.json"
    big.write_text(json.dumps(EXPORT))
    _, errors = _split(debian_json.iter_records(big, max_bytes=1000))
    assert len(errors) == 1 and "over the 1000-byte cap" in str(errors[0])
    _, errors = _split(debian_json.iter_records(tmp_path))
    assert len(errors) == 1 and "a directory" in str(errors[0])
    _, errors = _split(debian_json.iter_records(tmp_path / "missing.json"))
    assert len(errors) == 1 and "no such file" in str(errors[0])


def test_built_database_keeps_tracker_rows_apart_from_the_dsa_list(
    export_file: Path, shared_data: Path, tmp_path: Path
) -> None:
    assert detect_kind(export_file) == "debian-tracker"
    db_path = tmp_path / "vuln.db"
    # the export is detected by content; the DSA/DLA lists are another feed
    report = build_database([export_file, shared_data / "debian-tracker"], db_path)
    assert report.feeds["debian-tracker"].records == 7 and report.feeds["debian-tracker"].errors == 1
    assert report.feeds["debian"].records > 1000
    with VulnDB.open(db_path) as db:
        assert {f.name for f in db.status().feeds} == {"debian", "debian-tracker"}
        rows = db.advisories_for("Debian", "11", "openssl")
        tracker = {r.advisory_id: r for r in rows if r.feed == "debian-tracker"}
        assert set(tracker) == {"CVE-2023-0464", "CVE-2024-2511"}
        assert any(r.feed == "debian" and r.advisory_id == "DSA-5343-1" for r in rows)
        assert tracker["CVE-2024-2511"].affected.database_specific["status"] == "postponed"
        assert tracker["CVE-2023-0464"].affected.ranges[0].fixed == ("1.1.1n-0+deb11u5",)
        assert tracker["CVE-2023-0464"].affected.severity == (Severity("Debian", "not yet assigned"),)
        assert tracker["CVE-2023-0464"].summary.startswith("A security vulnerability")
        (curl,) = db.advisories_for("Debian", "12", "curl")
        assert curl.affected.ranges == () and curl.affected.database_specific["status"] == "not-affected"
        assert [r.advisory_id for r in db.advisories_for("Debian", "sid", "openssl")] == ["CVE-2023-0464"]
        assert db.feeds_of("CVE-2023-45853") == ["debian-tracker"]


def test_an_export_of_only_errors_aborts_the_build(tmp_path: Path) -> None:
    bad = tmp_path / "json"
    bad.write_text('{"openssl": {"CVE-2023-0464": {"releases": ')
    dest = tmp_path / "vuln.db"
    dest.write_bytes(b"previous")
    with pytest.raises(BuildError, match="feed debian-tracker gave no records"):
        build_database([f"debian-tracker={bad}"], dest)
    assert dest.read_bytes() == b"previous"
