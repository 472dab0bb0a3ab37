"""Read OSV records (https://ossf.github.io/osv-schema/) into :class:`Advisory` objects.

:func:`parse_record` checks and normalises one decoded record. :func:`iter_records` reads a
directory of OSV JSON/YAML files (any depth; the PyPA advisory database is YAML), an OSV
bucket ``all.zip`` (one JSON record per member), or a single file, and yields an
:class:`AdvisoryError` for each record it cannot read instead of raising, so a caller can
record the error and go on.

Hostile input is bounded: files and zip members over :data:`MAX_RECORD_BYTES` are skipped
(the read itself is capped, whatever a zip header claims), symlinks that lead out of the
directory are not followed, raw ``*_specific`` objects are limited to :data:`MAX_NODES`
values (a YAML alias bomb cannot make us walk it), and deep nesting is an error.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from ..advisory import (
    DATABASE_SPECIFIC,
    EVENT_KINDS,
    Advisory,
    AdvisoryError,
    Affected,
    Event,
    Range,
    Reference,
    Severity,
    normalise_name,
    split_ecosystem,
)
from ._files import feed_files, read_feed_file

__all__ = ["MAX_NODES", "MAX_RECORD_BYTES", "AdvisoryError", "iter_records", "load_record", "parse_record"]

#: Largest record file or zip member read (bytes); bigger ones are skipped with an error.
MAX_RECORD_BYTES = 8 * 1024 * 1024
#: Most values a record's raw ``ecosystem_specific``/``database_specific`` objects may hold.
MAX_NODES = 200_000

_JSON_SUFFIXES = (".json",)
_YAML_SUFFIXES = (".yaml", ".yml")
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What reading a damaged zip member can raise (bad CRC, bad deflate data, encrypted, unknown method).
_ZIP_ERRORS = (OSError, zipfile.BadZipFile, zlib.error, EOFError, ValueError, RuntimeError, NotImplementedError)


class _Bad(Exception):
    """Internal: a field is malformed (turned into an AdvisoryError naming the record)."""


# ---------------------------------------------------------------------------------------------
# one record


def parse_record(data: Any, source: str = "") -> Advisory:
    """Check and normalise one decoded OSV record.

    Raises :class:`AdvisoryError` (naming ``source`` and the record id) when the record is not
    an object, has no string ``id``, or a field has the wrong type. Unknown fields are ignored.
    """
    if not isinstance(data, dict):
        raise AdvisoryError(f"record is a {type(data).__name__}, not an object", source=source)
    record_id = data.get("id")
    if not isinstance(record_id, str) or not record_id.strip():
        raise AdvisoryError("record has no string 'id'", source=source)
    record_id = record_id.strip()
    try:
        return _parse(data, record_id, source)
    except _Bad as exc:
        raise AdvisoryError(str(exc), source=source, record_id=record_id) from None
    except RecursionError:
        raise AdvisoryError("record is nested too deeply", source=source, record_id=record_id) from None


def _parse(data: dict[str, Any], record_id: str, source: str) -> Advisory:
    budget = [MAX_NODES]
    db_specific = _plain_dict(data.get("database_specific"), "database_specific", budget)
    severity = _severities(data.get("severity"), "severity")
    word = db_specific.get("severity")
    if isinstance(word, str) and word.strip():
        severity += (Severity(DATABASE_SPECIFIC, word.strip()),)
    cwe_ids = db_specific.get("cwe_ids")
    affected = data.get("affected")
    if affected is not None and not isinstance(affected, list):
        raise _Bad(f"'affected' is a {type(affected).__name__}, not a list")
    return Advisory(
        id=record_id,
        modified=_time(data.get("modified"), "modified"),
        published=_time(data.get("published"), "published"),
        withdrawn=_time(data.get("withdrawn"), "withdrawn"),
        aliases=_strings(data.get("aliases"), "aliases"),
        related=_strings(data.get("related"), "related"),
        upstream=_strings(data.get("upstream"), "upstream"),
        summary=_text(data.get("summary"), "summary"),
        details=_text(data.get("details"), "details"),
        severity=severity,
        references=_references(data.get("references")),
        cwe_ids=_strings(cwe_ids, "database_specific.cwe_ids") if isinstance(cwe_ids, list) else (),
        affected=tuple(_affected(a, f"affected[{i}]", budget) for i, a in enumerate(affected or ())),
        schema_version=_opt_str(data.get("schema_version"), "schema_version"),
        database_specific=db_specific,
        source=source,
    )


def _affected(item: Any, where: str, budget: list[int]) -> Affected:
    if not isinstance(item, dict):
        raise _Bad(f"{where} is a {type(item).__name__}, not an object")
    package = item.get("package")
    if not isinstance(package, dict):
        raise _Bad(f"{where}.package is missing or not an object")
    ecosystem = package.get("ecosystem")
    name = package.get("name")
    if not isinstance(ecosystem, str) or not ecosystem.strip():
        raise _Bad(f"{where}.package.ecosystem is missing or not a string")
    if not isinstance(name, str) or not name.strip():
        raise _Bad(f"{where}.package.name is missing or not a string")
    ecosystem, name = ecosystem.strip(), name.strip()
    base, release = split_ecosystem(ecosystem)
    ranges = item.get("ranges")
    if ranges is not None and not isinstance(ranges, list):
        raise _Bad(f"{where}.ranges is a {type(ranges).__name__}, not a list")
    return Affected(
        ecosystem=ecosystem,
        ecosystem_base=base,
        ecosystem_release=release,
        name=normalise_name(base, name),
        raw_name=name,
        purl=_opt_str(package.get("purl"), f"{where}.package.purl"),
        ranges=tuple(_range(r, f"{where}.ranges[{i}]", budget) for i, r in enumerate(ranges or ())),
        versions=_versions(item.get("versions"), f"{where}.versions"),
        severity=_severities(item.get("severity"), f"{where}.severity"),
        ecosystem_specific=_plain_dict(item.get("ecosystem_specific"), f"{where}.ecosystem_specific", budget),
        database_specific=_plain_dict(item.get("database_specific"), f"{where}.database_specific", budget),
    )


def _range(item: Any, where: str, budget: list[int]) -> Range:
    if not isinstance(item, dict):
        raise _Bad(f"{where} is a {type(item).__name__}, not an object")
    kind = item.get("type")
    if not isinstance(kind, str) or not kind:
        raise _Bad(f"{where}.type is missing or not a string")
    raw_events = item.get("events")
    if not isinstance(raw_events, list):
        raise _Bad(f"{where}.events is missing or not a list")
    events: list[Event] = []
    for i, event in enumerate(raw_events):
        if not isinstance(event, dict) or len(event) != 1:
            raise _Bad(f"{where}.events[{i}] is not an object with one key")
        ((key, value),) = event.items()
        if key not in EVENT_KINDS:
            raise _Bad(f"{where}.events[{i}] has unknown kind {str(key)[:40]!r}")
        events.append(Event(key, _version(value, f"{where}.events[{i}].{key}")))
    repo = _opt_str(item.get("repo"), f"{where}.repo")
    if kind == "GIT" and not repo:
        raise _Bad(f"{where} is a GIT range without a repo")
    return Range(
        type=kind,
        events=tuple(events),
        repo=repo,
        database_specific=_plain_dict(item.get("database_specific"), f"{where}.database_specific", budget),
    )


def _severities(value: Any, where: str) -> tuple[Severity, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Bad(f"{where} is a {type(value).__name__}, not a list")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Bad(f"{where}[{i}] is not an object")
        kind, score = item.get("type"), item.get("score")
        if not isinstance(kind, str) or not isinstance(score, str):
            raise _Bad(f"{where}[{i}] needs string 'type' and 'score'")
        out.append(Severity(kind, score.strip()))
    return tuple(out)


def _references(value: Any) -> tuple[Reference, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Bad(f"'references' is a {type(value).__name__}, not a list")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Bad(f"references[{i}] is not an object")
        kind, url = item.get("type"), item.get("url")
        if not isinstance(kind, str) or not isinstance(url, str):
            raise _Bad(f"references[{i}] needs string 'type' and 'url'")
        out.append(Reference(kind, url.strip()))
    return tuple(out)


def _time(value: Any, where: str) -> datetime | None:
    """RFC 3339 string (or a YAML timestamp) -> aware datetime; naive ones are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            result = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Bad(f"{where} is not an RFC 3339 time: {value[:40]!r}") from None
    else:
        raise _Bad(f"{where} is a {type(value).__name__}, not a time")
    return result if result.tzinfo is not None else result.replace(tzinfo=UTC)


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{where} is a {type(value).__name__}, not a string")
    return value.strip()


