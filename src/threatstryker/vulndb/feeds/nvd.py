"""NVD CVE API 2.0 JSON: read saved response pages and data feed files into :class:`NvdCve` records,
and page through the CVE API to save them (:func:`fetch_api`).

Both forms share one envelope (https://nvd.nist.gov/developers/vulnerabilities)::

    {"resultsPerPage": 2000, "startIndex": 0, "totalResults": 1234, "format": "NVD_CVE",
     "version": "2.0", "timestamp": "...", "vulnerabilities": [{"cve": {...}}, ...]}

:func:`iter_records` reads a file (plain or gzip-compressed, told apart by its magic bytes) or a
directory of them (``*.json``/``*.json.gz`` at any depth, sorted) and yields one
:class:`NvdCve` per ``cve`` object, or an :class:`AdvisoryError` for a record or file that cannot
be read (it never raises for bad data): a malformed record is skipped and reported, a truncated
gzip or a file that is not an NVD 2.0 document is one error naming the file.

Each document is read whole and decoded with :func:`json.loads`: the yearly feed files are
50-100 MB of JSON and a page of the API is at most a few MB, so this is simpler than a streaming
parser and fast enough. Memory is bounded by :data:`MAX_DOCUMENT_BYTES` (1 GiB, compressed and
decompressed alike; a larger file is refused before it is read).

A CVSS metric whose vector the ``cvss`` library cannot read keeps the score NVD gives, or is
left out when there is none; either way a note goes to :attr:`NvdCve.warnings` and the record
is kept.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from ...model.finding import Cvss, severity_from_score
from ..advisory import AdvisoryError
from ..cvss import CvssError, normalise_word, parse_vector, v2_severity
from ._files import feed_files, read_feed_file

__all__ = [
    "DEFAULT_API_URL",
    "MAX_DOCUMENT_BYTES",
    "MAX_WINDOW",
    "AdvisoryError",
    "FetchError",
    "NvdCve",
    "fetch_api",
    "is_feed_name",
    "iter_records",
    "looks_like_nvd",
    "parse_cve",
]

#: The NVD CVE API 2.0 endpoint.
DEFAULT_API_URL = "https://services.nvd.nist.gov/rest/json/cves/2.0"
#: Largest document read, compressed or not (bytes).
MAX_DOCUMENT_BYTES = 1024**3
#: Longest ``lastModStartDate``..``lastModEndDate`` range the API accepts in one query.
MAX_WINDOW = timedelta(days=120)
#: Largest API response page kept (bytes); a 2000-CVE page is a few MB.
MAX_PAGE_BYTES = 256 * 1024**2
#: Longest wait before a retry (seconds), whatever ``Retry-After`` asks for.
MAX_BACKOFF = 120.0

#: NVD metric lists, newest CVSS version first (the order :attr:`NvdCve.cvss` keeps).
_METRIC_KEYS = ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2")
_CVE_RE = re.compile(r"CVE-\d{4}-\d{4,19}")
_CWE_RE = re.compile(r"CWE-\d{1,9}")
_FEED_NAME_RE = re.compile(r"nvdcve-2\.0-.+\.json(\.gz)?", re.IGNORECASE)
_GZIP_MAGIC = b"\x1f\x8b"
_RETRY_STATUS = (403, 429, 503)


class _Bad(Exception):
    """Internal: a field is malformed (turned into an AdvisoryError naming the record)."""


class FetchError(Exception):
    """The API could not be read; the message is one line meant for the user."""


@dataclass(frozen=True)
class NvdCve:
    """One CVE as NVD describes it.

    ``status`` is NVD's ``vulnStatus`` (``Analyzed``, ``Modified``, ``Awaiting Analysis``,
    ``Rejected``...); ``description`` the English one. ``cvss`` holds every readable metric,
    v4.0 first, then v3.1, v3.0, v2, each list in the order given; a metric's
    :attr:`Cvss.source` is ``nvd:<type>:<source>``, ``type`` being ``primary`` (scored by NVD)
    or ``secondary`` (by the CNA), ``source`` who scored it (``nvd@nist.gov``). Scores are the
    ones NVD gives, computed from the vector where NVD gives none. ``cwes`` are the
    ``CWE-n`` ids of ``weaknesses`` (``NVD-CWE-Other``/``NVD-CWE-noinfo`` dropped),
    ``references`` the reference URLs, both without repeats. ``warnings`` are one-line notes
    on metrics that could not be read as given. ``source`` names where the record was read
    (``path#index``).
    """

    id: str
    published: datetime | None
    modified: datetime | None
    status: str = ""
    description: str = ""
    cvss: tuple[Cvss, ...] = ()
    cwes: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = ""

    @property
    def rejected(self) -> bool:
        """Whether NVD marks the CVE rejected (a matcher should not report it)."""
        return self.status.strip().lower() == "rejected"

    @property
    def primary(self) -> tuple[Cvss, ...]:
        """The metrics of type ``Primary`` (NVD's own assessments), newest CVSS version first."""
        return tuple(c for c in self.cvss if c.source.startswith("nvd:primary:"))


# ---------------------------------------------------------------------------------------------
# one record


def parse_cve(data: Any, source: str = "") -> NvdCve:
    """Check and normalise one decoded ``cve`` object. Raises :class:`AdvisoryError` (naming
    ``source`` and the CVE id when there is one) when it is not an object, has no valid ``id``,
    a time that is not ISO 8601, or a field of the wrong type. Unknown fields are ignored."""
    if not isinstance(data, dict):
        raise AdvisoryError(f"'cve' is a {type(data).__name__}, not an object", source=source)
    raw_id = data.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise AdvisoryError("record has no string 'id'", source=source)
    cve_id = raw_id.strip().upper()
    if not _CVE_RE.fullmatch(cve_id):
        raise AdvisoryError(f"'id' is not a CVE id: {raw_id.strip()[:40]!r}", source=source)
    try:
        return _parse(data, cve_id, source)
    except _Bad as exc:
        raise AdvisoryError(str(exc), source=source, record_id=cve_id) from None


def _parse(data: dict[str, Any], cve_id: str, source: str) -> NvdCve:
    warnings: list[str] = []
    metrics = _object(data.get("metrics"), "metrics")
    cvss: list[Cvss] = []
    for key in _METRIC_KEYS:
        for i, metric in enumerate(_list(metrics.get(key), f"metrics.{key}")):
            item = _metric(_object(metric, f"metrics.{key}[{i}]"), f"metrics.{key}[{i}]", warnings)
            if item is not None:
                cvss.append(item)
    cwes: list[str] = []
    for i, weakness in enumerate(_list(data.get("weaknesses"), "weaknesses")):
        where = f"weaknesses[{i}].description"
        for text in _texts(_object(weakness, f"weaknesses[{i}]").get("description"), where).values():
            cwes.extend(v for v in text if _CWE_RE.fullmatch(v))
    refs: list[str] = []
    for i, ref in enumerate(_list(data.get("references"), "references")):
        url = _text(_object(ref, f"references[{i}]").get("url"), f"references[{i}].url")
        if url:
            refs.append(url)
    english = _texts(data.get("descriptions"), "descriptions").get("en", [])
    return NvdCve(
        id=cve_id,
        published=_time(data.get("published"), "published"),
        modified=_time(data.get("lastModified"), "lastModified"),
        status=_text(data.get("vulnStatus"), "vulnStatus"),
        description=english[0] if english else "",
        cvss=tuple(dict.fromkeys(cvss)),
        cwes=tuple(dict.fromkeys(cwes)),
        references=tuple(dict.fromkeys(refs)),
        warnings=tuple(warnings),
        source=source,
    )


def _metric(metric: dict[str, Any], where: str, warnings: list[str]) -> Cvss | None:
    data = _object(metric.get("cvssData"), f"{where}.cvssData")
    vector = _text(data.get("vectorString"), f"{where}.cvssData.vectorString")
    kind = _text(metric.get("type"), f"{where}.type").lower() or "unknown"
    origin = f"nvd:{kind}:{_text(metric.get('source'), f'{where}.source')}"
    score = _score(data.get("baseScore"), f"{where}.cvssData.baseScore")
    word = normalise_word(_text(data.get("baseSeverity") or metric.get("baseSeverity"), f"{where}.baseSeverity"))
    exploitability = _score(metric.get("exploitabilityScore"), f"{where}.exploitabilityScore")
    impact = _score(metric.get("impactScore"), f"{where}.impactScore")
    try:
        computed = parse_vector(vector)
    except CvssError as exc:
        if score is None or not vector:
            warnings.append(f"{where}: {exc}; metric left out")
            return None
        warnings.append(f"{where}: {exc}; the score NVD gives is kept")
        version = _text(data.get("version"), f"{where}.cvssData.version") or "unknown"
        if word == "unknown":
            word = v2_severity(score) if version.startswith("2") else severity_from_score(score)
        return Cvss(version, vector, score, word, exploitability, impact, origin)
    if score is None:
        score, word = computed.base_score, computed.severity
    elif abs(score - computed.base_score) > 0.05:
        warnings.append(f"{where}: NVD gives {score} but {vector} scores {computed.base_score}; NVD's score is kept")
    if word == "unknown":
        word = v2_severity(score) if computed.version == "2.0" else severity_from_score(score)
    return Cvss(
        computed.version,
        computed.vector,
        score,
        word,
        exploitability if exploitability is not None else computed.exploitability,
        impact if impact is not None else computed.impact,
        origin,
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"'{where}' is a {type(value).__name__}, not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"'{where}' is a {type(value).__name__}, not a list")
    return value


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"'{where}' is a {type(value).__name__}, not a string")
    return value.strip()


def _texts(value: Any, where: str) -> dict[str, list[str]]:
    """``[{"lang", "value"}, ...]`` -> values by language, in order, empty values dropped."""
    out: dict[str, list[str]] = {}
    for i, item in enumerate(_list(value, where)):
        entry = _object(item, f"{where}[{i}]")
        text = _text(entry.get("value"), f"{where}[{i}].value")
        if text:
            out.setdefault(_text(entry.get("lang"), f"{where}[{i}].lang").lower(), []).append(text)
    return out


def _score(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 10.0:
        raise _Bad(f"'{where}' is not a score from 0 to 10: {str(value)[:40]!r}")
    return float(value)


def _time(value: Any, where: str) -> datetime | None:
    text = _text(value, where)
    if not text:
        return None
    try:
        result = datetime.fromisoformat(text)
    except ValueError:
        raise _Bad(f"'{where}' is not an ISO 8601 time: {text[:40]!r}") from None
    return result if result.tzinfo is not None else result.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# files


def is_feed_name(name: str) -> bool:
    """Whether a file name is one of NVD's 2.0 data feed names (``nvdcve-2.0-2024.json.gz``)."""
    return bool(_FEED_NAME_RE.fullmatch(name))


def looks_like_nvd(head: bytes) -> bool:
    """Whether the first bytes of a document (plain, or the start of a gzip stream) are those
    of an NVD CVE 2.0 envelope: ``"format": "NVD_CVE"`` comes before the records."""
    if head.startswith(_GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
        except zlib.error:
            return False
    return re.search(rb'"format"\s*:\s*"NVD_CVE"', head) is not None


def iter_records(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_DOCUMENT_BYTES
) -> Iterator[NvdCve | AdvisoryError]:
    """Yield every CVE of an NVD 2.0 file or directory as an :class:`NvdCve`, or an
    :class:`AdvisoryError` for each record or file that cannot be read (never raises for bad
    data). Records keep the order of the files (sorted) and of each file."""
    root = Path(path)
    if root.is_dir():
        files = feed_files(root, lambda name: name.lower().endswith((".json", ".json.gz")))
        if not files:
            yield AdvisoryError("no NVD JSON files (*.json, *.json.gz) in the directory", source=str(root))
            return
        base = root
    elif root.exists() or root.is_symlink():
        files, base = [root], Path(os.path.realpath(root)).parent
    else:
        yield AdvisoryError("no such file or directory", source=str(root))
        return
    for file in files:
        try:
            items = _load(file, base, max_bytes)
        except AdvisoryError as exc:
            yield exc
            continue
        for i, item in enumerate(items):
            items[i] = None  # let each record go once read: a feed file holds tens of thousands
            where = f"{file}#{i}"
            if not isinstance(item, dict) or "cve" not in item:
                yield AdvisoryError("item is not an object with a 'cve' member", source=where)
                continue
            try:
                yield parse_cve(item["cve"], where)
            except AdvisoryError as exc:
                yield exc


def _load(file: Path, root: Path, max_bytes: int) -> list[Any]:
    """The ``vulnerabilities`` list of one document."""
    source = str(file)
    raw = read_feed_file(file, root, max_bytes)
    if raw.startswith(_GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
                raw = stream.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise AdvisoryError(f"truncated or damaged gzip file: {_first_line(exc)}", source=source) from None
        if len(raw) > max_bytes:
            raise AdvisoryError(f"decompresses to over the {max_bytes}-byte cap", source=source)
    if not raw.strip():
        raise AdvisoryError("file is empty", source=source)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise AdvisoryError("document is nested too deeply", source=source) from None
    except ValueError as exc:
        raise AdvisoryError(f"not valid JSON: {_first_line(exc)}", source=source) from None
    del raw
    return _envelope(data, source)


def _envelope(data: Any, source: str) -> list[Any]:
    if not isinstance(data, dict):
        raise AdvisoryError(f"document is a {type(data).__name__}, not an NVD CVE object", source=source)
    if "CVE_Items" in data:
        raise AdvisoryError("this is an NVD 1.1 feed (CVE_Items); only NVD 2.0 JSON is read", source=source)
    fmt = data.get("format")
    if fmt is not None and fmt != "NVD_CVE":
        raise AdvisoryError(f"'format' is {str(fmt)[:40]!r}, not 'NVD_CVE'", source=source)
    version = data.get("version")
    if version is not None and not (isinstance(version, str) and version.startswith("2.")):
        raise AdvisoryError(f"NVD JSON version {str(version)[:20]!r}; only 2.x is read", source=source)
    items = data.get("vulnerabilities")
    if not isinstance(items, list):
        raise AdvisoryError("document has no 'vulnerabilities' list", source=source)
    return items


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# the API


def fetch_api(
    base_url: str,
    dest_dir: str | os.PathLike[str],
    *,
    api_key: str | None = None,
    last_mod_start: datetime | None = None,
    last_mod_end: datetime | None = None,
    page_size: int = 2000,
    pause: float = 6.0,
    max_retries: int = 5,
    timeout: float = 60.0,
) -> list[Path]:
    """Page through the CVE API at ``base_url`` and save each response page as
    ``nvd-api-NNNNN.json`` in ``dest_dir`` (created when missing); returns the files written,
    in order. :func:`iter_records` reads them back.

    Without dates every CVE is fetched; with ``last_mod_start`` only those modified since then
    (until ``last_mod_end``, default now), asked for in windows of at most :data:`MAX_WINDOW`
    as the API requires. Naive times are taken as UTC. ``api_key`` goes in the ``apiKey``
    header. NVD asks clients to wait about 6 s between requests: ``pause`` seconds are waited
    before every request but the first. A 403, 429 or 503 response or a network error is
    retried up to ``max_retries`` times, waiting ``pause * 2**n`` seconds (or what
    ``Retry-After`` asks), at most :data:`MAX_BACKOFF`. Raises :class:`FetchError` (one line)
    when the API cannot be read; pages saved before that stay in ``dest_dir``.
    """
    if not 1 <= page_size <= 2000:
        raise FetchError(f"page size {page_size} is outside 1..2000 (the API's limit)")
    if pause < 0 or max_retries < 0 or timeout <= 0:
        raise FetchError("pause and max_retries must not be negative, timeout must be positive")
    windows = _windows(last_mod_start, last_mod_end)
    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {dest}: {exc.strerror or exc}") from None
    headers = {"apiKey": api_key} if api_key else {}
    written: list[Path] = []
    first = True
    with httpx.Client(timeout=timeout, headers=headers) as client:
        for window in windows:
            start_index, total = 0, None
            while total is None or start_index < total:
                params: dict[str, str | int] = {"startIndex": start_index, "resultsPerPage": page_size}
                if window is not None:
                    params["lastModStartDate"], params["lastModEndDate"] = (_api_time(t) for t in window)
                if not first:
                    time.sleep(pause)
                first = False
                raw = _get(client, base_url, params, pause, max_retries)
                count, total = _check_page(raw, base_url, start_index)
                file = dest / f"nvd-api-{len(written) + 1:05d}.json"
                _write(file, raw)
                written.append(file)
                if count == 0:
                    break
                start_index += count
    return written


def _windows(start: datetime | None, end: datetime | None) -> list[tuple[datetime, datetime] | None]:
    if start is None:
        if end is not None:
            raise FetchError("an end of the last-modified range needs a start too")
        return [None]
    start = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
    end = datetime.now(UTC) if end is None else end if end.tzinfo is not None else end.replace(tzinfo=UTC)
    if end < start:
        raise FetchError(f"last-modified range ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    out: list[tuple[datetime, datetime] | None] = []
    while True:
        stop = min(start + MAX_WINDOW, end)
        out.append((start, stop))
        if stop >= end:
            return out
        start = stop


def _api_time(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+00:00"


def _get(client: httpx.Client, url: str, params: dict[str, str | int], pause: float, max_retries: int) -> bytes:
    attempt = 0
    while True:
        problem: str
        retry_after: float | None = None
        try:
            with client.stream("GET", url, params=params) as response:
                if response.status_code == 200:
                    return _body(response, url)
                problem = f"HTTP {response.status_code}"
                message = " ".join(response.headers.get("message", "").split())[:200]
                if message:
                    problem += f" ({message})"
                if response.status_code not in _RETRY_STATUS:
                    raise FetchError(f"NVD API {url} answered {problem} for startIndex {params['startIndex']}")
                retry_after = _retry_after(response.headers.get("retry-after"))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise FetchError(f"bad NVD API URL {url!r}: {_first_line(exc)}") from None
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {_first_line(exc)}"
        except httpx.HTTPError as exc:
            raise FetchError(f"NVD API {url} cannot be read: {_first_line(exc)}") from None
        if attempt >= max_retries:
            raise FetchError(f"NVD API {url} still failing after {max_retries} retries: {problem}")
        delay = pause * 2**attempt
        time.sleep(min(max(delay, retry_after or 0.0), MAX_BACKOFF))
        attempt += 1


def _body(response: httpx.Response, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_PAGE_BYTES:
            raise FetchError(f"NVD API {url} sent a page over {MAX_PAGE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _check_page(raw: bytes, url: str, start_index: int) -> tuple[int, int]:
    """``(records on the page, totalResults)``; FetchError when it is not an NVD CVE page."""
    where = f"NVD API {url} page at startIndex {start_index}"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise FetchError(f"{where} is not valid JSON: {_first_line(exc)}") from None
    try:
        items = _envelope(data, where)
    except AdvisoryError as exc:
        raise FetchError(str(exc)) from None
    total = data.get("totalResults")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise FetchError(f"{where} has no 'totalResults' count")
    return len(items), total


def _write(file: Path, raw: bytes) -> None:
    tmp = file.with_name(f".{file.name}.tmp")
    try:
        tmp.write_bytes(raw)
        os.replace(tmp, file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FetchError(f"cannot write {file}: {exc.strerror or exc}") from None
