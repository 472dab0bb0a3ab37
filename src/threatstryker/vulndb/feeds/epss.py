"""Stream FIRST EPSS daily score files (https://www.first.org/epss/) into :class:`EpssScore` objects.

The daily file (``epss_scores-YYYY-MM-DD.csv.gz``, about 270,000 rows) is a CSV, usually
gzip-compressed, that starts with a comment line such as
``#model_version:v2025.03.14,score_date:2025-03-15T00:00:00+0000``, then the header
``cve,epss,percentile``, then one row per CVE.

:func:`open_scores` opens a file (plain or gzip, told apart by its magic bytes), reads the
comment and header lines, and returns an :class:`EpssReader` whose iteration streams the rows:
only one line is held at a time, so memory does not grow with the file. Each row is yielded as
an :class:`EpssScore`, or as an :class:`AdvisoryError` when it cannot be read (a bad CVE id, a
value that is not a number or is outside 0..1), so a caller can record the error and go on.
:func:`iter_scores` does the same and never raises.

Hostile input is bounded: a line longer than :data:`MAX_LINE_BYTES` is an error (it is skipped
without being held in memory), reading stops with an error after :data:`MAX_ROWS` rows (a
decompression bomb cannot run forever), and only regular files are read.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import re
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from ..advisory import AdvisoryError

__all__ = ["MAX_LINE_BYTES", "MAX_ROWS", "AdvisoryError", "EpssReader", "EpssScore", "iter_scores", "open_scores"]

#: Longest line read (bytes); a real row is about 30 bytes.
MAX_LINE_BYTES = 4096
#: Most data rows read from one file (the real file has about 270,000).
MAX_ROWS = 10_000_000

_CVE_RE = re.compile(r"CVE-\d{4}-\d{4,19}")
_NAME_DATE_RE = re.compile(r"epss_scores-(\d{4}-\d{2}-\d{2})\.csv(?:\.gz)?$", re.IGNORECASE)
_GZIP_MAGIC = b"\x1f\x8b"
_REQUIRED = ("cve", "epss", "percentile")
# What reading a damaged gzip stream can raise.
_GZIP_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True, slots=True)
class EpssScore:
    """One CVE's score: ``probability`` (the EPSS score, the chance of exploitation activity in
    the next 30 days) and ``percentile`` (its rank among all scored CVEs), both in 0..1."""

    cve_id: str
    probability: float
    percentile: float


class EpssReader:
    """An open EPSS file; iterate it for :class:`EpssScore` / :class:`AdvisoryError` items.

    ``model_version`` and ``score_date`` come from the comment line; when there is none (or it
    lacks them) ``model_version`` is ``None`` and ``score_date`` is taken from a file name of the
    form ``epss_scores-YYYY-MM-DD.csv[.gz]`` (midnight UTC), else ``None``. ``metadata`` holds
    every ``key:value`` of the comment line as given. ``rows`` counts the data lines read so far.
    Use it as a context manager, or call :meth:`close`. It can be iterated once.
    """

    def __init__(
        self,
        handle: io.BufferedIOBase,
        source: str,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_rows: int = MAX_ROWS,
        underlying: io.BufferedIOBase | None = None,
    ) -> None:
        self._handle = handle
        self._underlying = underlying
        self.source = source
        self.max_line_bytes = max_line_bytes
        self.max_rows = max_rows
        self.metadata: dict[str, str] = {}
        self.model_version: str | None = None
        self.score_date: datetime | None = None
        self.rows = 0
        self._line_no = 0
        self._columns: tuple[int, int, int] = (0, 1, 2)
        self._started = False
        try:
            self._read_preamble()
        except BaseException:
            self.close()
            raise

    # -- preamble -------------------------------------------------------------------------------

    def _read_preamble(self) -> None:
        line = self._next_line()
        while line is not None and not line.strip():
            line = self._next_line()
        if line is None:
            raise AdvisoryError("file is empty", source=self.source)
        if line.startswith(b"#"):
            self._read_comment(line)
            line = self._next_line()
            if line is None:
                raise AdvisoryError("file has a comment line but no header", source=self.source)
        names = [n.strip().lower() for n in self._decode(line, "header").split(",")]
        missing = [n for n in _REQUIRED if n not in names]
        if missing:
            raise AdvisoryError(
                f"line {self._line_no}: header {','.join(names)[:80]!r} lacks {', '.join(missing)}",
                source=self.source,
            )
        cve, epss, percentile = (names.index(n) for n in _REQUIRED)
        self._columns = (cve, epss, percentile)
        if self.score_date is None:
            match = _NAME_DATE_RE.search(Path(self.source).name)
            if match:
                with contextlib.suppress(ValueError):
                    self.score_date = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)

    def _read_comment(self, line: bytes) -> None:
        text = self._decode(line, "comment line").lstrip("#").strip()
        for part in text.split(","):
            key, sep, value = part.partition(":")
            if sep and key.strip():
                self.metadata[key.strip()] = value.strip()
        self.model_version = self.metadata.get("model_version") or None
        raw_date = self.metadata.get("score_date")
        if raw_date:
            try:
                parsed = datetime.fromisoformat(raw_date)
            except ValueError:
                parsed = None
            if parsed is not None:
                self.score_date = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

    def _decode(self, line: bytes, what: str) -> str:
        if len(line) > self.max_line_bytes:
            raise AdvisoryError(f"line {self._line_no}: {what} is over {self.max_line_bytes} bytes", source=self.source)
        try:
            return line.decode("utf-8-sig" if self._line_no == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            raise AdvisoryError(f"line {self._line_no}: {what} is not UTF-8 text", source=self.source) from None

    # -- lines ----------------------------------------------------------------------------------

    def _next_line(self) -> bytes | None:
        """The next line (without its end), or ``None`` at the end of the file. A line over the cap
        is returned as its first ``max_line_bytes + 1`` bytes; the rest is read and dropped."""
        try:
            line = self._handle.readline(self.max_line_bytes + 1)
            if not line:
                return None
            self._line_no += 1
            if len(line) > self.max_line_bytes and not line.endswith(b"\n"):
                while True:  # drain the rest of the over-long line, a chunk at a time
                    chunk = self._handle.readline(65536)
                    if not chunk or chunk.endswith(b"\n"):
                        break
            return line.rstrip(b"\r\n")
        except _GZIP_ERRORS as exc:
            raise AdvisoryError(
                f"after line {self._line_no}: cannot read: {_first_line(exc)}", source=self.source
            ) from None

    # -- rows -----------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[EpssScore | AdvisoryError]:
        if self._started:
            raise RuntimeError("an EpssReader can be iterated only once")
        self._started = True
        return self._rows()

    def _rows(self) -> Iterator[EpssScore | AdvisoryError]:
        cve_col, epss_col, pct_col = self._columns
        width = max(self._columns) + 1
        max_line = self.max_line_bytes
        while True:
            try:
                line = self._next_line()
            except AdvisoryError as exc:
                yield exc
                return
            if line is None:
                return
            if not line.strip() or line.startswith(b"#"):
                continue
            self.rows += 1
            if self.rows > self.max_rows:
                yield AdvisoryError(
                    f"line {self._line_no}: over {self.max_rows} rows; rest not read", source=self.source
                )
                return
            where = f"{self.source}:{self._line_no}"
            if len(line) > max_line:
                yield AdvisoryError(f"row is over {max_line} bytes", source=where)
                continue
            try:
                fields = line.decode("utf-8").split(",")
            except UnicodeDecodeError:
                yield AdvisoryError("row is not UTF-8 text", source=where)
                continue
            if len(fields) < width:
                yield AdvisoryError(f"row has {len(fields)} fields, not {width}", source=where)
                continue
            cve_id = fields[cve_col].strip().upper()
            if not _CVE_RE.fullmatch(cve_id):
                yield AdvisoryError(f"not a CVE id: {fields[cve_col].strip()[:40]!r}", source=where)
                continue
            try:
                probability = _unit(fields[epss_col], "epss")
                percentile = _unit(fields[pct_col], "percentile")
            except ValueError as exc:
                yield AdvisoryError(str(exc), source=where, record_id=cve_id)
                continue
            yield EpssScore(cve_id, probability, percentile)

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (and the raw file under a gzip stream)."""
        try:
            self._handle.close()
        finally:
            if self._underlying is not None and self._underlying is not self._handle:
                self._underlying.close()

    def __enter__(self) -> EpssReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _unit(text: str, name: str) -> float:
    """A number in 0..1 (finite); ``ValueError`` with a one-line message otherwise."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} is not a number: {text[:40]!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is outside 0..1: {text[:40]!r}")
    return value


def open_scores(
    path: str | os.PathLike[str], *, max_line_bytes: int = MAX_LINE_BYTES, max_rows: int = MAX_ROWS
) -> EpssReader:
    """Open an EPSS score file (plain CSV or gzip) and read its comment and header lines.

    Raises :class:`AdvisoryError` when the file cannot be opened, is not a regular file, is
    empty, or has no ``cve,epss,percentile`` header; row problems come out of the iteration.
    """
    source = str(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise AdvisoryError("not a regular file", source=source)
        raw = open(path, "rb")  # noqa: SIM115 - handed to the reader, which closes it
    except OSError as exc:
        raise AdvisoryError(f"cannot read: {exc.strerror or exc}", source=source) from None
    try:
        magic = raw.read(2)
        raw.seek(0)
    except OSError as exc:
        raw.close()
        raise AdvisoryError(f"cannot read: {exc.strerror or exc}", source=source) from None
    # GzipFile does not close a file object it is given, so the reader closes both
    handle: io.BufferedIOBase = raw
    if magic == _GZIP_MAGIC:
        handle = gzip.GzipFile(fileobj=raw, mode="rb")
    return EpssReader(handle, source, max_line_bytes=max_line_bytes, max_rows=max_rows, underlying=raw)


def iter_scores(
    path: str | os.PathLike[str], *, max_line_bytes: int = MAX_LINE_BYTES, max_rows: int = MAX_ROWS
) -> Iterator[EpssScore | AdvisoryError]:
    """Yield every row of an EPSS file as an :class:`EpssScore` or an :class:`AdvisoryError`,
    streaming; a file that cannot be opened gives one error (never raises for bad data).
    The file's metadata needs :func:`open_scores`."""
    try:
        reader = open_scores(path, max_line_bytes=max_line_bytes, max_rows=max_rows)
    except AdvisoryError as exc:
        yield exc
        return
    with reader:
        yield from reader


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
