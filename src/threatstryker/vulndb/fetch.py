"""Download vulnerability feeds into a local cache, ready for :func:`~threatstryker.vulndb.build.build_database`.

:class:`Fetcher` downloads one ``http://``/``https://`` URL to a file under the cache directory
(default :data:`DEFAULT_CACHE`), which mirrors the URL (``<cache>/<host>/<path>``):

* the body is streamed to a temporary file next to the cached copy and renamed over it only when
  complete -- a body shorter than its ``Content-Length``, a dropped connection, a timeout or a body
  over the size cap (:data:`MAX_BYTES`) leaves the previous copy as it was;
* the ``ETag``/``Last-Modified`` of a download are kept in a small JSON sidecar
  (``<file>.fetchinfo``), and the next request is conditional: ``304 Not Modified`` reuses the
  cached copy (its modification time is set to now: the data is known current);
* a ``429`` or ``5xx`` answer is retried :data:`RETRIES` times, waiting ``Retry-After`` (capped) or
  an exponential back-off; every other failure is a :class:`FetchError` at once;
* proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``...; httpx ``trust_env``);
* a body that is a zip or gzip file but whose URL does not say so gets a ``.zip``/``.gz`` suffix,
  so that the feed readers (and :func:`~threatstryker.vulndb.build.detect_kind`) recognise it.

:data:`FEEDS` names the official feeds (``osv:PyPI``, ``kev``, ``epss``, ``alpine:v3.20``,
``debian-tracker``, ``nvd``...), each with its URLs and build kind; :func:`resolve_feeds` turns
``"osv:PyPI,osv:npm,kev"`` into feeds (any ``osv:<ECOSYSTEM>`` and ``alpine:vX.Y`` work, and the
groups ``default``, ``osv`` and ``alpine``). :func:`parse_source` reads a ``--from`` value: a path,
``kind=path``, a ``file://`` URL (a path), or an ``http(s)://`` URL, optionally ``kind=URL``;
any other scheme is refused. :func:`build_sources` turns the downloads into ``kind=path`` sources
(the Alpine files of one run are linked into one staging directory, so that the Alpine reader
merges what each release says about the same CVE).

The ``nvd`` feed is not a file download: it pages the CVE API with
``threatstryker.vulndb.feeds.nvd.fetch_api(url, dir, api_key=$NVD_API_KEY)`` into a fresh directory
that replaces ``<cache>/nvd`` only when every page arrived. Without an API key a full download takes
a long time (the API asks for a pause between requests), so ``nvd`` is not in the default set.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import importlib
import json
import os
import re
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .. import __version__
from .build import detect_kind

__all__ = [
    "DEFAULT_CACHE",
    "FEEDS",
    "MAX_BYTES",
    "RETRIES",
    "Downloaded",
    "Feed",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "RemoteSource",
    "build_sources",
    "default_feeds",
    "parse_source",
    "resolve_feeds",
]

#: Where downloads are kept unless told otherwise.
DEFAULT_CACHE = "~/.cache/threatstryker/feeds"
#: Largest body accepted (bytes); the biggest default feed (the Debian tracker export) is about 70 MB.
MAX_BYTES = 1024 * 1024 * 1024
#: Retries after a ``429`` or ``5xx`` answer (so at most ``RETRIES + 1`` requests per URL).
RETRIES = 3
#: First back-off (seconds), doubled on each retry.
BACKOFF = 1.0
#: Longest ``Retry-After`` honoured (seconds).
MAX_RETRY_AFTER = 60.0
#: Connect and read timeouts (seconds).
TIMEOUT = httpx.Timeout(60.0, connect=15.0)

OSV_BUCKET = "https://osv-vulnerabilities.storage.googleapis.com"
KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
EPSS_URL = "https://epss.cyentia.com/epss_scores-current.csv.gz"
ALPINE_SECDB = "https://secdb.alpinelinux.org"
DEBIAN_TRACKER_URL = "https://security-tracker.debian.org/tracker/data/json"
NVD_API_URL = "https://services.nvd.nist.gov/rest/json/cves/2.0"
#: The environment variable an NVD API key is read from (the API is much slower without one).
NVD_API_KEY_ENV = "NVD_API_KEY"

_SIDECAR = ".fetchinfo"
_RETRY_STATUS = frozenset({429, *range(500, 600)})
_CHUNK = 1024 * 1024
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_KIND_VALUE = re.compile(r"^(?P<kind>[a-z]+(?:-[a-z]+)*)=(?P<value>.+)$")
_OSV_NAME = re.compile(r"^osv:(?P<eco>[A-Za-z0-9][A-Za-z0-9 .:_+-]*)$")
_ALPINE_NAME = re.compile(r"^alpine:(?P<release>v\d+\.\d+|edge)$")
_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._+-]")
#: Kinds whose downloads are read as one directory (the reader merges records across files).
_MERGED_KINDS = frozenset({"alpine"})


class FetchError(Exception):
    """A download failed or a source is not acceptable; one line naming the URL and the problem."""


# ---------------------------------------------------------------------------------------------
# the named feeds


@dataclass(frozen=True)
class Feed:
    """A named feed: where it is downloaded from and which build kind reads it."""

    name: str
    kind: str
    urls: tuple[str, ...]
    default: bool = False


def _osv(ecosystem: str, default: bool = False) -> Feed:
    url = f"{OSV_BUCKET}/{urllib.parse.quote(ecosystem)}/all.zip"
    return Feed(f"osv:{ecosystem}", "osv", (url,), default)


def _alpine(release: str, default: bool = False) -> Feed:
    urls = tuple(f"{ALPINE_SECDB}/{release}/{repo}.json" for repo in ("main", "community"))
    return Feed(f"alpine:{release}", "alpine", urls, default)


#: The known feeds by name; ``default`` ones make the set ``db update`` downloads when given no source.
FEEDS: dict[str, Feed] = {
    f.name: f
    for f in (
        *(_osv(e, True) for e in ("PyPI", "npm", "Go", "Maven", "crates.io", "RubyGems", "NuGet", "Packagist")),
        *(_osv(e) for e in ("Pub", "Hex", "SwiftURL", "Debian", "Ubuntu", "Alpine")),
        Feed("kev", "kev", (KEV_URL,), True),
        Feed("epss", "epss", (EPSS_URL,), True),
        *(_alpine(r, True) for r in ("v3.18", "v3.19", "v3.20", "v3.21", "v3.22")),
        Feed("debian-tracker", "debian-tracker", (DEBIAN_TRACKER_URL,), True),
        Feed("nvd", "nvd", (NVD_API_URL,)),
    )
}


def default_feeds() -> list[Feed]:
    """The feeds downloaded when ``db update`` is given no source."""
    return [f for f in FEEDS.values() if f.default]


def resolve_feeds(specs: Iterable[str]) -> list[Feed]:
    """Feeds from comma-separated names (``"osv:PyPI,osv:npm,kev"``), in order, without repeats.
    Besides :data:`FEEDS`, any ``osv:<ECOSYSTEM>`` and ``alpine:vX.Y`` are accepted, and the groups
    ``default``, ``osv`` and ``alpine`` (the default feeds of that kind). :class:`FetchError` for an
    unknown name."""
    out: dict[str, Feed] = {}
    for spec in specs:
        for name in (n.strip() for n in spec.split(",")):
            if not name:
                continue
            if name == "default" or name in ("osv", "alpine"):
                found = [f for f in default_feeds() if name == "default" or f.kind == name]
            elif name in FEEDS:
                found = [FEEDS[name]]
            elif m := _OSV_NAME.match(name):
                found = [_osv(m["eco"])]
            elif m := _ALPINE_NAME.match(name):
                found = [_alpine(m["release"])]
            else:
                known = ", ".join(["default", "osv", "alpine", *FEEDS])
                raise FetchError(f"unknown feed {name!r} (one of {known}, osv:<ECOSYSTEM>, alpine:vX.Y)")
            out.update((f.name, f) for f in found)
    return list(out.values())


# ---------------------------------------------------------------------------------------------
# sources


@dataclass(frozen=True)
class RemoteSource:
    """A ``--from`` URL, with the build kind when given as ``kind=URL``."""

    url: str
    kind: str | None = None


def parse_source(text: str) -> str | RemoteSource:
    """A ``--from`` value: a :class:`RemoteSource` for an ``http(s)://`` URL (or ``kind=URL``), the
    path (keeping any ``kind=``) for a path or a ``file://`` URL; :class:`FetchError` for another scheme."""
    match = _KIND_VALUE.match(text)
    kind, value = (match["kind"], match["value"]) if match and _SCHEME.match(match["value"]) else (None, text)
    scheme = _SCHEME.match(value)
    if scheme is None:
        return text
    name = scheme["scheme"].lower()
    if name in ("http", "https"):
        check_url(value)
        return RemoteSource(value, kind)
    if name == "file":
        parts = urllib.parse.urlsplit(value)
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"{value}: a file:// URL must name a local path (no host)")
        path = urllib.parse.unquote(parts.path)
        return f"{kind}={path}" if kind else path
    raise FetchError(f"{value}: unsupported URL scheme {name}:// (only http://, https://, or a local path)")


