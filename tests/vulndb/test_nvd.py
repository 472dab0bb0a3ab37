"""NVD CVE API 2.0 JSON: pages and feed files read into records, stored in the database, fetched over HTTP.

There is no NVD data in the shared data set, so the records are written here in NVD's 2.0 shape
(field names and values as the API returns them); the KEV catalog comes from the shared data.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from threatstryker.model.finding import Cvss
from threatstryker.vulndb.advisory import AdvisoryError
from threatstryker.vulndb.build import BuildError, build_database, detect_kind
from threatstryker.vulndb.feeds.nvd import FetchError, NvdCve, fetch_api, iter_records, parse_cve
from threatstryker.vulndb.store import CVE_BATCH, VulnDB

NVD = "nvd@nist.gov"


def _v3(
    vector: str, score: float, severity: str, expl: float, impact: float, source: str = NVD, kind: str = "Primary"
) -> dict[str, Any]:
    return {
        "source": source,
        "type": kind,
        "cvssData": {"version": vector[5:8], "vectorString": vector, "baseScore": score, "baseSeverity": severity},
        "exploitabilityScore": expl,
        "impactScore": impact,
    }


def _v2(vector: str, score: float, severity: str, expl: float, impact: float) -> dict[str, Any]:
    return {
        "source": NVD,
        "type": "Primary",
        "cvssData": {"version": "2.0", "vectorString": vector, "baseScore": score},
        "baseSeverity": severity,
        "exploitabilityScore": expl,
        "impactScore": impact,
        "acInsufInfo": False,
        "obtainAllPrivilege": False,
        "userInteractionRequired": False,
    }


def _v40(vector: str, score: float, severity: str, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "type": "Secondary",
        "cvssData": {
            "version": "4.0",
            "vectorString": vector,
            "baseScore": score,
            "baseSeverity": severity,
            "attackVector": "NETWORK",
            "attackComplexity": "LOW",
        },
    }


def _weakness(source: str, kind: str, *cwes: str) -> dict[str, Any]:
    return {"source": source, "type": kind, "description": [{"lang": "en", "value": c} for c in cwes]}


LOG4SHELL = {
    "id": "CVE-2021-44228",
    "sourceIdentifier": "security@apache.org",
    "published": "2021-12-10T10:15:09.143",
    "lastModified": "2025-02-04T15:15:13.773",
    "vulnStatus": "Analyzed",
    "cisaExploitAdd": "2021-12-10",
    "descriptions": [
        {
            "lang": "en",
            "value": "Apache Log4j2 2.0-beta9 through 2.15.0 JNDI features ... do not protect against "
            "attacker controlled LDAP and other JNDI related endpoints.",
        },
        {"lang": "es", "value": "Las características JNDI de Apache Log4j2 ..."},
    ],
    "metrics": {
        "cvssMetricV31": [
            _v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, "CRITICAL", 3.9, 6.0),
            _v3(
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                10.0,
                "CRITICAL",
                3.9,
                6.0,
                "security@apache.org",
                "Secondary",
            ),
        ],
        "cvssMetricV2": [_v2("AV:N/AC:M/Au:N/C:C/I:C/A:C", 9.3, "HIGH", 8.6, 10.0)],
    },
    "weaknesses": [
        _weakness("security@apache.org", "Secondary", "CWE-20", "CWE-400", "CWE-502"),
        _weakness(NVD, "Primary", "CWE-917", "NVD-CWE-noinfo"),
    ],
    "configurations": [{"nodes": [{"operator": "OR", "negate": False, "cpeMatch": []}]}],
    "references": [
        {
            "url": "https://logging.apache.org/log4j/2.x/security.html",
            "source": "security@apache.org",
            "tags": ["Release Notes", "Vendor Advisory"],
        },
        {"url": "https://logging.apache.org/log4j/2.x/security.html", "source": "af854a3a-2127-422b-91ae-364da2661108"},
        {
            "url": "https://www.kb.cert.org/vuls/id/930724",
            "source": "security@apache.org",
            "tags": ["Third Party Advisory", "US Government Resource"],
        },
    ],
}

HEARTBLEED = {
    "id": "CVE-2014-0160",
    "sourceIdentifier": "secalert@redhat.com",
    "published": "2014-04-07T22:55:03.893",
    "lastModified": "2024-11-21T02:01:32.233",
    "vulnStatus": "Modified",
    "descriptions": [
        {
            "lang": "en",
            "value": "The TLS and DTLS implementations in OpenSSL 1.0.1 before 1.0.1g do not "
            "properly handle Heartbeat Extension packets ...",
        }
    ],
    "metrics": {
        "cvssMetricV31": [_v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5, "HIGH", 3.9, 3.6)],
        "cvssMetricV2": [_v2("AV:N/AC:L/Au:N/C:P/I:N/A:N", 5.0, "MEDIUM", 10.0, 2.9)],
    },
    "weaknesses": [_weakness(NVD, "Primary", "CWE-125")],
    "references": [{"url": "http://www.openssl.org/news/secadv_20140407.txt", "source": "secalert@redhat.com"}],
}

# a recent CVE scored only by its CNA, with CVSS v4.0 and v3.1, no NVD analysis yet
RECENT_V4 = {
    "id": "CVE-2024-31497",
    "sourceIdentifier": "disclosure@vulncheck.com",
    "published": "2024-04-15T20:15:11.077",
    "lastModified": "2024-04-16T13:24:07.103",
    "vulnStatus": "Awaiting Analysis",
    "descriptions": [{"lang": "en", "value": "A signing flaw that lets a network attacker recover a private key."}],
    "metrics": {
        "cvssMetricV40": [
            _v40(
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
                "CRITICAL",
                "disclosure@vulncheck.com",
            ),
        ],
        "cvssMetricV30": [
            _v3(
                "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                7.5,
                "HIGH",
                3.9,
                3.6,
                "disclosure@vulncheck.com",
                "Secondary",
            ),
        ],
    },
    "weaknesses": [_weakness("disclosure@vulncheck.com", "Secondary", "NVD-CWE-Other")],
    "references": [{"url": "https://example.org/advisory/2024-31497", "source": "disclosure@vulncheck.com"}],
}

REJECTED = {
    "id": "CVE-2023-40000",
    "sourceIdentifier": "cve@mitre.org",
    "published": "2023-08-09T18:15:10.637",
    "lastModified": "2023-09-01T12:00:00.000",
    "vulnStatus": "Rejected",
    "descriptions": [{"lang": "en", "value": "Rejected reason: This candidate was withdrawn by its CNA."}],
    "metrics": {},
    "references": [],
}

# a metric NVD gives a score for, but whose vector the library cannot read; and one with neither
ODD_METRICS = {
    "id": "CVE-2022-22965",
    "published": "2022-04-01T23:15:13.870",
    "lastModified": "2022-05-01T00:00:00.000",
    "vulnStatus": "Analyzed",
    "descriptions": [{"lang": "en", "value": "Spring Framework RCE via data binding."}],
    "metrics": {
        "cvssMetricV31": [
            _v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "CRITICAL", 3.9, 5.9),
            _v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y", 9.8, "CRITICAL", 3.9, 5.9, "x@y", "Secondary"),
            {"source": "z@y", "type": "Secondary", "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N"}},
        ]
    },
}

MALFORMED = {"id": "CVE-2020-1472", "published": "2020-08-17T19:15:14.470", "metrics": [], "vulnStatus": "Analyzed"}
BAD_TIME = {"id": "CVE-2020-0601", "published": "yesterday", "vulnStatus": "Analyzed"}


def _page(*records: Any, start: int = 0, total: int | None = None) -> dict[str, Any]:
    return {
        "resultsPerPage": len(records),
        "startIndex": start,
        "totalResults": len(records) if total is None else total,
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": "2025-08-25T12:00:00.000",
        "vulnerabilities": [r if not isinstance(r, dict) or "id" not in r else {"cve": r} for r in records],
    }


@pytest.fixture(scope="module")
def nvd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An API page, a gzip yearly feed file, a truncated gzip: the sources of one NVD feed."""
    root = tmp_path_factory.mktemp("nvd")
    (root / "page-0001.json").write_text(json.dumps(_page(LOG4SHELL, MALFORMED, "not an object", REJECTED)))
    feed = gzip.compress(json.dumps(_page(HEARTBLEED, RECENT_V4, ODD_METRICS, BAD_TIME)).encode())
    (root / "nvdcve-2.0-2014.json.gz").write_bytes(feed)
    (root / "nvdcve-2.0-2015.json.gz").write_bytes(feed[: len(feed) // 2])
    return root


def _read(path: Path, **kw: Any) -> tuple[dict[str, NvdCve], list[AdvisoryError]]:
    records: dict[str, NvdCve] = {}
    errors: list[AdvisoryError] = []
    for item in iter_records(path, **kw):
        if isinstance(item, NvdCve):
            records[item.id] = item
        else:
            errors.append(item)
    return records, errors


# -- reading --------------------------------------------------------------------------------------


def test_directory_records_and_errors(nvd_dir: Path) -> None:
    records, errors = _read(nvd_dir)
    assert sorted(records) == ["CVE-2014-0160", "CVE-2021-44228", "CVE-2022-22965", "CVE-2023-40000", "CVE-2024-31497"]
    messages = [str(e) for e in errors]
    assert len(messages) == 4 and all("\n" not in m for m in messages)
    assert any("CVE-2020-1472" in m and "'metrics' is a list, not an object" in m for m in messages)
    assert any("page-0001.json#2" in m and "not an object with a 'cve' member" in m for m in messages)
    assert any("CVE-2020-0601" in m and "'published' is not an ISO 8601 time" in m for m in messages)
    assert any("nvdcve-2.0-2015.json.gz" in m and "truncated or damaged gzip" in m for m in messages)


def test_fields(nvd_dir: Path) -> None:
    records, _ = _read(nvd_dir)
    log4shell = records["CVE-2021-44228"]
    assert log4shell.published == datetime(2021, 12, 10, 10, 15, 9, 143000, tzinfo=UTC)
    assert log4shell.modified == datetime(2025, 2, 4, 15, 15, 13, 773000, tzinfo=UTC)
    assert (log4shell.status, log4shell.rejected) == ("Analyzed", False)
    assert log4shell.description.startswith("Apache Log4j2 2.0-beta9")
    assert log4shell.cwes == ("CWE-20", "CWE-400", "CWE-502", "CWE-917")
    assert log4shell.references == (
        "https://logging.apache.org/log4j/2.x/security.html",
        "https://www.kb.cert.org/vuls/id/930724",
    )
    assert log4shell.cvss == (
        Cvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, "critical", 3.9, 6.0, "nvd:primary:" + NVD),
        Cvss(
            "3.1",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
            10.0,
            "critical",
            3.9,
            6.0,
            "nvd:secondary:security@apache.org",
        ),
        Cvss("2.0", "AV:N/AC:M/Au:N/C:C/I:C/A:C", 9.3, "high", 8.6, 10.0, "nvd:primary:" + NVD),
    )
    assert [c.version for c in log4shell.primary] == ["3.1", "2.0"]
    assert log4shell.warnings == ()

    recent = records["CVE-2024-31497"]
    assert [(c.version, c.base_score, c.severity, c.exploitability) for c in recent.cvss] == [
        ("4.0", 9.3, "critical", None),
        ("3.0", 7.5, "high", 3.9),
    ]
    assert recent.cwes == ()  # NVD-CWE-Other is not a CWE id
    assert recent.primary == ()
    assert recent.status == "Awaiting Analysis"

    rejected = records["CVE-2023-40000"]
    assert rejected.rejected and rejected.cvss == () and rejected.description.startswith("Rejected reason")
    assert records["CVE-2014-0160"].source.endswith("nvdcve-2.0-2014.json.gz#0")


def test_unreadable_metrics_are_noted_not_fatal(nvd_dir: Path) -> None:
    odd = _read(nvd_dir)[0]["CVE-2022-22965"]
    assert [(c.base_score, c.source) for c in odd.cvss] == [(9.8, "nvd:primary:" + NVD), (9.8, "nvd:secondary:x@y")]
    assert len(odd.warnings) == 2
    assert "XX:Y" in odd.warnings[0] and "score NVD gives is kept" in odd.warnings[0]
    assert "cvssMetricV31[2]" in odd.warnings[1] and "left out" in odd.warnings[1]


def test_scores_computed_when_nvd_gives_none() -> None:
    cve = parse_cve(
        {
            "id": "cve-2021-3156",
            "metrics": {
                "cvssMetricV31": [
                    {
                        "source": NVD,
                        "type": "Primary",
                        "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"},
                    }
                ]
            },
        },
        "inline",
    )
    assert cve.id == "CVE-2021-3156" and cve.published is None
    assert (cve.cvss[0].base_score, cve.cvss[0].severity, cve.cvss[0].exploitability) == (7.8, "high", 1.8)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not an object"),
        ({"id": 12}, "no string 'id'"),
        ({"id": "GHSA-xxxx-yyyy-zzzz"}, "not a CVE id"),
        ({"id": "CVE-2021-1", "descriptions": {"en": "x"}}, "not a CVE id"),
        ({"id": "CVE-2021-0001", "descriptions": {"en": "x"}}, "'descriptions' is a dict, not a list"),
        ({"id": "CVE-2021-0001", "references": [{"url": 5}]}, "'references[0].url' is a int"),
        (
            {"id": "CVE-2021-0001", "metrics": {"cvssMetricV31": [{"cvssData": {"baseScore": 11}}]}},
            "score from 0 to 10",
        ),
        (
            {"id": "CVE-2021-0001", "metrics": {"cvssMetricV2": [{"cvssData": {"baseScore": True}}]}},
            "score from 0 to 10",
        ),
    ],
)
def test_bad_records(data: Any, message: str) -> None:
    with pytest.raises(AdvisoryError, match=re.escape(message)) as info:
        parse_cve(data, "where")
    assert str(info.value).startswith("where")


