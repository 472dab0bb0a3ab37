"""The ignore file: matching by id/alias/fingerprint, package purl or name, path glob; expiry; malformed files."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from threatstryker.model.finding import Suppression
from threatstryker.suppress import SuppressionError, load_suppressions

from .builders import log4j, vuln, write

TODAY = date(2026, 6, 1)
REPO = Path(__file__).resolve().parents[2]


def ignore_file(tmp_path: Path, body: str) -> Path:
    return write(tmp_path / ".threatstryker-ignore.yaml", body)


def test_id_matches_an_alias_case_insensitively(tmp_path: Path) -> None:
    path = ignore_file(tmp_path, "ignore:\n  - id: dsa-5555-1\n    reason: backported fix checked by hand\n")
    hit = vuln("CVE-2023-1234", aliases=("DSA-5555-1", "GHSA-aaaa-bbbb-cccc"))
    miss = vuln("CVE-2023-9999", aliases=("DSA-5555-10",))
    applied = load_suppressions([path]).apply([hit, miss], today=TODAY)
    assert applied.suppressed == [hit]
    assert applied.active == [miss]
    assert hit.suppressed == Suppression("ignore", str(path), "backported fix checked by hand", None, None)
    assert miss.suppressed is None
    assert applied.notices == []


def test_id_matches_a_fingerprint(tmp_path: Path) -> None:
    target = vuln("CVE-2023-1234", paths=("/usr/lib/x86_64-linux-gnu/libssl.so.3",))
    same_id_elsewhere = vuln("CVE-2023-1234", paths=("/opt/app/libssl.so.3",))
    assert target.fingerprint != same_id_elsewhere.fingerprint
    path = ignore_file(tmp_path, f"ignore:\n  - id: {target.fingerprint.upper()}\n    reason: this copy only\n")
    applied = load_suppressions([path]).apply([target, same_id_elsewhere], today=TODAY)
    assert applied.suppressed == [target]
    assert applied.active == [same_id_elsewhere]


def test_package_purl_without_version_covers_every_version(tmp_path: Path) -> None:
    path = ignore_file(tmp_path, "ignore:\n  - package: pkg:deb/debian/openssl\n    reason: openssl handled upstream\n")
    old = vuln("CVE-2023-1", version="3.0.11-1~deb12u2",
               purl="pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12")
    new = vuln("CVE-2023-2")
    other_distro = vuln("CVE-2023-3", purl="pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1?arch=amd64")
    other_name = vuln("CVE-2023-4", name="libssl3", purl="pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64")
    applied = load_suppressions([path]).apply([old, new, other_distro, other_name], today=TODAY)
    assert applied.suppressed == [old, new]
    assert applied.active == [other_distro, other_name]


def test_package_purl_with_version_and_qualifiers(tmp_path: Path) -> None:
    path = ignore_file(
        tmp_path,
        "ignore:\n"
        "  - package: pkg:deb/debian/openssl@3.0.15-1~deb12u1\n"
        "    reason: this build only\n"
        "  - package: pkg:deb/debian/curl?arch=arm64\n"
        "    reason: arm64 builds have the feature disabled\n",
    )
    exact = vuln("CVE-1")
    other_version = vuln("CVE-2", version="3.0.16-1~deb12u1",
                         purl="pkg:deb/debian/openssl@3.0.16-1~deb12u1?arch=amd64&distro=debian-12")
    curl_arm = vuln("CVE-3", name="curl", version="7.88.1-10", purl="pkg:deb/debian/curl@7.88.1-10?arch=arm64")
    curl_amd = vuln("CVE-4", name="curl", version="7.88.1-10", purl="pkg:deb/debian/curl@7.88.1-10?arch=amd64")
    applied = load_suppressions([path]).apply([exact, other_version, curl_arm, curl_amd], today=TODAY)
    assert applied.suppressed == [exact, curl_arm]
    assert applied.active == [other_version, curl_amd]
    assert curl_arm.suppressed is not None and curl_arm.suppressed.reason == "arm64 builds have the feature disabled"


def test_package_pypi_names_compare_by_pep503_and_plain_names(tmp_path: Path) -> None:
    path = ignore_file(
        tmp_path,
        "ignore:\n"
        "  - package: pkg:pypi/Zope.Interface\n    reason: not imported\n"
        "  - package: org.apache.logging.log4j:log4j-core\n    reason: lookups disabled\n",
    )
    zope = vuln("PYSEC-1", ecosystem="pypi", name="zope-interface", version="5.5.2",
                purl="pkg:pypi/zope-interface@5.5.2", paths=("/usr/lib/python3/dist-packages/zope.interface",))
    applied = load_suppressions([path]).apply([zope, log4j(), vuln()], today=TODAY)
    assert [f.id for f in applied.suppressed] == ["PYSEC-1", "CVE-2021-44228"]
    assert [f.id for f in applied.active] == ["CVE-2023-1234"]


@pytest.mark.parametrize(
    ("glob", "location", "matched"),
    [
        ("/usr/lib/**", "/usr/lib/x86_64-linux-gnu/libssl.so.3", True),
        ("/usr/lib/**", "/usr/local/lib/libssl.so.3", False),
        ("/usr/lib/*.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.3", False),  # * stays in one directory
        ("/usr/lib/*/libssl.so.?", "/usr/lib/x86_64-linux-gnu/libssl.so.3", True),
        ("node_modules/**", "/srv/app/node_modules/lodash/package.json", True),  # relative: any depth
        ("/app/**", "/app/lib/a.war:WEB-INF/lib/log4j-core-2.14.1.jar", True),  # inside an archive
        ("*.war:**", "/app/lib/a.war:WEB-INF/lib/log4j-core-2.14.1.jar", True),
    ],
)
def test_path_glob(tmp_path: Path, glob: str, location: str, matched: bool) -> None:
    path = ignore_file(tmp_path, f'ignore:\n  - path: "{glob}"\n    reason: vendored copy, not loaded\n')
    finding = vuln(paths=("/var/lib/dpkg/status", location))
    applied = load_suppressions([path]).apply([finding], today=TODAY)
    assert (finding.suppressed is not None) is matched
    assert len(applied.suppressed) == int(matched)


def test_every_given_field_must_match(tmp_path: Path) -> None:
    path = ignore_file(tmp_path, "ignore:\n  - id: CVE-2023-1234\n    path: /opt/**\n    reason: only the /opt copy\n")
    in_opt = vuln(paths=("/opt/app/libssl.so.3",))
    in_usr = vuln(paths=("/usr/lib/libssl.so.3",))
    other_id_in_opt = vuln("CVE-2024-1", paths=("/opt/app/libssl.so.3",))
    applied = load_suppressions([path]).apply([in_opt, in_usr, other_id_in_opt], today=TODAY)
    assert applied.suppressed == [in_opt]
    assert applied.active == [in_usr, other_id_in_opt]


def test_expired_entry_stops_suppressing_and_is_reported(tmp_path: Path) -> None:
    path = ignore_file(
        tmp_path,
        "# accepted risks\n"
        "ignore:\n"
        "  - id: CVE-2023-1234\n"
        "    reason: accepted until the upgrade\n"
        "    expires: 2026-05-31\n"
        "  - id: CVE-2020-0001\n"
        "    reason: long gone\n"
        "    expires: 2025-01-01\n",
    )
    finding = vuln()
    applied = load_suppressions([path]).apply([finding], today=TODAY)
    assert applied.active == [finding]
    assert finding.suppressed is None
    assert applied.notices == [
        f"{path}:3: ignore entry (id CVE-2023-1234) expired on 2026-05-31 and no longer suppresses the 1 finding(s)"
        " it matches",
        f"{path}:6: ignore entry (id CVE-2020-0001) expired on 2025-01-01 and matches no finding; remove it",
    ]


def test_entry_expiring_today_no_longer_suppresses_but_suppresses_the_day_before(tmp_path: Path) -> None:
    path = ignore_file(tmp_path, "ignore:\n  - id: CVE-2023-1234\n    reason: grace period\n"
                                 "    expires: '2026-06-01'\n")
    suppressions = load_suppressions([path])

    before = vuln()
    applied = suppressions.apply([before], today=date(2026, 5, 31))
    assert applied.suppressed == [before]
    assert before.suppressed == Suppression("ignore", str(path), "grace period", None, "2026-06-01")
    assert applied.notices == []

    on_the_day = vuln()
    applied = suppressions.apply([on_the_day], today=date(2026, 6, 1))
    assert applied.active == [on_the_day]
    assert on_the_day.suppressed is None
    assert len(applied.notices) == 1
    assert applied.notices[0].startswith(f"{path}:2: ignore entry (id CVE-2023-1234) expired on 2026-06-01")


def test_first_live_entry_in_file_order_is_named_and_null_list_is_empty(tmp_path: Path) -> None:
    first = ignore_file(tmp_path, "ignore:\n  - package: openssl\n    reason: first\n  - id: CVE-2023-1234\n"
                                  "    reason: second\n")
    empty = write(tmp_path / "empty.yaml", "ignore:\n")
    suppressions = load_suppressions([empty, first])
    assert [e.reason for e in suppressions.entries] == ["first", "second"]
    finding = vuln()
    suppressions.apply([finding], today=TODAY)
    assert finding.suppressed is not None and finding.suppressed.reason == "first"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("ignore:\n  - id: CVE-1\n    reason: r\n    severity: low\n", 4, "unknown key 'severity'"),
        ("ignore:\n  - id: CVE-1\n  - id: CVE-2\n    reason: r\n", 2, "entry has no 'reason'"),
        ("ignore:\n  - id: CVE-1\n    reason: r\n    expires: 31/01/2027\n", 4, "expires '31/01/2027' is not a date"),
        ("ignore:\n  - id: CVE-1\n    reason: r\n    expires: 2027-02-30\n", 4, "expires '2027-02-30' is not a date"),
        ("ignore:\n  id: CVE-1\n  reason: r\n", 2, "'ignore' must be a list of entries"),
        ("ignore: CVE-1\n", 1, "'ignore' must be a list of entries"),
        ("ignore:\n  - CVE-1\n", 2, "an entry must be a mapping"),
        ("ignore:\n  - reason: no selector\n", 2, "entry selects nothing"),
        ("ignore:\n  - id: [CVE-1, CVE-2]\n    reason: r\n", 2, "'id' must be a single value"),
        ("ignore:\n  - id: CVE-1\n    reason:\n", 3, "'reason' is empty"),
        ("ignore:\n  - package: pkg:deb\n    reason: r\n", 2, "package 'pkg:deb' is not a valid purl"),
        ("ignore:\n  - id: CVE-1\n    id: CVE-2\n    reason: r\n", 3, "'id' given twice"),
        ("ignores:\n  - id: CVE-1\n    reason: r\n", 1, "unknown key 'ignores'"),
        ("ignore:\n  - id: CVE-1\n    reason: 'unclosed\n", 4, "invalid YAML"),
        ("- id: CVE-1\n  reason: r\n", 1, "expected a mapping with an 'ignore' list"),
    ],
)
def test_malformed_ignore_file_is_one_line_error_with_file_and_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = ignore_file(tmp_path, body)
    with pytest.raises(SuppressionError) as info:
        load_suppressions([path])
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:{line}: ")
    assert message in text
    assert info.value.file == str(path) and info.value.line == line


@pytest.mark.parametrize(("body", "message"), [("", "empty"), ("# nothing yet\n", "empty")])
def test_empty_ignore_file_is_an_error_naming_the_file(tmp_path: Path, body: str, message: str) -> None:
    path = ignore_file(tmp_path, body)
    with pytest.raises(SuppressionError, match=re.escape(f"{path}: {message}")):
        load_suppressions([path])


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(SuppressionError, match=re.escape(f"{tmp_path / 'missing.yaml'}: cannot read")):
        load_suppressions([tmp_path / "missing.yaml"])
    with pytest.raises(SuppressionError, match=re.escape(f"{tmp_path}: not a regular file")):
        load_suppressions([tmp_path])
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"ignore:\n  - id: CVE-1\n    reason: caf\xe9\n")
    with pytest.raises(SuppressionError, match=re.escape(f"{latin1}:3: not UTF-8 text")):
        load_suppressions([latin1])


def test_readme_example_is_a_valid_ignore_file(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Suppressing findings", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    path = ignore_file(tmp_path, example.group(1))
    entries = load_suppressions([path]).entries
    assert entries, "the README example has entries"
    assert all(e.reason for e in entries)
    assert any(e.expires is not None for e in entries)
