"""Read the Debian security tracker's JSON export (https://security-tracker.debian.org/tracker/data/json)
into :class:`Advisory` objects, one per CVE (or ``TEMP-`` id).

The export is keyed by source package, then by issue id::

    {"openssl": {"CVE-2023-0464": {
        "description": "...", "scope": "remote", "debianbug": 1034720,
        "releases": {"bookworm": {"status": "resolved", "repositories": {"bookworm": "3.0.9-1"},
                                  "fixed_version": "3.0.8-1", "urgency": "not yet assigned"},
                     "bullseye": {"status": "open", "repositories": {...}, "urgency": "not yet assigned",
                                  "nodsa": "Minor issue", "nodsa_reason": "postponed"}}}}}

Each issue is gathered over every package that lists it and yielded once, with one
:class:`Affected` per (source package, release): ecosystem ``Debian:<number>`` (via
:data:`~threatstryker.vulndb.feeds.debian.RELEASES`; unstable is ``Debian:sid``), ``name`` the
source package, the release's ``urgency`` as a :class:`Severity` of type ``Debian``, and
``database_specific`` holding ``release`` (the codename), ``repositories`` (the versions in the
archive), ``debianbug``, ``note`` (the ``nodsa`` text) and, except for a plain fix, ``status``:

* ``resolved`` with ``fixed_version`` ``"0"``: never affected -- no ranges, status ``not-affected``;
* ``resolved`` with a version: ``ECOSYSTEM`` range ``introduced "0"``, ``fixed <version>``;
* ``open``: range ``introduced "0"`` with no fix, status ``end-of-life`` (urgency end-of-life),
  ``ignored`` (``nodsa_reason`` ignored: will not be fixed), ``postponed``, ``no-dsa`` (``nodsa``
  set otherwise) or ``unfixed``; a ``fixed_version`` not yet in the archive is kept as
  ``database_specific["fixed_version"]``;
* ``undetermined``: no ranges (not known to affect the release), status ``undetermined``.

The advisory's ``summary`` is the description, ``database_specific["scope"]`` the scope, and it
links to the tracker page. The export carries no dates, so ``modified`` is ``None``.

The real file is about 70 MB and is decoded whole with :func:`json.loads` (simpler than a streaming
parser; each package is dropped from the decoded export once read, but reading the real file still
takes several hundred MB of memory); files over :data:`MAX_FILE_BYTES` are refused. Malformed input
never raises from the iterators: a package, issue or release that cannot be read is skipped with a
one-line :class:`AdvisoryError`, the rest is kept. A release codename that is not known is kept as
``Debian:<codename>`` and reported once.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..advisory import Advisory, AdvisoryError, Affected, Event, Range, Reference, Severity, split_ecosystem
from ..versions import is_valid
from ._files import read_feed_file
from .debian import RELEASES

__all__ = ["MAX_FILE_BYTES", "SEVERITY_TYPE", "AdvisoryError", "iter_records", "load_tracker", "parse_tracker"]

#: Largest export read (bytes); the real one is about 70 MB.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: The :class:`Severity` type given to the tracker's urgency words.
SEVERITY_TYPE = "Debian"

#: Codenames kept without a release number (unstable is always ``sid``).
_UNNUMBERED = frozenset({"sid"})
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]*")
_ISSUE = re.compile(r"[A-Z][A-Z0-9]*-[0-9A-Za-z][0-9A-Za-z.:_-]*")
_CODENAME = re.compile(r"[a-z][a-z0-9-]*")
_STATUSES = frozenset({"resolved", "open", "undetermined"})
_TRACKER = "https://security-tracker.debian.org/tracker/"


class _Bad(Exception):
    """Internal: one package, issue or release is malformed."""


@dataclass
class _Issue:
    description: str = ""
    scope: str = ""
    affected: list[Affected] = field(default_factory=list)


def parse_tracker(data: Any, source: str = "") -> Iterator[Advisory | AdvisoryError]:
    """Yield the advisories of a decoded export (sorted by id, after any errors), and an
    :class:`AdvisoryError` for each part that cannot be read (never raises for bad data)."""
    yield from _parse(data, source, consume=False)


def _parse(data: Any, source: str, *, consume: bool) -> Iterator[Advisory | AdvisoryError]:
    """:func:`parse_tracker`; with ``consume`` each package is removed from ``data`` once read, so the
    decoded export and the advisories built from it are not both held whole."""
    if not isinstance(data, dict):
        yield AdvisoryError(f"the export is a {type(data).__name__}, not an object of packages", source=source)
        return
    issues: dict[str, _Issue] = {}
    unknown: set[str] = set()
    for package in list(data):
        entries = data.pop(package) if consume else data[package]
        if not isinstance(package, str) or not _PACKAGE.fullmatch(package):
            yield AdvisoryError(f"not a source package name: {_show(package)}; skipped", source=source)
            continue
        if not isinstance(entries, dict):
            yield AdvisoryError(f"package {package}: a {type(entries).__name__}, not an object; skipped", source=source)
            continue
        for issue_id, entry in entries.items():
            if not isinstance(issue_id, str) or not _ISSUE.fullmatch(issue_id) or len(issue_id) > 64:
                yield AdvisoryError(f"package {package}: not an issue id: {_show(issue_id)}; skipped", source=source)
                continue
            try:
                yield from _entry(issues, package, issue_id, entry, unknown, source)
            except _Bad as exc:
                yield AdvisoryError(f"package {package}: {exc}; skipped", source=source, record_id=issue_id)
    for issue_id in sorted(issues):
        issue = issues[issue_id]
        yield Advisory(
            id=issue_id,
            modified=None,
            summary=issue.description,
            references=(Reference("ADVISORY", _TRACKER + issue_id),),
            affected=tuple(issue.affected),
            database_specific={"scope": issue.scope} if issue.scope else {},
            source=source,
        )


def _entry(
    issues: dict[str, _Issue], package: str, issue_id: str, entry: Any, unknown: set[str], source: str
) -> Iterator[AdvisoryError]:
    if not isinstance(entry, dict):
        raise _Bad(f"a {type(entry).__name__}, not an object")
    description = _opt_str(entry, "description")
    scope = _opt_str(entry, "scope")
    bug = entry.get("debianbug")
    if bug is not None and (not isinstance(bug, int) or isinstance(bug, bool)):
        raise _Bad(f"'debianbug' is a {type(bug).__name__}, not a number")
    releases = entry.get("releases")
    if not isinstance(releases, dict):
        raise _Bad(f"'releases' is a {type(releases).__name__}, not an object")
    issue = issues.setdefault(issue_id, _Issue())
    issue.description = issue.description or " ".join(description.split())
    issue.scope = issue.scope or scope
    for codename, release in releases.items():
        try:
            issue.affected.append(_affected(package, codename, release, bug))
        except _Bad as exc:
            yield AdvisoryError(f"package {package}, release {_show(codename)}: {exc}; skipped", source=source,
                                record_id=issue_id)
            continue
        if codename not in RELEASES and codename not in _UNNUMBERED and codename not in unknown:
            unknown.add(codename)
            yield AdvisoryError(f"unknown release {codename!r}; kept as ecosystem 'Debian:{codename}'",
                                source=source, record_id=issue_id)


def _affected(package: str, codename: Any, release: Any, bug: int | None) -> Affected:
    if not isinstance(codename, str) or not _CODENAME.fullmatch(codename):
        raise _Bad("not a release codename")
    if not isinstance(release, dict):
        raise _Bad(f"a {type(release).__name__}, not an object")
    status = release.get("status")
    if status not in _STATUSES:
        raise _Bad(f"unknown status {_show(status)}")
    fixed = _opt_str(release, "fixed_version").strip()
    urgency = _opt_str(release, "urgency").strip()
    nodsa = " ".join(_opt_str(release, "nodsa").split())
    reason = _opt_str(release, "nodsa_reason").strip()
    repositories = release.get("repositories")
    if repositories is not None and not (
        isinstance(repositories, dict) and all(isinstance(v, str) for v in repositories.values())
    ):
        raise _Bad("'repositories' is not an object of versions")
    db: dict[str, Any] = {"release": codename}
    ranges: tuple[Range, ...] = ()
    if status == "resolved":
        if not fixed:
            raise _Bad("resolved with no 'fixed_version'")
        if fixed == "0":
            db["status"] = "not-affected"
        else:
            _check_version(fixed)
            ranges = (Range("ECOSYSTEM", (Event("introduced", "0"), Event("fixed", fixed))),)
    elif status == "open":
        ranges = (Range("ECOSYSTEM", (Event("introduced", "0"),)),)
        if urgency == "end-of-life":
            db["status"] = "end-of-life"
        elif reason in ("ignored", "postponed"):
            db["status"] = reason
        elif nodsa:
            db["status"] = "no-dsa"
        else:
            db["status"] = "unfixed"
        if fixed and fixed != "0":
            _check_version(fixed)
            db["fixed_version"] = fixed
    else:
        db["status"] = "undetermined"
    if repositories:
        db["repositories"] = dict(repositories)
    if bug is not None:
        db["debianbug"] = bug
    if nodsa:
        db["note"] = nodsa
    if reason:
        db["nodsa_reason"] = reason
    ecosystem = f"Debian:{RELEASES.get(codename, codename)}"
    base, number = split_ecosystem(ecosystem)
    return Affected(
        ecosystem=ecosystem,
        ecosystem_base=base,
        ecosystem_release=number,
        name=package,
        raw_name=package,
        purl=f"pkg:deb/debian/{package}?arch=source",
        ranges=ranges,
        severity=(Severity(SEVERITY_TYPE, urgency),) if urgency else (),
        database_specific=db,
    )


def _check_version(version: str) -> None:
    if not _valid_deb(version):
        raise _Bad(f"{_show(version)} is not a valid Debian version")


@functools.lru_cache(maxsize=1 << 16)
def _valid_deb(version: str) -> bool:
    """Memoised: the export repeats each fixed version across releases and packages."""
    return is_valid("deb", version)


def _opt_str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{key!r} is a {type(value).__name__}, not a string")
    return value


def load_tracker(raw: bytes, source: str = "") -> Iterator[Advisory | AdvisoryError]:
    """Decode an export's bytes and :func:`parse_tracker` it (an error, not an exception, when it is not JSON)."""
    try:
        data = _decode(raw, source)
    except AdvisoryError as exc:
        yield exc
        return
    yield from _parse(data, source, consume=True)


def _decode(raw: bytes, source: str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise AdvisoryError("the export is nested too deeply", source=source) from None
    except ValueError as exc:
        raise AdvisoryError(f"not valid JSON: {_first_line(exc)}", source=source) from None


def iter_records(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES
) -> Iterator[Advisory | AdvisoryError]:
    """Yield the advisories of an export file, and an :class:`AdvisoryError` for each problem
    (a missing, oversized or unreadable file is one error; never raises for bad data)."""
    file = Path(path)
    if not file.is_file():
        what = "a directory, not the tracker's JSON export file" if file.is_dir() else "no such file"
        yield AdvisoryError(what, source=str(file))
        return
    try:  # the bytes are dropped once decoded: only the decoded export is held while it is read
        data = _decode(read_feed_file(file, file.parent, max_bytes), str(file))
    except AdvisoryError as exc:
        yield exc
        return
    yield from _parse(data, str(file), consume=True)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