def test_bad_files(tmp_path: Path) -> None:
    cases = {
        "empty.json": b"",
        "broken.json": b'{"format": "NVD_CVE", "vulnerabilities": [',
        "list.json": b"[]",
        "other.json": json.dumps({"format": "OSV", "vulnerabilities": []}).encode(),
        "old.json": json.dumps({"CVE_data_type": "CVE", "CVE_data_format": "MITRE", "CVE_Items": []}).encode(),
        "v3.json": json.dumps({"format": "NVD_CVE", "version": "3.0", "vulnerabilities": []}).encode(),
        "novulns.json": json.dumps({"format": "NVD_CVE", "version": "2.0"}).encode(),
        "bad.json.gz": b"\x1f\x8b" + b"garbage" * 10,
    }
    expected = {
        "empty.json": "file is empty",
        "broken.json": "not valid JSON",
        "list.json": "not an NVD CVE object",
        "other.json": "'format' is 'OSV'",
        "old.json": "NVD 1.1 feed",
        "v3.json": "only 2.x is read",
        "novulns.json": "no 'vulnerabilities' list",
        "bad.json.gz": "truncated or damaged gzip",
    }
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        records, errors = _read(tmp_path / name)
        assert records == {} and len(errors) == 1, name
        assert expected[name] in str(errors[0]) and name in str(errors[0]), name
    assert "no such file" in str(_read(tmp_path / "missing.json")[1][0])
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert "no NVD JSON files" in str(_read(empty)[1][0])


