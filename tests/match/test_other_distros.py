"""rpm and apk distros whose OSV feeds the public data set does not sample (Rocky Linux, Red Hat, Wolfi):
records written here in the OSV schema those feeds publish, matched through the same path as the real ones."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from threatstryker.match.matcher import match_packages
from threatstryker.model.package import Distro, Package
from threatstryker.vulndb.build import build_database
from threatstryker.vulndb.store import VulnDB


def record(rid: str, ecosystem: str, name: str, fixed: str, aliases: list[str]) -> dict[str, object]:
    return {
        "schema_version": "1.6.0",
        "id": rid,
        "modified": "2024-06-01T00:00:00Z",
        "published": "2024-05-01T00:00:00Z",
        "aliases": aliases,
        "summary": f"Important: {name} security update",
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
        }],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
    }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnDB]:
    tmp = tmp_path_factory.mktemp("distros")
    osv = tmp / "osv"
    osv.mkdir()
    records = [
        record("RLSA-2024:3501", "Rocky Linux:9", "openssl", "1:3.0.7-27.el9", ["CVE-2023-5678"]),
        record("RHSA-2024:2447", "Red Hat:enterprise_linux:9::baseos", "openssl-libs", "1:3.0.7-27.el9",
               ["CVE-2023-5678"]),
        record("CGA-2024-0001", "Wolfi", "busybox", "1.36.1-r7", ["CVE-2023-42363"]),
    ]
    for r in records:
        (osv / f"{r['id']}.json").write_text(json.dumps(r))
    build_database([f"osv={osv}"], tmp / "vuln.db")
    with VulnDB.open(tmp / "vuln.db") as handle:
        yield handle


def rpm(name: str, version: str, distro: str) -> Package:
    return Package("rpm", name, version, f"pkg:rpm/{distro}/{name}@{version}?distro={distro}-9.3", "rpm",
                   source_name="openssl", source_version=version)


def test_rocky_matches_by_source_rpm_with_epoch(db: VulnDB) -> None:
    old = match_packages([rpm("openssl-libs", "1:3.0.7-25.el9_3", "rocky")], Distro("rocky", "9.3"), db)
    f = next(f for f in old.findings if f.id == "CVE-2023-5678")
    assert "RLSA-2024:3501" in f.aliases and f.fix.versions == ("1:3.0.7-27.el9",)
    assert {m.via for m in f.matched_by} == {"source-package"} and f.matched_by[0].scheme == "rpm"
    assert match_packages([rpm("openssl-libs", "1:3.0.7-27.el9", "rocky")], Distro("rocky", "9.3"), db).findings == []
    # no epoch means epoch 0, which sorts below epoch 1
    assert match_packages([rpm("openssl-libs", "3.0.9-1.el9", "rocky")], Distro("rocky", "9.3"), db).findings


def test_rhel_streams_matched_by_prefix_and_binary_name(db: VulnDB) -> None:
    result = match_packages([rpm("openssl-libs", "1:3.0.7-25.el9_3", "redhat")], Distro("rhel", "9.3"), db)
    f = next(f for f in result.findings if f.id == "CVE-2023-5678")
    assert f.matched_by[0].ecosystem == "Red Hat:enterprise_linux:9::baseos"
    assert f.matched_by[0].via == "package"
    assert "RLSA-2024:3501" not in f.aliases  # Rocky's advisory is not RHEL's
    assert match_packages([rpm("openssl-libs", "1:3.0.7-25.el8", "redhat")], Distro("rhel", "8.9"), db).findings == []


def test_wolfi_apk(db: VulnDB) -> None:
    def busybox(version: str) -> Package:
        return Package("apk", "busybox", version, f"pkg:apk/wolfi/busybox@{version}?distro=wolfi-20230201", "apk",
                       source_name="busybox", source_version=version)

    wolfi = Distro("wolfi", "20230201")
    assert {f.id for f in match_packages([busybox("1.36.1-r6")], wolfi, db).findings} == {"CVE-2023-42363"}
    assert match_packages([busybox("1.36.1-r7")], wolfi, db).findings == []
    assert match_packages([busybox("1.36.1-r6")], Distro("alpine", "3.19.0"), db).findings == []
