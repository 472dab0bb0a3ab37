"""The vulnerability database: built from all the public test data, queried, replaced atomically."""

from __future__ import annotations

import gzip
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from threatstryker.vulndb import build as build_mod
from threatstryker.vulndb.advisory import Advisory, AdvisoryError
from threatstryker.vulndb.build import BuildError, BuildReport, build_database, detect_kind
from threatstryker.vulndb.feeds import alpine, debian, kev
from threatstryker.vulndb.store import SCHEMA_VERSION, SchemaMismatch, VulnDB, VulnDBError


def _epss(path: Path) -> Path:
    lines = [
        "#model_version:v2025.03.14,score_date:2025-03-15T00:00:00+0000",
        "cve,epss,percentile",
        "CVE-2021-44228,0.94358,0.99957",
        "CVE-2023-37276,0.00123,0.45000",
        "CVE-BAD,0.5,0.5",
    ]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def _count(items: Iterator[object]) -> tuple[int, int]:
    ok = err = 0
    for item in items:
        if isinstance(item, AdvisoryError):
            err += 1
        else:
            ok += 1
    return ok, err


@pytest.fixture(scope="module")
def built(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport, float]:
    tmp = tmp_path_factory.mktemp("vulndb")
    sources = [
        shared_data / "osv",
        shared_data / "debian-tracker",
        shared_data / "alpine-secdb",
        shared_data / "kev",
        _epss(tmp / "epss_scores-2025-03-15.csv.gz"),
    ]
    started = time.monotonic()
    report = build_database(sources, tmp / "vuln.db")
    elapsed = time.monotonic() - started
    print(f"\nbuilt the database from all shared data in {elapsed:.1f} s, {report.size / 1e6:.1f} MB")
    return tmp / "vuln.db", report, elapsed


@pytest.fixture
def db(built: tuple[Path, BuildReport, float]) -> Iterator[VulnDB]:
    with VulnDB.open(built[0]) as handle:
        yield handle


def test_counts_match_readers(built: tuple[Path, BuildReport, float], db: VulnDB, shared_data: Path) -> None:
    _, report, elapsed = built
    assert elapsed < 60
    assert set(report.feeds) == {"osv", "debian", "alpine", "kev", "epss"}
    for name, reader, path in (
        ("debian", debian.iter_records, shared_data / "debian-tracker"),
        ("alpine", alpine.iter_records, shared_data / "alpine-secdb"),
        ("kev", kev.iter_entries, shared_data / "kev"),
    ):
        ok, err = _count(reader(path))
        assert (report.feeds[name].records, report.feeds[name].errors) == (ok, err), name
    # OSV: one record (or one error) per record file; re-reading it all would double the test time
    files = [p for p in (shared_data / "osv").rglob("*") if p.suffix in (".json", ".yaml", ".yml")]
    osv_rep = report.feeds["osv"]
    assert osv_rep.records + osv_rep.errors + osv_rep.duplicates == len(files)
    assert (report.feeds["epss"].records, report.feeds["epss"].errors) == (2, 1)
    assert report.feeds["epss"].messages and "CVE-BAD" in report.feeds["epss"].messages[0]

    status = db.status()
    assert status.schema_version == SCHEMA_VERSION
    assert {f.name: (f.records, f.errors) for f in status.feeds} == {
        n: (r.records, r.errors) for n, r in report.feeds.items()
    }
    counts = dict(db.connection.execute("SELECT feed, COUNT(*) FROM advisories GROUP BY feed").fetchall())
    assert counts == {n: report.feeds[n].records for n in ("osv", "debian", "alpine")}
    assert all(f.age() is not None and f.age() >= 0 for f in status.feeds)  # type: ignore[operator]
    assert status.size == report.size > 0