def test_size_caps(tmp_path: Path) -> None:
    plain = tmp_path / "page.json"
    plain.write_text(json.dumps(_page(LOG4SHELL, HEARTBLEED)))
    assert len(_read(plain)[0]) == 2
    errors = _read(plain, max_bytes=1000)[1]
    assert len(errors) == 1 and "over the 1000-byte cap" in str(errors[0])
    # a small gzip that expands past the cap (a decompression bomb) is refused, not decompressed whole
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b'{"format": "NVD_CVE", "vulnerabilities": [' + b" " * 5_000_000 + b"]}"))
    assert bomb.stat().st_size < 100_000
    errors = _read(bomb, max_bytes=1_000_000)[1]
    assert len(errors) == 1 and "decompresses to over the 1000000-byte cap" in str(errors[0])


def test_detect_kind(nvd_dir: Path, tmp_path: Path) -> None:
    assert detect_kind(nvd_dir) == "nvd"
    assert detect_kind(nvd_dir / "page-0001.json") == "nvd"  # by its envelope
    assert detect_kind(nvd_dir / "nvdcve-2.0-2014.json.gz") == "nvd"  # by name (and envelope)
    renamed = tmp_path / "cves.json.gz"
    renamed.write_bytes((nvd_dir / "nvdcve-2.0-2014.json.gz").read_bytes())
    assert detect_kind(renamed) == "nvd"  # the envelope, read through gzip
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.json").write_text(json.dumps(_page(LOG4SHELL)))
    assert detect_kind(pages) == "nvd"


