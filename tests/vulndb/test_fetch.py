"""Feed downloads against a real HTTP server on 127.0.0.1: caching, conditional GET, dropped connections,
size caps, retries, scheme checks, the named feed table, and building a database from the downloads."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from threatstryker.vulndb.build import build_database
from threatstryker.vulndb.fetch import (
    DEBIAN_TRACKER_URL,
    FEEDS,
    Downloaded,
    Feed,
    Fetcher,
    FetchError,
    RemoteSource,
    build_sources,
    default_feeds,
    kind_of,
    parse_source,
    resolve_feeds,
)
from threatstryker.vulndb.store import VulnDB

Route = Callable[[BaseHTTPRequestHandler], None]


class FeedServer:
    """A real HTTP/1.0 server on 127.0.0.1 (one thread per request) serving the routes a test sets."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- routes ------------------------------------------------------------------------------------

    def file(self, path: str, body: bytes, *, etag: bool = True, last_modified: float | None = None) -> None:
        """``body`` with an ETag (and a Last-Modified), answering conditional requests with 304."""
        tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        stamp = formatdate(last_modified, usegmt=True) if last_modified is not None else None

        def route(h: BaseHTTPRequestHandler) -> None:
            if (etag and h.headers.get("If-None-Match") == tag) or (
                stamp and not etag and h.headers.get("If-Modified-Since") == stamp
            ):
                h.send_response(304)
                h.end_headers()
                return
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            if etag:
                h.send_header("ETag", tag)
            if stamp:
                h.send_header("Last-Modified", stamp)
            h.end_headers()
            h.wfile.write(body)

        self.routes[path] = route

    def drop(self, path: str, body: bytes) -> None:
        """Announce all of ``body``, send half of it, and close the connection."""

        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()

        self.routes[path] = route

    def statuses(self, path: str, codes: list[int], body: bytes, headers: dict[str, str] | None = None) -> None:
        """Answer with each of ``codes`` in turn, then with ``body``."""
        pending = list(codes)

        def route(h: BaseHTTPRequestHandler) -> None:
            if pending:
                h.send_response(pending.pop(0))
                for k, v in (headers or {}).items():
                    h.send_header(k, v)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

        self.routes[path] = route

    def unsized(self, path: str, size: int) -> None:
        """``size`` bytes with no Content-Length (the body ends when the connection closes)."""

        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.end_headers()
            for _ in range(size // 4096):
                h.wfile.write(b"x" * 4096)

        self.routes[path] = route


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    yield srv
    srv.close()


def osv_zip(shared_data: Path, count: int = 150) -> tuple[bytes, int]:
    """An OSV bucket style all.zip of the first ``count`` real Go records."""
    files = sorted((shared_data / "osv" / "Go").glob("GO-*.json"))[:count]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.writestr(f.name, f.read_bytes())
    return buf.getvalue(), len(files)


def fetcher(tmp_path: Path, **kw: object) -> Fetcher:
    return Fetcher(tmp_path / "cache", backoff=0.01, timeout=10.0, **kw)  # type: ignore[arg-type]


def parts(cache: Path) -> list[Path]:
    return list(cache.rglob("*.part"))


# ---------------------------------------------------------------------------------------------


def test_download_then_etag_304_reuses_the_cache(server: FeedServer, shared_data: Path, tmp_path: Path) -> None:
    body, _ = osv_zip(shared_data)
    server.file("/Go/all.zip", body)
    url = server.url("/Go/all.zip")
    with fetcher(tmp_path) as f:
        first = f.fetch(url)
        assert first.status == "downloaded" and first.size == len(body)
        assert first.path == tmp_path / "cache" / f"127.0.0.1_{server.httpd.server_port}" / "Go" / "all.zip"
        assert first.path.read_bytes() == body
        meta = json.loads(first.path.with_name("all.zip.fetchinfo").read_text())
        assert meta["url"] == url and meta["etag"].startswith('"') and meta["size"] == len(body)
        old = first.path.stat().st_mtime - 3600
        os.utime(first.path, (old, old))
        second = f.fetch(url)
    assert second.status == "not-modified" and second.path == first.path
    assert second.path.stat().st_mtime > old + 3000  # a 304 confirms the copy current as of now
    hits = server.hits("/Go/all.zip")
    assert "If-None-Match" not in hits[0] and hits[1]["If-None-Match"] == meta["etag"]
    assert kind_of(second) == "osv"


def test_last_modified_304_with_the_real_kev_catalog(server: FeedServer, shared_data: Path, tmp_path: Path) -> None:
    body = (shared_data / "kev" / "known_exploited_vulnerabilities.json").read_bytes()
    server.file("/kev.json", body, etag=False, last_modified=1_700_000_000)
    with fetcher(tmp_path) as f:
        assert f.fetch(server.url("/kev.json")).status == "downloaded"
        res = f.fetch(server.url("/kev.json"))
    assert res.status == "not-modified" and res.path.read_bytes() == body
    assert server.hits("/kev.json")[1]["If-Modified-Since"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert kind_of(res) == "kev"


def test_dropped_connection_keeps_the_previous_copy(server: FeedServer, shared_data: Path, tmp_path: Path) -> None:
    body, _ = osv_zip(shared_data)
    server.file("/Go/all.zip", body)
    url = server.url("/Go/all.zip")
    with fetcher(tmp_path) as f:
        good = f.fetch(url)
        sidecar = good.path.with_name("all.zip.fetchinfo").read_text()
        server.drop("/Go/all.zip", body[::-1])  # a new version, cut off half way
        with pytest.raises(FetchError) as exc:
            f.fetch(url)
    message = str(exc.value)
    assert message.startswith(f"cannot download {url}: ") and "\n" not in message
    assert good.path.read_bytes() == body  # the good copy survives, and its ETag with it
    assert good.path.with_name("all.zip.fetchinfo").read_text() == sidecar
    assert parts(tmp_path / "cache") == []


def test_size_cap_before_and_while_reading(server: FeedServer, tmp_path: Path) -> None:
    server.file("/big.json", b"{" + b" " * 50_000 + b"}")
    server.unsized("/stream", 200_000)
    with fetcher(tmp_path, max_bytes=10_000) as f:
        with pytest.raises(FetchError, match=r"50002 bytes, over the 10000-byte cap"):
            f.fetch(server.url("/big.json"))
        with pytest.raises(FetchError, match=r"body is over the 10000-byte cap"):
            f.fetch(server.url("/stream"))
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*")), "nothing is kept"


def test_retries_on_5xx_and_429(server: FeedServer, tmp_path: Path) -> None:
    server.statuses("/flaky", [500], b"{}")
    server.statuses("/busy", [429], b"[]", {"Retry-After": "0"})
    server.statuses("/down", [503] * 10, b"")
    with fetcher(tmp_path, retries=2) as f:
        assert f.fetch(server.url("/flaky")).path.read_bytes() == b"{}"
        assert f.fetch(server.url("/busy")).path.read_bytes() == b"[]"
        with pytest.raises(FetchError) as exc:
            f.fetch(server.url("/down"))
        with pytest.raises(FetchError, match="HTTP 404"):
            f.fetch(server.url("/missing"))
    assert len(server.hits("/flaky")) == 2 and len(server.hits("/busy")) == 2
    assert len(server.hits("/down")) == 3 and len(server.hits("/missing")) == 1  # 404 is not retried
    assert str(exc.value) == f"cannot download {server.url('/down')}: HTTP 503 Service Unavailable (after 3 attempts)"


def test_connection_refused_is_one_line(tmp_path: Path) -> None:
    srv = FeedServer()
    url = srv.url("/gone.zip")
    srv.close()  # nothing listens there any more
    with fetcher(tmp_path) as f, pytest.raises(FetchError) as exc:
        f.fetch(url)
    assert str(exc.value).startswith(f"cannot download {url}: ") and "\n" not in str(exc.value)


def test_offline_uses_only_the_cache(server: FeedServer, tmp_path: Path) -> None:
    server.file("/data.json", b'{"catalogVersion": "1", "vulnerabilities": []}')
    url = server.url("/data.json")
    with fetcher(tmp_path, offline=True) as f, pytest.raises(FetchError, match="offline, and there is no cached"):
        f.fetch(url)
    with fetcher(tmp_path) as f:
        f.fetch(url)
    with fetcher(tmp_path, offline=True) as f:
        res = f.fetch(url)
    assert res.status == "cached" and len(server.hits("/data.json")) == 1


def test_content_gets_a_suffix_and_a_query_a_hash(server: FeedServer, shared_data: Path, tmp_path: Path) -> None:
    body, _ = osv_zip(shared_data, 5)
    server.file("/download?id=7", body)
    with fetcher(tmp_path) as f:
        res = f.fetch(server.url("/download?id=7"))
        again = f.fetch(server.url("/download?id=7"))
    assert res.path.name.startswith("download-") and res.path.suffix == ".zip"
    assert again.status == "not-modified" and again.path == res.path
    assert kind_of(res) == "osv"


def test_sources_and_schemes() -> None:
    assert parse_source("/data/osv") == "/data/osv"
    assert parse_source("osv=/data/osv") == "osv=/data/osv"
    assert parse_source("file:///data/kev.json") == "/data/kev.json"
    assert parse_source("epss=file:///data/e%20s.csv.gz") == "epss=/data/e s.csv.gz"
    assert parse_source("https://example.org/Go/all.zip") == RemoteSource("https://example.org/Go/all.zip")
    assert parse_source("debian-tracker=http://h/json") == RemoteSource("http://h/json", "debian-tracker")
    for bad, needle in (
        ("ftp://example.org/all.zip", "unsupported URL scheme ftp://"),
        ("kev=gopher://h/x", "unsupported URL scheme gopher://"),
        ("file://otherhost/x", "must name a local path"),
        ("http:///nohost", "no host"),
        ("http://h:99999/x", "not a valid URL"),
    ):
        with pytest.raises(FetchError, match=needle):
            parse_source(bad)
    with Fetcher() as f, pytest.raises(FetchError, match="unsupported URL scheme"):
        f.fetch("ftp://example.org/all.zip")


def test_named_feeds() -> None:
    feeds = resolve_feeds(["osv:PyPI,osv:npm", "kev,osv:PyPI"])
    assert [f.name for f in feeds] == ["osv:PyPI", "osv:npm", "kev"]
    assert feeds[0].urls == ("https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip",)
    assert [f.kind for f in feeds] == ["osv", "osv", "kev"]
    assert FEEDS["debian-tracker"].urls == (DEBIAN_TRACKER_URL,) and FEEDS["debian-tracker"].kind == "debian-tracker"
    assert FEEDS["alpine:v3.20"].urls == (
        "https://secdb.alpinelinux.org/v3.20/main.json",
        "https://secdb.alpinelinux.org/v3.20/community.json",
    )
    assert FEEDS["epss"].urls == ("https://epss.cyentia.com/epss_scores-current.csv.gz",)
    assert "nvd" in FEEDS and not FEEDS["nvd"].default
    names = {f.name for f in default_feeds()}
    assert {"osv:PyPI", "osv:Go", "kev", "epss", "alpine:v3.20", "debian-tracker"} <= names
    assert [f.name for f in resolve_feeds(["default"])] == [f.name for f in default_feeds()]
    assert all(f.kind == "alpine" for f in resolve_feeds(["alpine"]))
    (hex_feed,) = resolve_feeds(["osv:Hex"])
    assert hex_feed.urls == ("https://osv-vulnerabilities.storage.googleapis.com/Hex/all.zip",)
    (edge,) = resolve_feeds(["alpine:v3.23"])
    assert edge.urls[0] == "https://secdb.alpinelinux.org/v3.23/main.json"
    with pytest.raises(FetchError, match="unknown feed 'kevv'"):
        resolve_feeds(["kev,kevv"])


def test_build_from_downloads_merges_alpine_releases(server: FeedServer, shared_data: Path, tmp_path: Path) -> None:
    # the secdb service publishes the same structure as JSON: serve the real YAML files as JSON
    for release in ("v3.10", "v3.11"):
        data = yaml.safe_load((shared_data / "alpine-secdb" / release / "main.yaml").read_text())
        server.file(f"/{release}/main.json", json.dumps(data).encode())
    body, count = osv_zip(shared_data)
    server.file("/Go/all.zip", body)
    downloads = []
    with fetcher(tmp_path) as f:
        for release in ("v3.10", "v3.11"):
            downloads.append(Downloaded("alpine", "alpine", f.fetch(server.url(f"/{release}/main.json"))))
        res = f.fetch(server.url("/Go/all.zip"))
        downloads.append(Downloaded(res.url, kind_of(res), res))
        with f.staging() as stage:
            sources = build_sources(downloads, stage)
            assert sources == [f"osv={res.path}", f"alpine={stage / 'alpine'}"]
            report = build_database(sources, tmp_path / "vuln.db")
        assert not stage.exists()
    assert report.feeds["osv"].records == count
    with VulnDB.open(tmp_path / "vuln.db") as db:
        releases = {
            r.affected.ecosystem_release
            for r in db.advisories_for("Alpine", "v3.10", "openssl") + db.advisories_for("Alpine", "v3.11", "openssl")
            if r.advisory_id == "CVE-2019-1547"
        }
    assert releases == {"v3.10", "v3.11"}  # both releases' rows for one CVE, not just the first file's


def test_nvd_feed_pages_the_api_and_swaps_the_cache_only_when_complete(server: FeedServer, tmp_path: Path) -> None:
    page = {
        "resultsPerPage": 1, "startIndex": 0, "totalResults": 1, "format": "NVD_CVE", "version": "2.0",
        "timestamp": "2025-08-25T12:00:00.000",
        "vulnerabilities": [{"cve": {
            "id": "CVE-2021-44228", "published": "2021-12-10T10:15:09.143", "lastModified": "2024-07-24T17:08:24.167",
            "vulnStatus": "Analyzed",
            "descriptions": [{"lang": "en", "value": "Apache Log4j2 JNDI features do not protect against ..."}],
        }}],
    }  # fmt: skip
    api = "/rest/json/cves/2.0"
    server.file(f"{api}?startIndex=0&resultsPerPage=2000", json.dumps(page).encode())
    nvd = Feed("nvd", "nvd", (server.url(api),))
    with fetcher(tmp_path) as f:
        (res,) = f.fetch_feed(nvd)
        assert res.status == "downloaded" and res.path == tmp_path / "cache" / "nvd" and res.size > 0
        report = build_database([f"nvd={res.path}"], tmp_path / "vuln.db")
        assert report.feeds["nvd"].records == 1
        before = sorted(p.read_bytes() for p in res.path.iterdir())
        server.statuses(f"{api}?startIndex=0&resultsPerPage=2000", [400] * 5, b"")
        with pytest.raises(FetchError, match=r"cannot fetch feed nvd from http://127\.0\.0\.1:") as exc:
            f.fetch_feed(nvd)
        assert "\n" not in str(exc.value)
        assert sorted(p.read_bytes() for p in res.path.iterdir()) == before  # the complete copy survives
        assert [p.name for p in (tmp_path / "cache").iterdir()] == ["nvd"]  # no half-fetched directory is left
    with fetcher(tmp_path, offline=True) as f:
        assert f.fetch_feed(nvd)[0].status == "cached"