def test_go_module(db: VulnDB) -> None:
    rows = db.advisories_for("Go", None, "github.com/gin-gonic/gin")
    row = next(r for r in rows if r.advisory_id == "GO-2020-0001")
    assert row.feed == "osv"
    assert "log line injection" in row.summary.lower()
    assert set(row.aliases) == {"CVE-2020-36567", "GHSA-6vm3-jj99-7229"}
    assert row.affected.ranges and row.affected.ranges[0].type == "SEMVER"
    assert row.affected.ranges[0].fixed == ("1.6.0",)


def test_debian_dsa(db: VulnDB) -> None:
    rows = db.advisories_for("Debian", "11", "xorg-server")
    row = next(r for r in rows if r.advisory_id == "DSA-5380-1")
    assert row.feed == "debian"
    assert row.aliases == ("CVE-2023-1393",)
    assert row.affected.ecosystem == "Debian:11"
    assert row.affected.ranges[0].fixed == ("2:1.20.11-1+deb11u6",)
    assert row.affected.fix_state == "fixed"
    # the same id from OSV and from the tracker: two rows, told apart by feed
    assert db.feeds_of("DSA-3029-1") == ["debian", "osv"]


def test_alpine_openssl(db: VulnDB) -> None:
    rows = {r.advisory_id: r for r in db.advisories_for("Alpine", "v3.11", "openssl")}
    assert rows["CVE-2019-1543"].affected.ranges[0].fixed == ("1.1.1b-r1",)
    assert all(r.feed == "alpine" for r in rows.values())
    assert db.advisories_for("Alpine", "v3.11", "no-such-package") == []


def test_aliases_kev_epss(db: VulnDB) -> None:
    assert {"PYSEC-2023-120", "GHSA-45c4-8wx5-qw6w"} <= set(db.aliases_of("CVE-2023-37276"))
    assert "CVE-2023-37276" in db.aliases_of("PYSEC-2023-120")
    assert db.aliases_of("PYSEC-2023-120", rounds=1) == ["CVE-2023-37276", "GHSA-45c4-8wx5-qw6w"]
    assert {"DSA-5020-1", "GHSA-jfh8-c2jp-5v3q"} <= set(db.aliases_of("CVE-2021-44228"))
    entry = db.kev("cve-2021-44228")
    assert entry is not None and entry.known_ransomware and entry.vendor == "Apache"
    assert db.kev("CVE-1999-99999") is None
    score = db.epss("CVE-2021-44228")
    assert score is not None and score.probability == pytest.approx(0.94358)
    assert score.score_date is not None and score.score_date.year == 2025


def test_pypi_names_normalised(db: VulnDB) -> None:
    assert any(r.advisory_id == "PYSEC-2023-120" for r in db.advisories_for("PyPI", "", "AIOHTTP"))


def test_withdrawn_kept_but_not_matched(db: VulnDB) -> None:
    (withdrawn,) = db.connection.execute(
        "SELECT withdrawn FROM advisories WHERE id = 'RUSTSEC-2020-0053' AND feed = 'osv'"
    ).fetchone()
    assert withdrawn.startswith("2021-04-19")
    assert not any(r.advisory_id == "RUSTSEC-2020-0053" for r in db.advisories_for("crates.io", None, "dirs"))
    rows = db.advisories_for("crates.io", None, "dirs", include_withdrawn=True)
    assert any(r.advisory_id == "RUSTSEC-2020-0053" and r.withdrawn is not None for r in rows)


def test_read_only(db: VulnDB) -> None:
    with pytest.raises(sqlite3.OperationalError):
        db.connection.execute("DELETE FROM kev")


def test_read_only_even_without_pragma(built: tuple[Path, BuildReport, float]) -> None:
    with VulnDB.open(built[0]) as handle:
        handle.connection.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            handle.connection.execute("DELETE FROM kev")