def _opt_str(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{where} is a {type(value).__name__}, not a string")
    return value.strip() or None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{where} is not a list of strings")
    return tuple(v.strip() for v in value)


def _version(value: Any, where: str) -> str:
    """A version string. YAML integers are accepted (``introduced: 0``); floats are not, since
    YAML has already lost what was written (``1.10`` reads as ``1.1``)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Bad(f"{where} is a {type(value).__name__}, not a version string")


def _versions(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Bad(f"{where} is a {type(value).__name__}, not a list")
    return tuple(_version(v, f"{where}[{i}]") for i, v in enumerate(value))


def _plain_dict(value: Any, where: str, budget: list[int]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{where} is a {type(value).__name__}, not an object")
    result = _plain(value, where, budget)
    assert isinstance(result, dict)
    return result


def _plain(value: Any, where: str, budget: list[int]) -> Any:
    """A copy of ``value`` made of JSON values only, counting against ``budget``."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _Bad(f"{where}: more than {MAX_NODES} values in raw objects")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v, where, budget) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, where, budget) for v in value]
    return str(value)


# ---------------------------------------------------------------------------------------------
# files, directories, zips


def load_record(raw: bytes, source: str, *, yaml_format: bool = False) -> Advisory:
    """Decode one JSON (or YAML) record and parse it; raises :class:`AdvisoryError`."""
    try:
        data = yaml.load(raw, Loader=_SafeLoader) if yaml_format else json.loads(raw)  # noqa: S506 - safe loader
    except RecursionError:
        raise AdvisoryError("record is nested too deeply", source=source) from None
    except (ValueError, yaml.YAMLError) as exc:
        kind = "YAML" if yaml_format else "JSON"
        raise AdvisoryError(f"not valid {kind}: {_first_line(exc)}", source=source) from None
    return parse_record(data, source)


def iter_records(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_RECORD_BYTES
) -> Iterator[Advisory | AdvisoryError]:
    """Yield every record under ``path`` as an :class:`Advisory`, or an :class:`AdvisoryError`
    for each one that cannot be read (never raises for bad data).

    ``path`` is a directory (``*.json``, ``*.yaml``, ``*.yml`` at any depth, visited in sorted
    order; other files ignored), a zip (``*.json`` members, as in the OSV bucket's
    ``<ecosystem>/all.zip``), or a single record file.
    """
    root = Path(path)
    if root.is_dir():
        yield from _iter_dir(root, max_bytes)
    elif root.suffix.lower() == ".zip":
        yield from _iter_zip(root, max_bytes)
    elif root.is_file():
        yield from _iter_files(root.parent, [root], max_bytes)
    else:
        yield AdvisoryError("no such file or directory", source=str(root))


def _iter_dir(root: Path, max_bytes: int) -> Iterator[Advisory | AdvisoryError]:
    files = feed_files(root, lambda name: name.lower().endswith(_JSON_SUFFIXES + _YAML_SUFFIXES))
    yield from _iter_files(root, files, max_bytes)


def _iter_files(root: Path, files: list[Path], max_bytes: int) -> Iterator[Advisory | AdvisoryError]:
    for file in files:
        try:
            raw = read_feed_file(file, root, max_bytes)
            yield load_record(raw, str(file), yaml_format=file.name.lower().endswith(_YAML_SUFFIXES))
        except AdvisoryError as exc:
            yield exc


def _iter_zip(path: Path, max_bytes: int) -> Iterator[Advisory | AdvisoryError]:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        yield AdvisoryError(f"not a readable zip: {_first_line(exc)}", source=str(path))
        return
    with archive:
        for member in archive.infolist():
            source = f"{path}!{member.filename}"
            if member.is_dir() or not member.filename.lower().endswith(_JSON_SUFFIXES):
                continue
            if member.file_size > max_bytes:
                yield AdvisoryError(f"member is {member.file_size} bytes, over the {max_bytes}-byte cap", source=source)
                continue
            try:
                with archive.open(member) as handle:
                    raw = handle.read(max_bytes + 1)
            except _ZIP_ERRORS as exc:
                yield AdvisoryError(f"cannot read member: {_first_line(exc)}", source=source)
                continue
            if len(raw) > max_bytes:
                yield AdvisoryError(f"member inflates past the {max_bytes}-byte cap", source=source)
                continue
            try:
                yield load_record(raw, source)
            except AdvisoryError as exc:
                yield exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
