"""One advisory id from several sources of one feed: affected packages are merged, never dropped."""

from __future__ import annotations

from pathlib import Path

from threatstryker.vulndb.build import build_database
from threatstryker.vulndb.store import VulnDB


def test_same_cve_in_two_alpine_releases_keeps_both(shared_data: Path, tmp_path: Path) -> None:
    secdb = shared_data / "alpine-secdb"
    sources = [f"alpine={secdb / 'v3.10' / 'main.yaml'}", f"alpine={secdb / 'v3.11' / 'main.yaml'}"]
    build_database(sources, tmp_path / "two.db")
    build_database([f"alpine={secdb / 'v3.10' / 'main.yaml'}"], tmp_path / "v310.db")
    build_database([f"alpine={secdb / 'v3.11' / 'main.yaml'}"], tmp_path / "v311.db")

    def rows(db_path: Path) -> set[tuple[str, str, str]]:
        with VulnDB.open(db_path) as db:
            return set(db.connection.execute("SELECT advisory_id, release, package FROM affected").fetchall())

    both, v310, v311 = rows(tmp_path / "two.db"), rows(tmp_path / "v310.db"), rows(tmp_path / "v311.db")
    assert both == v310 | v311
    shared_ids = {r[0] for r in v310} & {r[0] for r in v311}
    assert len(shared_ids) > 500  # most CVEs are listed for both releases
    with VulnDB.open(tmp_path / "two.db") as db:
        found = {r.affected.ecosystem_release for r in db.advisories_for("Alpine", "v3.10", "openssl")} | {
            r.affected.ecosystem_release for r in db.advisories_for("Alpine", "v3.11", "openssl")
        }
    assert found == {"v3.10", "v3.11"}
