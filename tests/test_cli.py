"""The command line, run as a real subprocess: formats, output files, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "threatstryker.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def test_json_to_stdout_and_file(host_rootfs: Path, tmp_path: Path) -> None:
    res = run("sbom", f"rootfs:{host_rootfs}", "-f", "json", "-q")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["target"]["scheme"] == "rootfs"
    assert doc["summary"]["by_ecosystem"]["deb"] > 50
    out = tmp_path / "o.json"
    res = run("sbom", f"rootfs:{host_rootfs}", "-f", "json", "-o", str(out), "-q")
    assert res.returncode == 0 and res.stdout == ""
    assert json.loads(out.read_text())["summary"] == {**doc["summary"], "duration_s": json.loads(
        out.read_text())["summary"]["duration_s"]}


def test_cyclonedx_and_spdx_validated(host_rootfs: Path) -> None:
    res = run("sbom", str(host_rootfs), "-f", "cyclonedx-json", "--validate", "-q")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["specVersion"] == "1.6"
    res = run("sbom", str(host_rootfs), "-f", "spdx-json", "--validate", "-q")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["spdxVersion"] == "SPDX-2.3"


def test_table_and_scan_summary(host_rootfs: Path) -> None:
    res = run("sbom", str(host_rootfs))
    assert res.returncode == 0
    assert "Summary" in res.stdout and "deb" in res.stdout and "debian-12" in res.stdout
    res = run("scan", f"rootfs:{host_rootfs}", "--scanners", "sbom", "-f", "json")
    assert res.returncode == 0
    assert json.loads(res.stdout)["sbom"]["summary"]["packages"] > 50


@pytest.mark.parametrize("target,needle", [
    ("/nonexistent/path", "no such file or directory"),
    ("docker-archive:/etc/hostname", "not a readable tar archive"),
    ("container:notapid", "container:PID"),
    ("container:999999999", "no process"),
])
def test_unopenable_target_exits_2_with_one_line(target: str, needle: str) -> None:
    res = run("sbom", target, "-q")
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert needle in lines[0]


def test_unknown_cataloger_and_scanner_are_errors(host_rootfs: Path) -> None:
    res = run("sbom", str(host_rootfs), "--catalogers", "nope")
    assert res.returncode == 2 and "unknown cataloger" in res.stderr
    res = run("scan", str(host_rootfs), "--scanners", "nope")
    assert res.returncode == 2 and "unknown scanner" in res.stderr


def test_catalogers_listing_names_every_cataloger() -> None:
    from threatstryker.sbom.catalogers import all_catalogers

    res = run("catalogers")
    assert res.returncode == 0
    for cat in all_catalogers():
        assert cat.name in res.stdout


def test_db_update_and_status(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    res = run("db", "update", f"kev={shared_data / 'kev'}", f"alpine={shared_data / 'alpine-secdb'}",
              "--db", str(db))
    assert res.returncode == 0, res.stderr
    assert db.is_file() and "wrote" in res.stderr
    res = run("db", "status", "--db", str(db), "--json", "--max-age", "100000")
    assert res.returncode == 0, res.stderr
    status = json.loads(res.stdout)
    feeds = {f["name"]: f for f in status["feeds"]}
    assert set(feeds) == {"kev", "alpine"} and feeds["kev"]["records"] > 1000
    assert not any(f["stale"] for f in feeds.values())
    res = run("db", "status", "--db", str(db), "--max-age", "0.000001")
    assert res.returncode == 0 and "warning: feed kev is older than" in res.stderr
    before = db.read_bytes()
    res = run("db", "update", f"epss={tmp_path / 'missing.csv'}", "--db", str(db))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == before  # a failed update leaves the previous database intact
    res = run("db", "status", "--db", str(tmp_path / "none.db"))
    assert res.returncode == 2 and "threatstryker db update" in res.stderr


# ---------------------------------------------------------------------------------------------
# db update with downloads (a real HTTP server on 127.0.0.1, the CLI as a subprocess)


def test_db_update_downloads_then_status(shared_data: Path, tmp_path: Path) -> None:
    from tests.vulndb.test_fetch import FeedServer, osv_zip

    srv = FeedServer()
    try:
        body, count = osv_zip(shared_data)
        srv.file("/Go/all.zip", body)
        kev = (shared_data / "kev" / "known_exploited_vulnerabilities.json").read_bytes()
        srv.file("/kev.json", kev)
        db, cache = tmp_path / "tmp.db", tmp_path / "cache"
        where = ["--db", str(db), "--cache", str(cache)]
        res = run("db", "update", "--from", srv.url("/Go/all.zip"), "--from", srv.url("/kev.json"), *where)
        assert res.returncode == 0, res.stderr
        assert "wrote" in res.stderr and "downloaded" in res.stderr
        res = run("db", "status", "--db", str(db), "--json", "--max-age", "1")
        assert res.returncode == 0, res.stderr
        feeds = {f["name"]: f for f in json.loads(res.stdout)["feeds"]}
        assert set(feeds) == {"osv", "kev"} and not any(f["stale"] for f in feeds.values())
        assert feeds["osv"]["records"] == count
        assert feeds["kev"]["records"] == len(json.loads(kev)["vulnerabilities"])

        # again, with positional sources: both answered 304 from the cache
        res = run("db", "update", srv.url("/Go/all.zip"), srv.url("/kev.json"), *where)
        assert res.returncode == 0, res.stderr
        assert res.stderr.count("not-modified") == 2
        assert "If-None-Match" in srv.hits("/Go/all.zip")[-1]

        # a new body cut off half way: the update fails in one line, the cache and the database survive
        cached = next(cache.rglob("all.zip"))
        before_db, before_zip = db.read_bytes(), cached.read_bytes()
        srv.drop("/Go/all.zip", body[::-1])
        res = run("db", "update", "--from", srv.url("/Go/all.zip"), "--from", srv.url("/kev.json"), *where)
        assert res.returncode == 2
        assert res.stderr.startswith(f"error: cannot download {srv.url('/Go/all.zip')}: ")
        assert len(res.stderr.strip().splitlines()) == 1
        assert db.read_bytes() == before_db and cached.read_bytes() == before_zip
    finally:
        srv.close()


def test_db_update_offline_and_refused_sources(shared_data: Path, tmp_path: Path) -> None:
    db, cache = tmp_path / "vuln.db", tmp_path / "cache"
    where = ["--db", str(db), "--cache", str(cache)]
    # no source: the default set is wanted; offline with an empty cache nothing can be had, nothing is fetched
    res = run("db", "update", "--offline", *where)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "offline, and there is no cached copy" in res.stderr and "osv-vulnerabilities" in res.stderr
    # a named feed from the cache alone
    copy = cache / "www.cisa.gov" / "sites" / "default" / "files" / "feeds" / "known_exploited_vulnerabilities.json"
    copy.parent.mkdir(parents=True)
    copy.write_bytes((shared_data / "kev" / "known_exploited_vulnerabilities.json").read_bytes())
    res = run("db", "update", "--offline", "--feeds", "kev", *where)
    assert res.returncode == 0, res.stderr
    assert "cached" in res.stderr and "wrote" in res.stderr
    before = db.read_bytes()
    for args, needle in (
        (["--offline", "--from", "http://127.0.0.1:9/Go/all.zip"], "--offline: refusing to download"),
        (["--from", "ftp://example.org/all.zip"], "unsupported URL scheme ftp://"),
        (["--feeds", "kev,nope"], "unknown feed 'nope'"),
        (["--from", "http://127.0.0.1:9/Go/all.zip"], "cannot download http://127.0.0.1:9/Go/all.zip: "),
    ):
        res = run("db", "update", *args, *where)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, (args, res.stderr)
        assert needle in res.stderr, (args, res.stderr)
    assert db.read_bytes() == before