def check_url(url: str) -> None:
    """:class:`FetchError` unless ``url`` is an ``http://``/``https://`` URL with a host."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise FetchError(f"{url}: not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"{url}: unsupported URL scheme (only http:// and https://)")
    if not parts.hostname:
        raise FetchError(f"{url}: no host in the URL")


# ---------------------------------------------------------------------------------------------
# downloading


@dataclass(frozen=True)
class FetchResult:
    """One URL in the cache: ``status`` is ``downloaded`` (a new body), ``not-modified`` (304, the
    cached copy reused) or ``cached`` (offline, the cached copy used as it was)."""

    url: str
    path: Path
    status: str
    size: int


class Fetcher:
    """Downloads URLs into a cache directory; use as a context manager (it holds one HTTP client).

    ``offline`` never touches the network: a URL is served from the cache or is an error."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        max_bytes: int = MAX_BYTES,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        timeout: float | httpx.Timeout = TIMEOUT,
        offline: bool = False,
    ) -> None:
        self.cache_dir = Path(os.path.expanduser(os.fspath(cache_dir or DEFAULT_CACHE)))
        self.max_bytes = max_bytes
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.offline = offline
        self._client: httpx.Client | None = None

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.timeout,
                follow_redirects=True,
                max_redirects=5,
                trust_env=True,
                headers={"User-Agent": f"threatstryker/{__version__}"},
            )
        return self._client

    # -- where things go --------------------------------------------------------------------------

    def cache_path(self, url: str) -> Path:
        """The cached copy's base path for ``url``: ``<cache>/<host[_port]>/<path segments>``, each
        segment reduced to safe characters; a query string adds a short hash to the name."""
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "host") + (f"_{parts.port}" if parts.port else "")
        segments = [_safe(s) for s in urllib.parse.unquote(parts.path).split("/") if s]
        if not segments or parts.path.endswith("/"):
            segments.append("index")
        if parts.query:
            digest = hashlib.sha256(parts.query.encode()).hexdigest()[:12]
            segments[-1] = f"{segments[-1]}-{digest}"
        return self.cache_dir.joinpath(_safe(host), *segments)

    # -- one URL ----------------------------------------------------------------------------------

    def fetch(self, url: str) -> FetchResult:
        """Bring ``url`` into the cache and say where it is; :class:`FetchError` (one line naming
        the URL) when it cannot be, the previous cached copy left as it was."""
        check_url(url)
        base = self.cache_path(url)
        meta = _read_meta(base)
        name = Path(meta["file"]).name if isinstance(meta.get("file"), str) else ""
        cached = base.with_name(name) if name else base
        if not cached.is_file():
            cached, meta = base, {}
        if self.offline:
            if not cached.is_file():
                raise FetchError(f"cannot download {url}: offline, and there is no cached copy at {base}")
            return FetchResult(url, cached, "cached", cached.stat().st_size)
        headers: dict[str, str] = {}
        if cached.is_file() and meta.get("url") == url:
            if isinstance(meta.get("etag"), str):
                headers["If-None-Match"] = meta["etag"]
            if isinstance(meta.get("last_modified"), str):
                headers["If-Modified-Since"] = meta["last_modified"]
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            return self._get(url, base, cached, headers, meta)
        except httpx.TimeoutException as exc:
            raise FetchError(f"cannot download {url}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"cannot download {url}: {_first_line(exc) or type(exc).__name__}") from None
        except OSError as exc:
            raise FetchError(f"cannot download {url}: cannot write the cache: {exc.strerror or exc}") from None

    def _get(self, url: str, base: Path, cached: Path, headers: dict[str, str], meta: dict[str, Any]) -> FetchResult:
        for attempt in range(self.retries + 1):
            with self.client.stream("GET", url, headers=headers) as resp:
                code = resp.status_code
                if code == 304 and headers:
                    os.utime(cached)
                    _write_meta(base, {**meta, "checked_at": _now()})
                    return FetchResult(url, cached, "not-modified", cached.stat().st_size)
                if code in _RETRY_STATUS and attempt < self.retries:
                    delay = _retry_after(resp.headers.get("Retry-After"), self.backoff * 2**attempt)
                    resp.close()
                    time.sleep(delay)
                    continue
                if code != 200:
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise FetchError(f"cannot download {url}: HTTP {code} {resp.reason_phrase}{tries}".rstrip())
                return self._save(url, base, resp)
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    def _save(self, url: str, base: Path, resp: httpx.Response) -> FetchResult:
        length = _content_length(resp)
        if length is not None and length > self.max_bytes:
            raise FetchError(f"cannot download {url}: {length} bytes, over the {self.max_bytes}-byte cap")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{base.name}.", suffix=".part", dir=base.parent)
        tmp = Path(tmp_name)
        try:
            written = 0
            with os.fdopen(fd, "wb") as fh:
                for chunk in resp.iter_bytes(_CHUNK):
                    written += len(chunk)
                    if written > self.max_bytes:
                        raise FetchError(f"cannot download {url}: body is over the {self.max_bytes}-byte cap")
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            if length is not None and resp.num_bytes_downloaded != length:
                raise FetchError(
                    f"cannot download {url}: body ended after {resp.num_bytes_downloaded} of {length} bytes"
                )
            final = base.with_name(base.name + _suffix_for(tmp, base.name))
            # the sidecar goes first: a crash between the two renames must not pair a new ETag with old data
            with contextlib.suppress(FileNotFoundError):
                base.with_name(base.name + _SIDECAR).unlink()
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _write_meta(
            base,
            {
                "url": url,
                "file": final.name,
                "etag": resp.headers.get("ETag"),
                "last_modified": resp.headers.get("Last-Modified"),
                "content_type": resp.headers.get("Content-Type"),
                "size": written,
                "fetched_at": _now(),
            },
        )
        return FetchResult(url, final, "downloaded", written)

    # -- named feeds ------------------------------------------------------------------------------

    def fetch_feed(self, feed: Feed) -> list[FetchResult]:
        """Bring every URL of a named feed into the cache (``nvd`` through the NVD reader's own API client)."""
        if feed.kind == "nvd":
            return [self._fetch_nvd(feed)]
        return [self.fetch(url) for url in feed.urls]

    def _fetch_nvd(self, feed: Feed) -> FetchResult:
        """Page the NVD CVE API into a fresh directory and swap it for ``<cache>/nvd`` only when complete."""
        dest = self.cache_dir / "nvd"
        if self.offline:
            if not dest.is_dir():
                raise FetchError(f"cannot fetch feed nvd: offline, and there is no cached copy at {dest}")
            return FetchResult(feed.urls[0], dest, "cached", _tree_size(dest))
        fetch_api = _nvd_fetch_api()
        if fetch_api is None:
            raise FetchError("cannot fetch feed nvd: this ThreatStryker has no NVD API client (feeds.nvd.fetch_api)")
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fresh = Path(tempfile.mkdtemp(prefix=".nvd-", dir=self.cache_dir))
        except OSError as exc:
            raise FetchError(f"cannot fetch feed nvd: cannot write the cache: {exc.strerror or exc}") from None
        try:
            fetch_api(feed.urls[0], fresh, api_key=os.environ.get(NVD_API_KEY_ENV) or None)
            old = fresh.with_name(fresh.name + "-old")
            if dest.exists():
                os.rename(dest, old)
            os.rename(fresh, dest)
            shutil.rmtree(old, ignore_errors=True)
        except Exception as exc:  # the NVD client's own one-line errors, and OSError
            shutil.rmtree(fresh, ignore_errors=True)
            raise FetchError(f"cannot fetch feed nvd from {feed.urls[0]}: {_first_line(exc)}") from None
        return FetchResult(feed.urls[0], dest, "downloaded", _tree_size(dest))

    # -- staging ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A temporary directory inside the cache (for :func:`build_sources`), removed afterwards."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=self.cache_dir))
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _nvd_fetch_api() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("threatstryker.vulndb.feeds.nvd")
    except ImportError:
        return None
    fn = getattr(module, "fetch_api", None)
    return fn if callable(fn) else None


# ---------------------------------------------------------------------------------------------
# from downloads to build sources


@dataclass(frozen=True)
class Downloaded:
    """A download and what it is for: ``feed`` names it (a feed name, or the URL), ``kind`` is the
    build kind (given, from the feed table, or detected from the file)."""

    feed: str
    kind: str
    result: FetchResult


def kind_of(result: FetchResult, given: str | None = None) -> str:
    """The build kind of a downloaded file: ``given``, else detected like a local file;
    :class:`FetchError` when it cannot be told."""
    if given:
        return given
    kind = detect_kind(result.path)
    if kind is None:
        raise FetchError(f"cannot tell what feed {result.url} is; name it as kind=URL")
    return kind


def build_sources(downloads: Sequence[Downloaded], stage: Path) -> list[str]:
    """``kind=path`` sources for :func:`~threatstryker.vulndb.build.build_database`: one per download,
    except that the downloads of a kind whose reader merges files (Alpine) are hard-linked (or
    copied) into one directory under ``stage`` and given as that directory."""
    sources: list[str] = []
    merged: dict[str, list[Path]] = {}
    for item in downloads:
        if item.kind in _MERGED_KINDS:
            merged.setdefault(item.kind, []).append(item.result.path)
        else:
            sources.append(f"{item.kind}={item.result.path}")
    for kind, paths in merged.items():
        if len(paths) == 1:
            sources.append(f"{kind}={paths[0]}")
            continue
        folder = stage / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(paths):
            link = folder / f"{i:03d}-{path.parent.name}-{path.name}"
            try:
                os.link(path, link)
            except OSError:
                shutil.copy2(path, link)
        newest = max(p.stat().st_mtime for p in paths)
        os.utime(folder, (newest, newest))  # the build dates a feed by its sources' modification times
        sources.append(f"{kind}={folder}")
    return sources


# ---------------------------------------------------------------------------------------------
# helpers


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _safe(segment: str) -> str:
    cleaned = _SAFE_SEGMENT.sub("_", segment)[:120]
    return "_" if cleaned in ("", ".", "..") else cleaned


def _suffix_for(path: Path, name: str) -> str:
    """``.zip``/``.gz`` when the body is one but ``name`` does not say so."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    lower = name.lower()
    if magic.startswith(b"PK\x03\x04") and not lower.endswith(".zip"):
        return ".zip"
    if magic.startswith(b"\x1f\x8b") and not lower.endswith(".gz"):
        return ".gz"
    return ""


def _content_length(resp: httpx.Response) -> int | None:
    value = resp.headers.get("Content-Length")
    if value is None or "," in value:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


def _retry_after(value: str | None, fallback: float) -> float:
    if value:
        value = value.strip()
        if value.isdigit():
            return min(float(value), MAX_RETRY_AFTER)
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, min((when - datetime.now(UTC)).total_seconds(), MAX_RETRY_AFTER))
    return min(fallback, MAX_RETRY_AFTER)


def _read_meta(base: Path) -> dict[str, Any]:
    try:
        data = json.loads(base.with_name(base.name + _SIDECAR).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_meta(base: Path, meta: dict[str, Any]) -> None:
    sidecar = base.with_name(base.name + _SIDECAR)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{sidecar.name}.", suffix=".part", dir=base.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({k: v for k, v in meta.items() if v is not None}, fh, indent=1, sort_keys=True)
        os.replace(tmp_name, sidecar)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
