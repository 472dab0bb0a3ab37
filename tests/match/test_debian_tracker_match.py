"""Fix states from the Debian security tracker's JSON export, merged with the DSA list for the same CVE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.vulndb.test_debian_json import EXPORT
from threatstryker.match.matcher import MatchOptions, match_packages
from threatstryker.model.package import Distro, Package
from threatstryker.sbom.cataloger import purl
from threatstryker.vulndb.build import build_database
from threatstryker.vulndb.store import VulnDB

#: The tracker's entry for a CVE that DSA-5365-1 (in the real DSA list) also fixes, in the export's format.
CURL_2023_23916 = {
    "curl": {
        "CVE-2023-23916": {
            "description": "An allocation of resources without limits or throttling vulnerability ...",
            "scope": "remote",
            "releases": {
                "bullseye": {
                    "status": "resolved",
                    "repositories": {"bullseye": "7.74.0-1.3+deb11u7"},
                    "fixed_version": "7.74.0-1.3+deb11u7",
                    "urgency": "not yet assigned",
                },
            },
        }
    }
}


@pytest.fixture(scope="module")
def db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnDB]:
    tmp = tmp_path_factory.mktemp("tracker")
    (tmp / "json").write_text(json.dumps({**EXPORT, **CURL_2023_23916}))
    build_database([f"debian-tracker={tmp / 'json'}", shared_data / "debian-tracker"], tmp / "vuln.db")
    with VulnDB.open(tmp / "vuln.db") as handle:
        yield handle


def deb(name: str, version: str, source: str, release: str) -> Package:
    return Package("deb", name, version, purl("deb", name, version, "debian", {"distro": f"debian-{release}"}),
                   "dpkg", source_name=source, source_version=version)


def test_ignored_is_wont_fix_and_no_dsa_is_not_fixed(db: VulnDB) -> None:
    today = MatchOptions(today=date(2026, 12, 1))
    bookworm = match_packages([deb("zlib1g", "1:1.2.13.dfsg-1", "zlib", "12")], Distro("debian", "12"), db, today)
    f = next(f for f in bookworm.findings if f.id == "CVE-2023-45853")
    assert f.fix.state == "wont_fix"
    assert f.matched_by[0].method == "status" and "[ignored]" in f.matched_by[0].range
    bullseye = match_packages([deb("zlib1g", "1:1.2.11.dfsg-2+deb11u2", "zlib", "11")], Distro("debian", "11"), db,
                              MatchOptions(today=date(2026, 1, 1)))
    f = next(f for f in bullseye.findings if f.id == "CVE-2023-45853")
    assert f.fix.state == "not_fixed"
    # once bullseye's LTS has ended, an unfixed issue there will never be fixed
    later = match_packages([deb("zlib1g", "1:1.2.11.dfsg-2+deb11u2", "zlib", "11")], Distro("debian", "11"), db,
                           MatchOptions(today=date(2026, 12, 1)))
    assert next(f for f in later.findings if f.id == "CVE-2023-45853").fix.state == "eol"
    # --ignore-unfixed drops won't-fix findings too
    dropped = match_packages([deb("zlib1g", "1:1.2.13.dfsg-1", "zlib", "12")], Distro("debian", "12"), db,
                             MatchOptions(today=date(2026, 12, 1), ignore_unfixed=True))
    assert "CVE-2023-45853" not in {f.id for f in dropped.findings}


def test_tracker_cve_and_dsa_merge_into_one_finding(db: VulnDB) -> None:
    pkg = deb("libcurl4", "7.74.0-1.3+deb11u3", "curl", "11")
    result = match_packages([pkg], Distro("debian", "11"), db, MatchOptions(today=date(2026, 1, 1)))
    by_id = {f.id: f for f in result.findings}
    assert len(by_id) == len(result.findings)  # one finding per CVE, never two
    f = by_id["CVE-2023-23916"]
    records = {(m.feed, m.record) for m in f.matched_by}
    assert records == {("debian", "DSA-5365-1"), ("debian-tracker", "CVE-2023-23916")}
    assert f.aliases == ("DSA-5365-1",)
    assert f.fix.versions == ("7.74.0-1.3+deb11u7",)
    # the tracker says bullseye's curl was never affected by CVE-2024-2379 (fixed_version "0")
    assert "CVE-2024-2379" not in by_id
    assert "CVE-2023-23916" not in {
        f.id for f in match_packages([deb("libcurl4", "7.74.0-1.3+deb11u7", "curl", "11")], Distro("debian", "11"),
                                     db, MatchOptions(today=date(2026, 1, 1))).findings
    }