# -- the database ---------------------------------------------------------------------------------


def test_build_and_read_back(nvd_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    dest = tmp_path / "vuln.db"
    report = build_database([nvd_dir, shared_data / "kev"], dest)
    assert set(report.feeds) == {"nvd", "kev"}
    nvd_rep = report.feeds["nvd"]
    assert (nvd_rep.records, nvd_rep.errors, nvd_rep.duplicates) == (5, 4, 0)
    assert any("CVE-2020-1472" in m for m in nvd_rep.messages)
    records, _ = _read(nvd_dir)
    with VulnDB.open(dest) as db:
        log4shell = db.cve("cve-2021-44228")
        assert log4shell is not None
        expected = records["CVE-2021-44228"]
        assert log4shell.cvss == expected.cvss
        assert (log4shell.published, log4shell.modified) == (expected.published, expected.modified)
        assert (log4shell.status, log4shell.cwes, log4shell.refs) == ("Analyzed", expected.cwes, expected.references)
        assert log4shell.description == expected.description
        kev = db.kev("CVE-2021-44228")  # the real KEV catalog lists Log4Shell
        assert kev is not None and kev.vendor == "Apache"
        rejected = db.cve("CVE-2023-40000")
        assert rejected is not None and rejected.rejected
        assert db.cve("CVE-2020-1472") is None  # the malformed record was skipped
        wanted = [f"CVE-2099-{n:05d}" for n in range(2 * CVE_BATCH + 7)] + list(records) + ["CVE-2014-0160"]
        found = db.cves(wanted)
        assert set(found) == set(records)
        assert found["CVE-2024-31497"].cvss[0].version == "4.0"
        assert db.cves([]) == {}
        status = {f.name: (f.records, f.errors) for f in db.status().feeds}
        assert status["nvd"] == (5, 4)


def test_same_cve_twice_keeps_the_newer(tmp_path: Path) -> None:
    src = tmp_path / "nvd"
    src.mkdir()
    newer = dict(HEARTBLEED, description=None, vulnStatus="Modified")
    older = dict(HEARTBLEED, lastModified="2020-01-01T00:00:00.000", vulnStatus="Analyzed")
    newest = dict(HEARTBLEED, lastModified="2025-06-01T00:00:00.000", vulnStatus="Deferred")
    (src / "a.json").write_text(json.dumps(_page(newer)))
    (src / "b.json").write_text(json.dumps(_page(older)))
    report = build_database([f"nvd={src}"], tmp_path / "one.db")
    assert (report.feeds["nvd"].records, report.feeds["nvd"].duplicates) == (1, 1)
    with VulnDB.open(tmp_path / "one.db") as db:
        assert db.cve("CVE-2014-0160").status == "Modified"  # type: ignore[union-attr]
    (src / "c.json").write_text(json.dumps(_page(newest)))
    build_database([f"nvd={src}"], tmp_path / "two.db")
    with VulnDB.open(tmp_path / "two.db") as db:
        record = db.cve("CVE-2014-0160")
        assert record is not None and record.status == "Deferred"
        assert record.modified == datetime(2025, 6, 1, tzinfo=UTC)


def test_nvd_feed_with_only_errors_aborts(tmp_path: Path, nvd_dir: Path) -> None:
    broken = tmp_path / "nvdcve-2.0-2015.json.gz"
    broken.write_bytes((nvd_dir / "nvdcve-2.0-2015.json.gz").read_bytes())
    with pytest.raises(BuildError, match=r"feed nvd gave no records.*truncated or damaged gzip"):
        build_database([broken], tmp_path / "vuln.db")
    assert not (tmp_path / "vuln.db").exists()


# -- the API ----------------------------------------------------------------------------------------


class _Api:
    """A real HTTP server on 127.0.0.1 serving CVE API pages from a list of records."""

    def __init__(self, records: list[dict[str, Any]], fail_first: list[int] | None = None, body: bytes | None = None):
        self.records = records
        self.fail = list(fail_first or [])
        self.body = body
        self.requests: list[tuple[dict[str, str], dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                api.requests.append((query, {k.lower(): v for k, v in self.headers.items()}))
                if api.fail:
                    status = api.fail.pop(0)
                    self.send_response(status)
                    self.send_header("message", f"Request forbidden by administrative rules ({status})")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if api.body is not None:
                    payload = api.body
                else:
                    start, size = int(query["startIndex"]), int(query["resultsPerPage"])
                    chunk = api.records[start : start + size]
                    payload = json.dumps(_page(*chunk, start=start, total=len(api.records))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rest/json/cves/2.0"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Api:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def five() -> Iterator[list[dict[str, Any]]]:
    yield [LOG4SHELL, HEARTBLEED, RECENT_V4, REJECTED, ODD_METRICS]


def test_fetch_pages_with_a_429(five: list[dict[str, Any]], tmp_path: Path) -> None:
    with _Api(five, fail_first=[429]) as api:
        files = fetch_api(api.url, tmp_path / "pages", api_key="secret-key", page_size=2, pause=0.01, max_retries=2)
    assert [f.name for f in files] == ["nvd-api-00001.json", "nvd-api-00002.json", "nvd-api-00003.json"]
    starts = [q["startIndex"] for q, _ in api.requests]
    assert starts == ["0", "0", "2", "4"]  # the 429 was retried
    assert all(q["resultsPerPage"] == "2" and h["apikey"] == "secret-key" for q, h in api.requests)
    assert all("lastModStartDate" not in q for q, _ in api.requests)
    records, errors = _read(tmp_path / "pages")
    assert errors == [] and sorted(records) == sorted(r["id"] for r in five)
    assert detect_kind(tmp_path / "pages") == "nvd"
    report = build_database([tmp_path / "pages"], tmp_path / "vuln.db")
    assert report.feeds["nvd"].records == 5


def test_fetch_last_modified_windows(five: list[dict[str, Any]], tmp_path: Path) -> None:
    with _Api(five) as api:
        files = fetch_api(
            api.url,
            tmp_path,
            last_mod_start=datetime(2025, 1, 1),
            last_mod_end=datetime(2025, 7, 20, 12, 30, tzinfo=UTC),
            page_size=5,
            pause=0,
        )
    # 200 days: two windows of at most 120 days, one page each
    assert len(files) == 2
    windows = [(q["lastModStartDate"], q["lastModEndDate"]) for q, _ in api.requests]
    assert windows == [
        ("2025-01-01T00:00:00.000+00:00", "2025-05-01T00:00:00.000+00:00"),
        ("2025-05-01T00:00:00.000+00:00", "2025-07-20T12:30:00.000+00:00"),
    ]
    assert all("apikey" not in h for _, h in api.requests)


def test_fetch_failures(five: list[dict[str, Any]], tmp_path: Path) -> None:
    retrying = pytest.raises(FetchError, match=r"still failing after 2 retries: HTTP 503 \(Request forbidden")
    with _Api(five, fail_first=[503] * 10) as api, retrying:
        fetch_api(api.url, tmp_path / "a", pause=0.001, max_retries=2)
    assert len(api.requests) == 3
    with _Api(five, fail_first=[404]) as api, pytest.raises(FetchError, match="answered HTTP 404") as info:
        fetch_api(api.url, tmp_path / "b", pause=0)
    assert "\n" not in str(info.value) and len(api.requests) == 1
    with _Api(five, body=b"<html>maintenance</html>") as api, pytest.raises(FetchError, match="is not valid JSON"):
        fetch_api(api.url, tmp_path / "c", pause=0)
    cpe = json.dumps({"format": "NVD_CPE", "vulnerabilities": []}).encode()
    with _Api(five, body=cpe) as api, pytest.raises(FetchError, match="'format' is 'NVD_CPE'"):
        fetch_api(api.url, tmp_path / "d", pause=0)
    assert list((tmp_path / "d").iterdir()) == []
    closed = _Api(five)
    url = closed.url
    closed.server.server_close()  # nothing listens there any more
    with pytest.raises(FetchError, match="ConnectError"):
        fetch_api(url, tmp_path / "e", pause=0.001, max_retries=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page_size": 0}, "outside 1..2000"),
        ({"page_size": 2001}, "outside 1..2000"),
        ({"last_mod_end": datetime(2025, 1, 1)}, "needs a start"),
        ({"last_mod_start": datetime(2025, 2, 1), "last_mod_end": datetime(2025, 1, 1)}, "before it starts"),
        ({"pause": -1}, "must not be negative"),
    ],
)
def test_fetch_bad_arguments(kwargs: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=message):
        fetch_api("http://127.0.0.1:9/", tmp_path, **kwargs)


def test_fetch_bad_url(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="bad NVD API URL"):
        fetch_api("ftp://127.0.0.1/cves", tmp_path, pause=0)