def test_detect_kind(shared_data: Path, tmp_path: Path) -> None:
    assert detect_kind(shared_data / "osv") == "osv"
    assert detect_kind(shared_data / "osv" / "PyPI") == "osv"
    assert detect_kind(shared_data / "debian-tracker") == "debian"
    assert detect_kind(shared_data / "alpine-secdb") == "alpine"
    assert detect_kind(shared_data / "kev") == "kev"
    assert detect_kind(shared_data / "kev" / "known_exploited_vulnerabilities.csv") == "kev"
    assert detect_kind(_epss(tmp_path / "scores.csv.gz")) == "epss"
    assert detect_kind(shared_data) is None
    assert detect_kind(shared_data / "yara") is None


# -- atomic replacement, errors ------------------------------------------------------------------


def _small_db(shared_data: Path, dest: Path) -> bytes:
    build_database([f"kev={shared_data / 'kev'}"], dest)
    return dest.read_bytes()


def test_reader_raising_midway_keeps_old_db(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "vuln.db"
    before = _small_db(shared_data, dest)

    def exploding(path: Path) -> Iterator[Advisory | AdvisoryError]:
        yield from debian.iter_records(path / "DSA")  # some real records are written first
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(build_mod.ADVISORY_READERS, "debian", exploding)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_database([f"kev={shared_data / 'kev'}", shared_data / "debian-tracker"], dest)
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["vuln.db"]  # no temporary file left


def test_interrupt_keeps_old_db(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "vuln.db"
    before = _small_db(shared_data, dest)

    def interrupted(path: Path) -> Iterator[Advisory | AdvisoryError]:
        yield from alpine.iter_records(path / "v3.3")
        raise KeyboardInterrupt

    monkeypatch.setitem(build_mod.ADVISORY_READERS, "alpine", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_database([shared_data / "alpine-secdb"], dest)
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["vuln.db"]


def test_unreadable_source_keeps_old_db(shared_data: Path, tmp_path: Path) -> None:
    dest = tmp_path / "vuln.db"
    before = _small_db(shared_data, dest)
    broken = tmp_path / "known_exploited_vulnerabilities.json"
    broken.write_text("{not json")
    with pytest.raises(BuildError, match="feed kev gave no records"):
        build_database([broken], dest)
    with pytest.raises(BuildError, match="does not exist"):
        build_database([tmp_path / "missing"], dest)
    with pytest.raises(BuildError, match="unknown feed kind"):
        build_database(["nope=/x"], dest)
    assert dest.read_bytes() == before


def test_reader_errors_are_counted_not_fatal(tmp_path: Path, shared_data: Path) -> None:
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    (osv_dir / "GO-2020-0001.json").write_bytes((shared_data / "osv/Go/GO-2020-0001.json").read_bytes())
    (osv_dir / "bad.json").write_text('{"id": "X-1", "modified": "not a time"}')
    report = build_database([f"osv={osv_dir}"], tmp_path / "vuln.db")
    assert (report.feeds["osv"].records, report.feeds["osv"].errors) == (1, 1)
    assert "X-1" in report.feeds["osv"].messages[0]


def test_feed_filter_and_root_expansion(shared_data: Path, tmp_path: Path) -> None:
    report = build_database([shared_data], tmp_path / "vuln.db", feeds={"kev"})
    assert set(report.feeds) == {"kev"}
    assert str(shared_data / "yara") in report.skipped
    with pytest.raises(BuildError, match="unknown feed"):
        build_database([shared_data], tmp_path / "vuln.db", feeds={"nope"})


def test_schema_mismatch_and_bad_files(shared_data: Path, tmp_path: Path) -> None:
    dest = tmp_path / "vuln.db"
    _small_db(shared_data, dest)
    conn = sqlite3.connect(dest)
    with conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(SchemaMismatch, match="threatstryker db update") as info:
        VulnDB.open(dest)
    assert "\n" not in str(info.value) and "999" in str(info.value)
    with pytest.raises(VulnDBError, match="no vulnerability database"):
        VulnDB.open(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_text("hello")
    with pytest.raises(VulnDBError, match="threatstryker db update"):
        VulnDB.open(junk)
