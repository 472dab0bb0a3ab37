"""OSV records -> Advisory: every real record of the public data set, an all.zip, and bad input."""

from __future__ import annotations

import json
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from threatstryker.vulndb.advisory import Advisory, AdvisoryError, Event, Severity, normalise_name, split_ecosystem
from threatstryker.vulndb.feeds.osv import iter_records, load_record, parse_record
from threatstryker.vulndb.versions import InvalidVersion, parse

ECOSYSTEMS = ["Go", "crates.io", "PyPI", "npm", "Maven", "Ubuntu", "Debian"]


@pytest.fixture(scope="module")
def osv_dir(shared_data: Path) -> Path:
    path = shared_data / "osv"
    if not path.is_dir():
        pytest.skip(f"no OSV data under {shared_data}")
    return path


PARSE_SECONDS: dict[str, float] = {}


@pytest.fixture(scope="module")
def records(osv_dir: Path) -> dict[str, list[Advisory | AdvisoryError]]:
    out = {}
    for eco in ECOSYSTEMS:
        if (osv_dir / eco).is_dir():
            start = time.perf_counter()
            out[eco] = list(iter_records(osv_dir / eco))
            PARSE_SECONDS[eco] = time.perf_counter() - start
    return out


def _advisories(records: dict[str, list[Advisory | AdvisoryError]], eco: str) -> dict[str, Advisory]:
    return {r.id: r for r in records[eco] if isinstance(r, Advisory)}


def _record_files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", ".yaml", ".yml")]


# ---------------------------------------------------------------------------------------------
# the real data


@pytest.mark.parametrize("eco", ECOSYSTEMS)
def test_every_record_parses(records, osv_dir: Path, eco: str) -> None:
    if eco not in records:
        pytest.skip(f"no osv/{eco} in the data set")
    results = records[eco]
    errors = [str(r) for r in results if isinstance(r, AdvisoryError)]
    assert errors == []
    files = _record_files(osv_dir / eco)
    assert len(results) == len(files) > 0
    for adv in results:
        assert isinstance(adv, Advisory)
        assert Path(adv.source).stem == adv.id  # upstream names every file after its record
        assert adv.modified is not None and adv.modified.tzinfo is not None
        assert adv.details == adv.details.strip()
        assert adv.affected, adv.id
        for aff in adv.affected:
            assert aff.ecosystem_base in {eco, "RubyGems"} or aff.ecosystem.startswith(eco), aff.ecosystem
            assert aff.fix_state in {"fixed", "not_fixed", "unknown"}
            for rng in aff.ranges:
                assert rng.type in {"ECOSYSTEM", "SEMVER", "GIT"}
                assert all(e.kind in {"introduced", "fixed", "last_affected", "limit"} for e in rng.events)
            json.dumps([aff.ecosystem_specific, aff.database_specific])  # raw objects stay JSON values
        json.dumps(adv.database_specific)


def test_whole_data_set_is_fast(records) -> None:
    count = sum(len(results) for results in records.values())
    elapsed = sum(PARSE_SECONDS.values())
    assert count > 0
    assert elapsed < 10, f"{count} records took {elapsed:.1f}s"


def test_go_record(records) -> None:
    adv = _advisories(records, "Go")["GO-2022-0969"]
    assert adv.aliases == ("CVE-2022-27664", "GHSA-69cg-p879-7622")
    assert adv.summary == "Denial of service in net/http and golang.org/x/net/http2"
    assert adv.published == datetime(2022, 9, 12, 20, 23, 6, tzinfo=UTC)
    assert adv.modified == datetime(1, 1, 1, tzinfo=UTC)  # the Go DB writes the zero time
    by_name = {a.name: a for a in adv.affected}
    assert set(by_name) == {"stdlib", "golang.org/x/net"}
    std = by_name["stdlib"]
    assert (std.ecosystem, std.ecosystem_base, std.ecosystem_release) == ("Go", "Go", None)
    assert std.ranges[0].type == "SEMVER"
    assert std.ranges[0].events == (
        Event("introduced", "0"),
        Event("fixed", "1.18.6"),
        Event("introduced", "1.19.0-0"),
        Event("fixed", "1.19.1"),
    )
    assert by_name["golang.org/x/net"].ranges[0].fixed == ("0.0.0-20220906165146-f3363e06e74c",)
    assert std.fix_state == "fixed"
    assert std.ecosystem_specific["imports"][0]["path"] == "net/http"


