"""Read the CISA Known Exploited Vulnerabilities (KEV) catalog into :class:`KevEntry` objects.

The catalog (https://www.cisa.gov/known-exploited-vulnerabilities-catalog) is published as JSON
(``catalogVersion``, ``dateReleased``, ``count`` and a ``vulnerabilities`` list) and as CSV
(the same entries, one a row, without the catalog metadata). :func:`read_catalog` reads either
form, or a directory holding ``known_exploited_vulnerabilities.json`` / ``.csv``, into a
:class:`KevCatalog`; :func:`iter_entries` yields the entries one by one. An entry that cannot be
read (no ``cveID``, a bad date, a field of the wrong type) becomes an :class:`AdvisoryError`
and the other entries are kept, so a caller can record the error and go on.

Hostile input is bounded: files over :data:`MAX_CATALOG_BYTES` are refused (the read itself is
capped), only regular files are read, and a symlink that leads out of a given directory is not
followed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..advisory import AdvisoryError
from ._files import read_feed_file

__all__ = [
    "CATALOG_NAMES",
    "MAX_CATALOG_BYTES",
    "AdvisoryError",
    "KevCatalog",
    "KevEntry",
    "iter_entries",
    "parse_entry",
    "read_catalog",
]

#: Largest catalog file read (bytes); the real JSON catalog is about 1.3 MB.
MAX_CATALOG_BYTES = 64 * 1024 * 1024
#: File names looked for, in order, when :func:`read_catalog` is given a directory.
CATALOG_NAMES: tuple[str, ...] = ("known_exploited_vulnerabilities.json", "known_exploited_vulnerabilities.csv")

_CVE_RE = re.compile(r"CVE-\d{4}-\d{4,19}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# CSV column -> JSON key is the identity; these are the text fields kept on an entry.
_TEXT_FIELDS = ("vendorProject", "product", "vulnerabilityName", "shortDescription", "requiredAction", "notes")


class _Bad(Exception):
    """Internal: a field is malformed (turned into an AdvisoryError naming the entry)."""


@dataclass(frozen=True)
class KevEntry:
    """One catalog entry.

    ``cve_id`` is upper-cased and checked against ``CVE-YYYY-NNNN...``. ``known_ransomware`` is
    true when ``knownRansomwareCampaignUse`` is ``Known`` (any case); the value as given is kept
    in ``ransomware_use`` (``""`` when absent). ``due_date`` is ``None`` when the entry has none.
    ``cwes`` are in the order given (the CSV form's comma-separated list is split). ``source``
    names where the entry was read from (``path#index`` for JSON, ``path:line`` for CSV).
    """

    cve_id: str
    vendor: str
    product: str
    name: str
    date_added: date
    due_date: date | None = None
    known_ransomware: bool = False
    ransomware_use: str = ""
    cwes: tuple[str, ...] = ()
    notes: str = ""
    description: str = ""
    required_action: str = ""
    source: str = ""


@dataclass(frozen=True)
class KevCatalog:
    """A read catalog: its metadata, the entries that could be read and the errors for the rest.

    ``version``, ``released`` and ``count`` come from the JSON form's ``catalogVersion``,
    ``dateReleased`` and ``count`` (all ``None`` for the CSV form, which has no metadata).
    ``warnings`` are one-line notes that do not lose an entry: ``count`` disagreeing with the
    number of entries in the file, a duplicated CVE id (the first entry is kept), or metadata of
    the wrong type. ``entries`` keep the catalog's order.
    """

    entries: tuple[KevEntry, ...]
    errors: tuple[AdvisoryError, ...] = ()
    warnings: tuple[str, ...] = ()
    version: str | None = None
    released: datetime | None = None
    count: int | None = None
    source: str = ""

    def by_cve(self) -> dict[str, KevEntry]:
        """The entries keyed by CVE id."""
        return {e.cve_id: e for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)


# ---------------------------------------------------------------------------------------------
# one entry


def parse_entry(data: Any, source: str = "", *, csv_form: bool = False) -> KevEntry:
    """Check and normalise one decoded entry (a JSON object, or a CSV row as a dict).

    Raises :class:`AdvisoryError` (naming ``source`` and the CVE id when there is one) when the
    entry is not an object, has no valid ``cveID`` or ``dateAdded``, has a bad ``dueDate``, or a
    field has the wrong type. Unknown fields are ignored. With ``csv_form`` the ``cwes`` field is
    a comma-separated string rather than a list.
    """
    if not isinstance(data, dict):
        raise AdvisoryError(f"entry is a {type(data).__name__}, not an object", source=source)
    raw_id = data.get("cveID")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise AdvisoryError("entry has no string 'cveID'", source=source)
    cve_id = raw_id.strip().upper()
    if not _CVE_RE.fullmatch(cve_id):
        raise AdvisoryError(f"'cveID' is not a CVE id: {raw_id.strip()[:40]!r}", source=source)
    try:
        return _parse(data, cve_id, source, csv_form)
    except _Bad as exc:
        raise AdvisoryError(str(exc), source=source, record_id=cve_id) from None


def _parse(data: dict[str, Any], cve_id: str, source: str, csv_form: bool) -> KevEntry:
    text = {key: _text(data.get(key), key) for key in _TEXT_FIELDS}
    added = _date(data.get("dateAdded"), "dateAdded")
    if added is None:
        raise _Bad("entry has no 'dateAdded'")
    use = _text(data.get("knownRansomwareCampaignUse"), "knownRansomwareCampaignUse")
    return KevEntry(
        cve_id=cve_id,
        vendor=text["vendorProject"],
        product=text["product"],
        name=text["vulnerabilityName"],
        date_added=added,
        due_date=_date(data.get("dueDate"), "dueDate"),
        known_ransomware=use.lower() == "known",
        ransomware_use=use,
        cwes=_cwes(data.get("cwes"), csv_form),
        notes=text["notes"],
        description=text["shortDescription"],
        required_action=text["requiredAction"],
        source=source,
    )


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"'{where}' is a {type(value).__name__}, not a string")
    return value.strip()


def _date(value: Any, where: str) -> date | None:
    """``YYYY-MM-DD`` -> date; ``None``/empty -> ``None``."""
    text = _text(value, where)
    if not text:
        return None
    if not _DATE_RE.fullmatch(text):
        raise _Bad(f"'{where}' is not a YYYY-MM-DD date: {text[:40]!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Bad(f"'{where}' is not a valid date: {text[:40]!r}") from None


def _cwes(value: Any, csv_form: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    if csv_form and isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad("'cwes' is not a list of strings")
    return tuple(v.strip() for v in value if v.strip())


# ---------------------------------------------------------------------------------------------
# files


def read_catalog(path: str | os.PathLike[str], *, max_bytes: int = MAX_CATALOG_BYTES) -> KevCatalog:
    """Read a catalog file (JSON or CSV) or a directory holding one (see :data:`CATALOG_NAMES`).

    Entries that cannot be read are in :attr:`KevCatalog.errors`; the others are kept. Raises
    :class:`AdvisoryError` only when the catalog cannot be read at all (missing, not a regular
    file, empty, over ``max_bytes``, not JSON/CSV, no ``vulnerabilities`` list, no ``cveID``
    column).
    """
    return _load(path, max_bytes)[0]


def iter_entries(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_CATALOG_BYTES
) -> Iterator[KevEntry | AdvisoryError]:
    """Yield every entry of a catalog, in catalog order, as a :class:`KevEntry`, or an
    :class:`AdvisoryError` for each one that cannot be read, or one error when the catalog
    itself cannot be read (never raises for bad data). Duplicated CVE ids are yielded once.
    Catalog metadata and warnings need :func:`read_catalog`."""
    try:
        results = _load(path, max_bytes)[1]
    except AdvisoryError as exc:
        yield exc
        return
    yield from results


def _load(path: str | os.PathLike[str], max_bytes: int) -> tuple[KevCatalog, list[KevEntry | AdvisoryError]]:
    file = _locate(Path(path))
    raw = _read_capped(file, max_bytes)
    source = str(file)
    if _is_json(file, raw):
        return _read_json(raw, source)
    return _read_csv(raw, source)


def _locate(path: Path) -> Path:
    if not path.is_dir():
        if not path.exists():
            raise AdvisoryError("no such file or directory", source=str(path))
        return path
    real_root = os.path.realpath(path)
    for name in CATALOG_NAMES:
        file = path / name
        if not file.exists() and not file.is_symlink():
            continue
        real = os.path.realpath(file)
        if file.is_symlink() and os.path.commonpath([real_root, real]) != real_root:
            raise AdvisoryError("symlink leads outside the directory; not followed", source=str(file))
        return file
    raise AdvisoryError(f"no {' or '.join(CATALOG_NAMES)} in the directory", source=str(path))


def _read_capped(file: Path, max_bytes: int) -> bytes:
    source = str(file)
    raw = read_feed_file(file, Path(os.path.realpath(file)).parent, max_bytes)  # confinement: _locate
    if not raw.strip():
        raise AdvisoryError("file is empty", source=source)
    return raw


def _is_json(file: Path, raw: bytes) -> bool:
    suffix = file.suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix == ".json"
    return raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _read_json(raw: bytes, source: str) -> tuple[KevCatalog, list[KevEntry | AdvisoryError]]:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise AdvisoryError("catalog is nested too deeply", source=source) from None
    except ValueError as exc:
        raise AdvisoryError(f"not valid JSON: {_first_line(exc)}", source=source) from None
    if not isinstance(data, dict):
        raise AdvisoryError(f"catalog is a {type(data).__name__}, not an object", source=source)
    items = data.get("vulnerabilities")
    if not isinstance(items, list):
        raise AdvisoryError("catalog has no 'vulnerabilities' list", source=source)
    warnings: list[str] = []
    version = data.get("catalogVersion")
    if version is not None and not isinstance(version, str):
        warnings.append(f"'catalogVersion' is a {type(version).__name__}, not a string; ignored")
        version = None
    released = _released(data.get("dateReleased"), warnings)
    count = data.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
        warnings.append(f"'count' is a {type(count).__name__}, not an integer; ignored")
        count = None
    if count is not None and count != len(items):
        warnings.append(f"'count' says {count} entries but the catalog lists {len(items)}")
    results = _collect(((f"{source}#{i}", item) for i, item in enumerate(items)), csv_form=False, warnings=warnings)
    catalog = _catalog(
        results,
        warnings,
        source,
        version=version.strip() if isinstance(version, str) and version.strip() else None,
        released=released,
        count=count,
    )
    return catalog, results


def _read_csv(raw: bytes, source: str) -> tuple[KevCatalog, list[KevEntry | AdvisoryError]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AdvisoryError(f"not UTF-8 text: {_first_line(exc)}", source=source) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise AdvisoryError(f"not valid CSV: {_first_line(exc)}", source=source) from None
    if not header or "cveID" not in [h.strip() for h in header]:
        raise AdvisoryError("CSV has no 'cveID' column in its header", source=source)
    reader.fieldnames = [h.strip() for h in header]
    broken: list[AdvisoryError] = []

    def rows() -> Iterator[tuple[str, Any]]:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # the rest of the file cannot be split into rows reliably
                broken.append(AdvisoryError(f"not valid CSV: {_first_line(exc)}", source=f"{source}:{reader.line_num}"))
                return
            yield f"{source}:{reader.line_num}", {k: v for k, v in row.items() if isinstance(k, str)}

    warnings: list[str] = []
    results = _collect(rows(), csv_form=True, warnings=warnings)
    results.extend(broken)
    return _catalog(results, warnings, source), results


def _collect(
    items: Iterator[tuple[str, Any]], *, csv_form: bool, warnings: list[str]
) -> list[KevEntry | AdvisoryError]:
    results: list[KevEntry | AdvisoryError] = []
    seen: set[str] = set()
    for where, item in items:
        try:
            entry = parse_entry(item, where, csv_form=csv_form)
        except AdvisoryError as exc:
            results.append(exc)
            continue
        if entry.cve_id in seen:
            warnings.append(f"{where}: {entry.cve_id} is listed more than once; the first entry is kept")
            continue
        seen.add(entry.cve_id)
        results.append(entry)
    return results


def _catalog(results: list[KevEntry | AdvisoryError], warnings: list[str], source: str, **meta: Any) -> KevCatalog:
    return KevCatalog(
        entries=tuple(r for r in results if isinstance(r, KevEntry)),
        errors=tuple(r for r in results if isinstance(r, AdvisoryError)),
        warnings=tuple(warnings),
        source=source,
        **meta,
    )


def _released(value: Any, warnings: list[str]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        warnings.append(f"'dateReleased' is a {type(value).__name__}, not a string; ignored")
        return None
    try:
        result = datetime.fromisoformat(value.strip())
    except ValueError:
        warnings.append(f"'dateReleased' is not an ISO 8601 time: {value[:40]!r}; ignored")
        return None
    return result if result.tzinfo is not None else result.replace(tzinfo=UTC)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
