"""CISA KEV (the real catalog, JSON and CSV, plus bad input) and FIRST EPSS score files.

No real EPSS file is in the public data set, so the EPSS tests write their own files: rows
with made-up CVE ids and values, in the daily file's layout, plain and gzip-compressed.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from threatstryker.vulndb.advisory import AdvisoryError
from threatstryker.vulndb.feeds.epss import EpssScore, iter_scores, open_scores
from threatstryker.vulndb.feeds.kev import KevEntry, iter_entries, parse_entry, read_catalog

KEV_JSON = "known_exploited_vulnerabilities.json"
KEV_CSV = "known_exploited_vulnerabilities.csv"
EPSS_COMMENT = "#model_version:v2025.03.14,score_date:2025-03-15T00:00:00+0000"


@pytest.fixture(scope="module")
def kev_dir(shared_data: Path) -> Path:
    path = shared_data / "kev"
    if not (path / KEV_JSON).is_file() or not (path / KEV_CSV).is_file():
        pytest.skip(f"no KEV catalog under {shared_data}")
    return path


# ---------------------------------------------------------------------------------------------
# KEV: the real catalog (catalogVersion 2025.08.25, 1404 entries, per ../shared/data/MANIFEST.md)


def test_real_json_catalog(kev_dir: Path) -> None:
    start = time.perf_counter()
    catalog = read_catalog(kev_dir / KEV_JSON)
    elapsed = time.perf_counter() - start
    raw = json.loads((kev_dir / KEV_JSON).read_bytes())
    assert catalog.errors == ()
    assert catalog.warnings == ()
    assert catalog.count == raw["count"] == len(catalog) == len(raw["vulnerabilities"])
    assert catalog.version == raw["catalogVersion"]
    assert catalog.released is not None and catalog.released.tzinfo is not None
    assert catalog.released.date() == date.fromisoformat(raw["catalogVersion"].replace(".", "-"))
    assert [e.cve_id for e in catalog.entries] == [v["cveID"] for v in raw["vulnerabilities"]]
    assert elapsed < 2.0


def test_real_json_and_csv_agree(kev_dir: Path) -> None:
    from_json = read_catalog(kev_dir / KEV_JSON).by_cve()
    csv_catalog = read_catalog(kev_dir / KEV_CSV)
    assert csv_catalog.errors == () and csv_catalog.warnings == ()
    assert csv_catalog.version is None and csv_catalog.count is None  # the CSV has no metadata
    from_csv = csv_catalog.by_cve()
    assert set(from_json) == set(from_csv)
    assert {c: e.known_ransomware for c, e in from_json.items()} == {c: e.known_ransomware for c, e in from_csv.items()}
    for cve, entry in from_json.items():
        other = from_csv[cve]
        assert (entry.date_added, entry.due_date, entry.cwes, entry.vendor, entry.product) == (
            other.date_added,
            other.due_date,
            other.cwes,
            other.vendor,
            other.product,
        ), cve


def test_real_catalog_facts(kev_dir: Path) -> None:
    """Facts read by hand from the files (grep CVE-2021-44228 / the first and last entries)."""
    for name in (KEV_JSON, KEV_CSV):
        entries = read_catalog(kev_dir / name).by_cve()
        log4j = entries["CVE-2021-44228"]
        assert log4j.vendor == "Apache"
        assert log4j.product == "Log4j2"
        assert log4j.name == "Apache Log4j2 Remote Code Execution Vulnerability"
        assert log4j.date_added == date(2021, 12, 10)
        assert log4j.due_date == date(2021, 12, 24)
        assert log4j.known_ransomware is True and log4j.ransomware_use == "Known"
        assert log4j.cwes == ("CWE-20", "CWE-400", "CWE-502")
        git = entries["CVE-2025-48384"]  # the newest entry, first in both files
        assert (git.vendor, git.product, git.date_added, git.due_date) == (
            "Git",
            "Git",
            date(2025, 8, 25),
            date(2025, 9, 15),
        )
        assert git.known_ransomware is False and git.cwes == ("CWE-59", "CWE-436")
        zyxel = entries["CVE-2020-29583"]  # the oldest batch, last in both files
        assert (zyxel.vendor, zyxel.date_added, zyxel.cwes) == ("Zyxel", date(2021, 11, 3), ("CWE-522",))
    catalog = read_catalog(kev_dir / KEV_JSON)
    assert catalog.version == "2025.08.25"
    assert catalog.released == datetime(2025, 8, 25, 17, 4, 19, 979600, tzinfo=UTC)
    assert sum(e.known_ransomware for e in catalog.entries) == 293
    assert sum(e.date_added == date(2021, 11, 3) for e in catalog.entries) == 287
    assert sum(not e.cwes for e in catalog.entries) == 152


def test_real_directory_reads_the_json(kev_dir: Path) -> None:
    catalog = read_catalog(kev_dir)
    assert catalog.source.endswith(KEV_JSON) and catalog.version == "2025.08.25"
    assert len([r for r in iter_entries(kev_dir) if isinstance(r, KevEntry)]) == catalog.count


# ---------------------------------------------------------------------------------------------
# KEV: bad input


def _entry(cve: str = "CVE-2024-0001", **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "cveID": cve,
        "vendorProject": "Acme",
        "product": "Widget",
        "vulnerabilityName": "Acme Widget Bug",
        "dateAdded": "2024-01-02",
        "dueDate": "2024-01-23",
        "knownRansomwareCampaignUse": "Unknown",
        "notes": "",
        "cwes": ["CWE-79"],
    }
    base.update(fields)
    return base


def _catalog_file(tmp_path: Path, entries: list[object], **meta: object) -> Path:
    data = {"catalogVersion": "2024.01.02", "dateReleased": "2024-01-02T10:00:00.000Z", "count": len(entries)}
    data.update(meta)
    data["vulnerabilities"] = entries
    path = tmp_path / KEV_JSON
    path.write_text(json.dumps(data))
    return path


def test_bad_entries_are_errors_and_the_rest_kept(tmp_path: Path) -> None:
    entries: list[object] = [
        _entry("CVE-2024-0001"),
        {k: v for k, v in _entry("CVE-2024-0002").items() if k != "cveID"},
        _entry("CVE-2024-0003", dateAdded="2024-02-30"),
        _entry("CVE-2024-0004", dueDate="next week"),
        _entry("CVE-2024-0005", vendorProject=42),
        _entry("CVE-2024-0006", cwes="CWE-79"),
        _entry("not-a-cve"),
        "just a string",
        _entry("CVE-2024-0009", dueDate="", knownRansomwareCampaignUse="Known", cwes=None),
        _entry("CVE-2024-0010", dateAdded=None),
        _entry("cve-2024-0011 ", knownRansomwareCampaignUse="Suspected"),
    ]
    catalog = read_catalog(_catalog_file(tmp_path, entries))
    assert [e.cve_id for e in catalog.entries] == ["CVE-2024-0001", "CVE-2024-0009", "CVE-2024-0011"]
    messages = [str(e) for e in catalog.errors]
    assert len(messages) == 8
    assert all("\n" not in m and m.startswith(str(tmp_path)) for m in messages)
    assert "no string 'cveID'" in messages[0]
    assert "CVE-2024-0003" in messages[1] and "dateAdded" in messages[1]
    assert "dueDate" in messages[2] and "next week" in messages[2]
    assert "vendorProject" in messages[3] and "int" in messages[3]
    assert "cwes" in messages[4]
    assert "not a CVE id" in messages[5]
    assert "str, not an object" in messages[6]
    assert "dateAdded" in messages[7]
    no_due = catalog.by_cve()["CVE-2024-0009"]
    assert no_due.due_date is None and no_due.known_ransomware is True and no_due.cwes == ()
    odd = catalog.by_cve()["CVE-2024-0011"]
    assert odd.known_ransomware is False and odd.ransomware_use == "Suspected"
    # iter_entries keeps catalog order, errors in place
    kinds = ["E" if isinstance(r, KevEntry) else "x" for r in iter_entries(tmp_path / KEV_JSON)]
    assert "".join(kinds) == "ExxxxxxxExE"


def test_count_mismatch_and_duplicates_warn(tmp_path: Path) -> None:
    entries: list[object] = [
        _entry("CVE-2024-0001"),
        _entry("CVE-2024-0002"),
        _entry("CVE-2024-0001", vendorProject="B"),
    ]
    catalog = read_catalog(_catalog_file(tmp_path, entries, count=5, dateReleased="yesterday"))
    assert catalog.count == 5 and len(catalog) == 2 and catalog.released is None
    assert catalog.by_cve()["CVE-2024-0001"].vendor == "Acme"
    text = " | ".join(catalog.warnings)
    assert "'count' says 5 entries but the catalog lists 3" in text
    assert "CVE-2024-0001 is listed more than once" in text
    assert "dateReleased" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("  \n", "file is empty"),
        ('{"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-2024-0001"', "not valid JSON"),
        ("[1, 2]", "list, not an object"),
        ('{"vulnerabilities": {"cveID": "CVE-2024-0001"}}', "no 'vulnerabilities' list"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_unreadable_json_catalog(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / KEV_JSON
    path.write_text(content)
    with pytest.raises(AdvisoryError, match=message):
        read_catalog(path)
    (only,) = list(iter_entries(path))
    assert isinstance(only, AdvisoryError) and message in str(only)


def test_csv_bad_rows_and_header(tmp_path: Path) -> None:
    header = (
        "cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,"
        "requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes\n"
    )
    rows = [
        'CVE-2024-0001,Acme,Widget,"Acme, Inc. Widget Bug",2024-01-02,"desc",act,2024-01-23,Known,,"CWE-79, CWE-80"\n',
        ",Acme,Widget,name,2024-01-02,d,a,2024-01-23,Unknown,,\n",
        "CVE-2024-0003,Acme,Widget,name,01/02/2024,d,a,,Unknown,,\n",
        "CVE-2024-0004,Acme\n",
    ]
    path = tmp_path / KEV_CSV
    path.write_text(header + "".join(rows))
    catalog = read_catalog(path)
    assert [e.cve_id for e in catalog.entries] == ["CVE-2024-0001"]
    first = catalog.entries[0]
    assert first.name == "Acme, Inc. Widget Bug" and first.cwes == ("CWE-79", "CWE-80") and first.known_ransomware
    assert [e.source.rsplit(":", 1)[1] for e in catalog.errors] == ["3", "4", "5"]
    assert "no string 'cveID'" in str(catalog.errors[0])
    assert "01/02/2024" in str(catalog.errors[1])
    assert "no 'dateAdded'" in str(catalog.errors[2])  # short row: missing fields
    path.write_text("cve,vendor\nCVE-2024-0001,Acme\n")
    with pytest.raises(AdvisoryError, match="no 'cveID' column"):
        read_catalog(path)
    path.write_bytes(header.encode() + b"CVE-2024-0001,\xff\xfe\n")
    with pytest.raises(AdvisoryError, match="not UTF-8"):
        read_catalog(path)


def test_kev_caps_and_symlinks(tmp_path: Path) -> None:
    path = _catalog_file(tmp_path, [_entry()])
    with pytest.raises(AdvisoryError, match="over the 10-byte cap"):
        read_catalog(path, max_bytes=10)
    with pytest.raises(AdvisoryError, match="no such file"):
        read_catalog(tmp_path / "missing.json")
    (tmp_path / "empty").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / KEV_JSON).write_text(path.read_text())
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / KEV_JSON).symlink_to(outside / KEV_JSON)
    with pytest.raises(AdvisoryError, match="symlink leads outside"):
        read_catalog(inside)
    with pytest.raises(AdvisoryError, match="no known_exploited"):
        read_catalog(tmp_path / "empty")
    with pytest.raises(AdvisoryError, match="not an object"):
        parse_entry(["CVE-2024-0001"])


# ---------------------------------------------------------------------------------------------
# EPSS: generated files (made-up CVE ids and values)


def _write_epss(path: Path, rows: list[str], *, comment: str | None = EPSS_COMMENT, gz: bool = False) -> Path:
    lines = ([comment] if comment is not None else []) + ["cve,epss,percentile", *rows]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    return path


GOOD_ROWS = ["CVE-1999-0001,0.01151,0.77542", "CVE-2024-12345,0.97527,1.00000", "CVE-2025-0002,0.00043,0.0"]


@pytest.mark.parametrize("gz", [False, True])
def test_epss_plain_and_gzip(tmp_path: Path, gz: bool) -> None:
    path = _write_epss(tmp_path / ("epss_scores-2025-03-15.csv" + (".gz" if gz else "")), GOOD_ROWS, gz=gz)
    with open_scores(path) as reader:
        assert reader.model_version == "v2025.03.14"
        assert reader.score_date == datetime(2025, 3, 15, tzinfo=UTC)
        assert reader.metadata == {"model_version": "v2025.03.14", "score_date": "2025-03-15T00:00:00+0000"}
        scores = list(reader)
        assert reader.rows == 3
    assert scores == [
        EpssScore("CVE-1999-0001", 0.01151, 0.77542),
        EpssScore("CVE-2024-12345", 0.97527, 1.0),
        EpssScore("CVE-2025-0002", 0.00043, 0.0),
    ]
    assert list(iter_scores(path)) == scores


def test_epss_without_comment_line(tmp_path: Path) -> None:
    path = _write_epss(tmp_path / "epss_scores-2024-11-02.csv.gz", GOOD_ROWS, comment=None, gz=True)
    with open_scores(path) as reader:
        assert reader.model_version is None and reader.metadata == {}
        assert reader.score_date == datetime(2024, 11, 2, tzinfo=UTC)  # from the file name
        assert len(list(reader)) == 3
    other = _write_epss(tmp_path / "scores.csv", ["CVE-2024-0001,0.5,0.5"], comment=None)
    with open_scores(other) as reader:
        assert reader.score_date is None
        assert list(reader) == [EpssScore("CVE-2024-0001", 0.5, 0.5)]
    reordered = tmp_path / "reordered.csv"
    reordered.write_text("percentile,cve,epss\n0.25,CVE-2024-0009,0.125\n")
    assert list(iter_scores(reordered)) == [EpssScore("CVE-2024-0009", 0.125, 0.25)]


def test_epss_bad_rows_are_errors(tmp_path: Path) -> None:
    rows = [
        "CVE-2024-0001,0.5,0.5",
        "CVE-2024-0002,1.5,0.5",
        "CVE-2024-0003,0.5,-0.1",
        "CVE-2024-0004,abc,0.5",
        "CVE-2024-0005,nan,0.5",
        "CVE-2024-0006,0.5",
        "GHSA-xxxx-yyyy-zzzz,0.5,0.5",
        "CVE-2024-0008,inf,0.5",
        "",
        "CVE-2024-0009," + "9" * 5000 + ",0.5",
        "CVE-2024-0010,0.25,0.75",
    ]
    results = list(iter_scores(_write_epss(tmp_path / "e.csv.gz", rows, gz=True)))
    scores = [r for r in results if isinstance(r, EpssScore)]
    errors = [str(r) for r in results if isinstance(r, AdvisoryError)]
    assert [s.cve_id for s in scores] == ["CVE-2024-0001", "CVE-2024-0010"]
    assert len(errors) == 8
    assert all("\n" not in e for e in errors)
    assert "e.csv.gz:4: CVE-2024-0002: epss is outside 0..1" in errors[0]
    assert "percentile is outside 0..1" in errors[1]
    assert "epss is not a number: 'abc'" in errors[2]
    assert "'nan'" in errors[3]
    assert "row has 2 fields, not 3" in errors[4]
    assert "not a CVE id" in errors[5]
    assert "'inf'" in errors[6]
    assert "e.csv.gz:12: row is over 4096 bytes" in errors[7]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (EPSS_COMMENT.encode() + b"\n", "comment line but no header"),
        (b"CVE-2024-0001,0.5,0.5\n", "lacks cve, epss, percentile"),
        (b"cve,score\nCVE-2024-0001,0.5\n", "lacks epss, percentile"),
        (b"\xff\xfe\x00c\x00v\x00e\n", "not UTF-8"),
    ],
)
def test_epss_unreadable_file(tmp_path: Path, content: bytes, message: str) -> None:
    for gz in (False, True):
        path = tmp_path / ("bad.csv.gz" if gz else "bad.csv")
        path.write_bytes(gzip.compress(content) if gz else content)
        with pytest.raises(AdvisoryError, match=message):
            open_scores(path)
        (only,) = list(iter_scores(path))
        assert isinstance(only, AdvisoryError) and message in str(only)


def test_epss_truncated_gzip_and_missing(tmp_path: Path) -> None:
    rows = [f"CVE-2024-{i:05d},0.1,0.2" for i in range(20_000)]
    path = _write_epss(tmp_path / "t.csv.gz", rows, gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    results = list(iter_scores(path))
    assert 0 < sum(isinstance(r, EpssScore) for r in results) < 20_000
    assert isinstance(results[-1], AdvisoryError) and "cannot read" in str(results[-1])
    (missing,) = list(iter_scores(tmp_path / "nope.csv.gz"))
    assert isinstance(missing, AdvisoryError) and "cannot read" in str(missing)
    (directory,) = list(iter_scores(tmp_path))
    assert isinstance(directory, AdvisoryError) and "not a regular file" in str(directory)


def test_epss_row_cap(tmp_path: Path) -> None:
    path = _write_epss(tmp_path / "e.csv", [f"CVE-2024-{i:05d},0.1,0.2" for i in range(10)])
    results = list(iter_scores(path, max_rows=4))
    assert sum(isinstance(r, EpssScore) for r in results) == 4
    assert isinstance(results[-1], AdvisoryError) and "over 4 rows" in str(results[-1])


def test_epss_300k_rows_streamed_in_bounded_memory(tmp_path: Path) -> None:
    """A 300,000-row gzip file (the real daily file has ~270k rows) is streamed: every row comes
    out, and tracemalloc's peak while opening the file and reading its first 5,000 rows stays
    far below the file's size (a reader that loaded or decompressed the file whole would show it
    at open). Only a prefix is traced because tracemalloc slows per-row allocation about 7x."""
    rng = random.Random(20250315)
    count = 300_000
    rows = []
    for i in range(count):
        probability = round(rng.random() ** 8, 5)
        rows.append(f"CVE-{1999 + i % 27}-{10_000 + i},{probability:.5f},{rng.random():.5f}")
    path = _write_epss(tmp_path / "epss_scores-2025-03-15.csv.gz", rows, gz=True)
    raw_size = sum(len(r) + 1 for r in rows)
    del rows
    assert path.stat().st_size > 1_000_000 and raw_size > 8_000_000

    tracemalloc.start()
    try:
        with open_scores(path) as reader:
            traced = list(itertools.islice(reader, 5_000))
            del traced
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024 < raw_size, f"peak {peak} bytes while streaming"

    start = time.perf_counter()
    seen = errors = 0
    top = 0.0
    with open_scores(path) as reader:
        for item in reader:
            if isinstance(item, EpssScore):
                seen += 1
                top = max(top, item.probability)
            else:
                errors += 1
    elapsed = time.perf_counter() - start
    assert (seen, errors) == (count, 0)
    assert 0.0 < top <= 1.0
    assert elapsed < 4.0