def test_go_fixed_versions_are_go_versions(records) -> None:
    bad = []
    for adv in _advisories(records, "Go").values():
        for aff in adv.affected:
            for rng in aff.ranges:
                for value in rng.fixed:
                    try:
                        parse("go", value)
                    except InvalidVersion:
                        bad.append((adv.id, value))
    assert bad == []


def test_rustsec_records(records) -> None:
    advs = _advisories(records, "crates.io")
    adv = advs["RUSTSEC-2021-0063"]
    assert adv.aliases == ("CVE-2021-38186", "GHSA-6wj2-g87r-pm62")
    assert adv.database_specific == {"license": "CC0-1.0"}
    withdrawn = advs["RUSTSEC-2020-0053"]
    assert withdrawn.withdrawn == datetime(2021, 4, 19, 12, 0, tzinfo=UTC)
    assert withdrawn.is_withdrawn
    (aff,) = withdrawn.affected
    assert (aff.name, aff.purl) == ("dirs", "pkg:cargo/dirs")
    assert aff.ranges[0].events == (Event("introduced", "0.0.0-0"),)
    assert aff.fix_state == "not_fixed"
    assert aff.database_specific["informational"] == "unmaintained"
    assert sum(a.is_withdrawn for a in advs.values()) > 1


def test_pysec_yaml_records(records) -> None:
    advs = _advisories(records, "PyPI")
    adv = advs["PYSEC-2022-42969"]
    assert adv.aliases == ("CVE-2022-42969", "GHSA-w596-4wvx-j9j6")
    assert adv.details.startswith("The py library through 1.11.0")
    (aff,) = adv.affected
    assert aff.ranges[0].type == "ECOSYSTEM"
    assert aff.ranges[0].events == (Event("introduced", "0"), Event("last_affected", "1.11.0"))
    assert aff.fix_state == "not_fixed"
    assert aff.versions[0] == "0.8.0-alpha2" and aff.versions[-1] == "1.11.0"

    (jw,) = advs["PYSEC-2020-341"].affected  # name "jw.util", PEP 503 -> "jw-util"
    assert (jw.raw_name, jw.name, jw.purl) == ("jw.util", "jw-util", "pkg:pypi/jw-util")
    assert jw.ranges[0].events == (Event("introduced", "0"), Event("fixed", "2.3"))

    (splash,) = advs["PYSEC-2021-364"].affected  # a GIT range before the ECOSYSTEM one
    git, eco = splash.ranges
    assert (git.type, git.repo) == ("GIT", "https://github.com/scrapy-plugins/scrapy-splash")
    assert git.fixed == ("2b253e57fe64ec575079c8cdc99fe2013502ea31",)
    assert eco.events == (Event("introduced", "0"), Event("fixed", "0.8.0"))
    assert "0.2" in splash.versions  # quoted in the YAML, so still a string

    hyper = advs["PYSEC-2022-43055"]  # unquoted YAML timestamps
    assert hyper.withdrawn == datetime(2023, 8, 22, 6, 18, tzinfo=UTC)
    assert hyper.modified == datetime(2023, 8, 17, 3, 22, 31, 453589, tzinfo=UTC)
    assert advs["PYSEC-2022-15"].withdrawn == datetime(2022, 2, 22, 16, 15, 7, tzinfo=UTC)
    assert advs["PYSEC-2024-55"].published is None  # some PyPA records have no published time


def test_ghsa_npm_record(records) -> None:
    adv = _advisories(records, "npm")["GHSA-29mw-wpgm-hmr9"]
    assert adv.severity == (
        Severity("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"),
        Severity("DATABASE_SPECIFIC", "MODERATE"),
    )
    assert adv.cwe_ids == ("CWE-1333", "CWE-400")
    states = {a.name: a.fix_state for a in adv.affected}
    assert states == {
        "lodash": "fixed",
        "lodash-es": "fixed",
        "lodash.trimend": "not_fixed",
        "lodash.trim": "not_fixed",
    }


def test_ghsa_maven_versions_only(records) -> None:
    adv = _advisories(records, "Maven")["GHSA-c4r9-r8fh-9vj2"]
    by_name = {a.name: a for a in adv.affected}
    snake = by_name["be.cylab:snakeyaml"]  # Maven names stay "group:artifact"
    assert snake.ranges == () and snake.versions == ("1.25.1",)
    assert snake.fix_state == "unknown"


