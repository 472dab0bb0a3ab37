"""A vulnerability database built once per test session from all the public test data (and a small EPSS file)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from threatstryker.vulndb.build import build_database

#: EPSS has no copy in the public data; these lines follow the real file's format (header comment,
#: column names, one CVE per line) with made-up scores for CVEs the other feeds contain.
EPSS_LINES = [
    "#model_version:v2025.03.14,score_date:2025-03-15T00:00:00+0000",
    "cve,epss,percentile",
    "CVE-2021-44228,0.94358,0.99957",
    "CVE-2023-1393,0.00071,0.30112",
    "CVE-2023-43804,0.00452,0.74310",
]


def write_epss(path: Path) -> Path:
    path.write_bytes(gzip.compress(("\n".join(EPSS_LINES) + "\n").encode()))
    return path


@pytest.fixture(scope="session")
def vulndb_path(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database from shared/data's osv, debian-tracker, alpine-secdb and kev sets plus EPSS."""
    tmp = tmp_path_factory.mktemp("vulndb-all")
    sources = [
        shared_data / "osv",
        shared_data / "debian-tracker",
        shared_data / "alpine-secdb",
        shared_data / "kev",
        write_epss(tmp / "epss_scores-2025-03-15.csv.gz"),
    ]
    build_database(sources, tmp / "vuln.db")
    return tmp / "vuln.db"