def test_distro_records(records) -> None:
    usn = _advisories(records, "Ubuntu")["USN-2169-1"]
    assert usn.upstream == ("UBUNTU-CVE-2014-0472", "UBUNTU-CVE-2014-0473", "UBUNTU-CVE-2014-0474")
    aff = usn.affected[0]
    assert (aff.ecosystem_base, aff.ecosystem_release) == ("Ubuntu", "14.04:LTS")
    assert aff.name == "python-django"
    assert aff.ranges[0].fixed == ("1.6.1-2ubuntu0.1",)
    dsa = _advisories(records, "Debian")["DSA-3029-1"]
    (aff,) = dsa.affected
    assert (aff.ecosystem, aff.ecosystem_base, aff.ecosystem_release) == ("Debian:7", "Debian", "7")
    assert aff.ranges[0].fixed == ("1.2.1-2.2+wheezy3",)
    assert dsa.details.startswith("Antoine Delignat-Lavaud") and dsa.details.endswith("nginx packages.")


def test_all_zip(osv_dir: Path, tmp_path: Path) -> None:
    picks = [osv_dir / "Go" / "GO-2022-0969.json", osv_dir / "crates.io" / "RUSTSEC-2021-0063.json"]
    picks += sorted((osv_dir / "npm").glob("*.json"))[:3]
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in picks:
            zf.write(p, p.name)
        zf.writestr("README.txt", "not a record")
        zf.writestr("bad.json", "{not json")
    results = list(iter_records(archive))
    ids = [r.id for r in results if isinstance(r, Advisory)]
    assert ids == [p.stem for p in picks]
    errors = [r for r in results if isinstance(r, AdvisoryError)]
    assert len(errors) == 1 and "bad.json" in str(errors[0]) and "not valid JSON" in str(errors[0])
    assert results[0].source == f"{archive}!GO-2022-0969.json"


# ---------------------------------------------------------------------------------------------
# bad input: always an AdvisoryError naming the record, never another exception

GOOD = {
    "id": "TEST-1",
    "modified": "2024-01-02T03:04:05Z",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "Foo_Bar"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"}]}],
        }
    ],
}


def _with(**changes):
    data = json.loads(json.dumps(GOOD))
    data.update(changes)
    return data


def test_minimal_record() -> None:
    adv = parse_record(GOOD, "mem")
    assert adv.affected[0].name == "foo-bar"
    assert adv.affected[0].raw_name == "Foo_Bar"
    assert adv.modified == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert adv.source == "mem"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([1, 2], "record is a list"),
        ({"modified": "2024-01-01T00:00:00Z"}, "no string 'id'"),
        ({"id": 7}, "no string 'id'"),
        (_with(aliases="CVE-1"), "aliases"),
        (_with(modified="yesterday"), "modified"),
        (_with(modified=12), "modified"),
        (_with(summary=["x"]), "summary"),
        (_with(affected={"package": {}}), "'affected'"),
        (_with(affected=[{"package": {"ecosystem": "PyPI"}}]), "package.name"),
        (_with(affected=[{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{"type": "SEMVER"}]}]), "events"),
        (
            _with(
                affected=[
                    {
                        "package": {"ecosystem": "npm", "name": "x"},
                        "ranges": [{"type": "SEMVER", "events": [{"fixed": 1.10}]}],
                    }
                ]
            ),
            "float",
        ),
        (
            _with(
                affected=[
                    {
                        "package": {"ecosystem": "npm", "name": "x"},
                        "ranges": [{"type": "SEMVER", "events": [{"patched": "1"}]}],
                    }
                ]
            ),
            "unknown kind",
        ),
        (
            _with(
                affected=[
                    {
                        "package": {"ecosystem": "npm", "name": "x"},
                        "ranges": [{"type": "GIT", "events": [{"fixed": "abc"}]}],
                    }
                ]
            ),
            "without a repo",
        ),
        (_with(severity=[{"type": "CVSS_V3"}]), "severity"),
        (_with(references=[{"type": "WEB", "url": None}]), "references[0]"),
        (_with(database_specific=["x"]), "database_specific"),
    ],
)
def test_malformed_records(data, fragment: str) -> None:
    with pytest.raises(AdvisoryError) as info:
        parse_record(data, "src.json")
    message = str(info.value)
    assert fragment in message
    assert message.startswith("src.json")
    assert "\n" not in message
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        assert "TEST-1" in message


def test_undecodable_bytes() -> None:
    for raw, yaml_format in [
        (b"{", False),
        (b"\xff\xfe\x00garbage", False),
        (b"[" * 100_000, False),
        (b"a: [b", True),
        (b"--- {id: x}\n--- {id: y}\n", True),
        (b"- 1\n- 2\n", True),
    ]:
        with pytest.raises(AdvisoryError):
            load_record(raw, "x", yaml_format=yaml_format)


def test_yaml_alias_bomb_is_bounded() -> None:
    lines = ["id: BOMB-1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 12)
    ]
    lines.append("database_specific: {bomb: *a11}")
    start = time.perf_counter()
    with pytest.raises(AdvisoryError, match=r"BOMB-1.*more than"):
        load_record("\n".join(lines).encode(), "bomb.yaml", yaml_format=True)
    assert time.perf_counter() - start < 5


def test_directory_errors_are_yielded(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "good.json").write_text(json.dumps(GOOD))
    (tmp_path / "a" / "list.json").write_text("[]")
    (tmp_path / "a" / "nojson.json").write_text("hello")
    (tmp_path / "a" / "noid.yaml").write_text("modified: 2024-01-01T00:00:00Z\n")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "big.json").write_bytes(b" " * 2048)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
    outside.write_text(json.dumps(GOOD))
    (tmp_path / "link.json").symlink_to(outside)
    (tmp_path / "inside.json").symlink_to(tmp_path / "a" / "good.json")
    (tmp_path / "dirlink").symlink_to(tmp_path.parent, target_is_directory=True)
    results = list(iter_records(tmp_path, max_bytes=1024))
    by_name = {Path(r.source).name: r for r in results}
    assert set(by_name) == {
        "good.json",
        "list.json",
        "nojson.json",
        "noid.yaml",
        "big.json",
        "link.json",
        "inside.json",
    }
    assert isinstance(by_name["good.json"], Advisory) and isinstance(by_name["inside.json"], Advisory)
    for name, fragment in [
        ("list.json", "record is a list"),
        ("nojson.json", "not valid JSON"),
        ("noid.yaml", "no string 'id'"),
        ("big.json", "cap"),
        ("link.json", "outside"),
    ]:
        assert isinstance(by_name[name], AdvisoryError), name
        assert fragment in str(by_name[name])
    outside.unlink()


def test_bad_zips(tmp_path: Path) -> None:
    good = tmp_path / "all.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("A.json", json.dumps(GOOD))
        zf.writestr("huge.json", b" " * 5000)  # compresses to almost nothing
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:-30])
    (results,) = [list(iter_records(truncated))]
    assert len(results) == 1 and isinstance(results[0], AdvisoryError) and "zip" in str(results[0])

    results = list(iter_records(good, max_bytes=1024))
    assert isinstance(results[0], Advisory)
    assert isinstance(results[1], AdvisoryError) and "huge.json" in str(results[1]) and "cap" in str(results[1])

    # a member whose header under-states its size: the capped read still stops it
    lying = tmp_path / "lying.zip"
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("huge.json")
    central = data.rfind(b"PK\x01\x02")  # central directory entry of the last member (huge.json)
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    lying.write_bytes(bytes(data))
    results = list(iter_records(lying, max_bytes=1024))
    assert isinstance(results[1], AdvisoryError), results[1]
    assert info.file_size == 5000

    corrupt = tmp_path / "corrupt.zip"
    data = bytearray(good.read_bytes())
    data[40:60] = b"\x00" * 20  # inside A.json's compressed data
    corrupt.write_bytes(bytes(data))
    results = list(iter_records(corrupt))
    assert len(results) == 2 and all(isinstance(r, Advisory | AdvisoryError) for r in results)

    assert isinstance(next(iter(iter_records(tmp_path / "missing.zip"))), AdvisoryError)


def test_helpers() -> None:
    assert split_ecosystem("Ubuntu:Pro:18.04:LTS") == ("Ubuntu", "Pro:18.04:LTS")
    assert split_ecosystem("PyPI") == ("PyPI", None)
    assert normalise_name("Packagist", "Symfony/HTTP-Kernel") == "symfony/http-kernel"
    assert normalise_name("npm", "@Scope/Name") == "@Scope/Name"
