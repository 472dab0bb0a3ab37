"""Read the Debian security tracker's advisory lists (``data/DSA/list``, ``data/DLA/list``,
``data/DTSA/list``) into :class:`Advisory` objects.

Each advisory is a header line followed by indented lines (tabs, sometimes spaces)::

    [29 Mar 2023] DSA-5380-1 xorg-server - security update
        {CVE-2023-1393}
        [bullseye] - xorg-server 2:1.20.11-1+deb11u6
        [buster] - foo <not-affected> (Vulnerable code not present)
        NOTE: fixed in testing at time of DSA

The date is ``DD Mon YYYY`` (DSA, DLA) or ``Month Dth, YYYY`` (DTSA). The header names the
binary/source packages and a description after `` - ``; a few old headers have no `` - ``
(``DSA-2114-1 git-core``, ``DSA-4205-1 jessie end-of-life``): then there is no package list
and the whole text is the summary.

One :class:`Advisory` per header: ``id`` the DSA/DLA/DTSA id, ``aliases`` the CVEs of the
``{...}`` lines, ``summary`` the description, ``published`` (and ``modified``: the list has no
other time) the header date at midnight UTC, a reference to the tracker page. Each
``[release] - package version`` line is an :class:`Affected`: ecosystem ``Debian:<number>``
(:data:`RELEASES`), ``name`` the *source* package, and

* a version: ``ECOSYSTEM`` range ``introduced "0"``, ``fixed <version>`` (``deb`` scheme);
* ``<not-affected>``: no ranges (matches nothing under OSV rules), ``database_specific
  {"status": "not-affected"}`` -- a matcher may use it to suppress the CVEs for that package;
* ``<unfixed>``, ``<end-of-life>``, ``<no-dsa>``, ``<ignored>``, ``<postponed>``: range
  ``introduced "0"`` with no fix (every version is affected), ``status`` set to the word;
* ``<removed>``: no ranges, ``status "removed"``.

A trailing ``(...)`` is kept as ``database_specific["note"]`` (DTSA urgencies like ``(high)``,
``(Vulnerable code not present)``, ``(bug #365910)``). ``NOTE:`` lines go to the advisory's
``database_specific["notes"]``.

**Unknown release names** (not in :data:`RELEASES`, e.g. a future codename): the line is kept,
with ecosystem ``Debian:<name as given>`` so nothing is lost and a matcher simply never meets
that ecosystem, and an :class:`AdvisoryError` is yielded as well, so the gap is visible.

Malformed input never raises from the iterators: a bad header yields an error and its
indented lines are skipped (also reported, once); a bad indented line yields an error and the
advisory is still produced without it; a version the ``deb`` scheme rejects is an error and
the line is dropped. Files over :data:`MAX_FILE_BYTES` are skipped, lines over
:data:`MAX_LINE_CHARS` are errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..advisory import Advisory, AdvisoryError, Affected, Event, Range, Reference, normalise_name, split_ecosystem
from ..versions import is_valid
from ._files import feed_files, read_feed_file

__all__ = ["MAX_FILE_BYTES", "MAX_LINE_CHARS", "RELEASES", "AdvisoryError", "iter_records", "parse_list"]

#: Largest list file read (bytes); the real DSA list is about 0.9 MB.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Longest line read (characters).
MAX_LINE_CHARS = 64 * 1024

#: Codename -> release number used in the ``Debian:<number>`` ecosystem (as in Debian OSV:
#: major numbers from lenny on; woody/sarge/etch, which had no os-release, by their dotted name).
RELEASES: dict[str, str] = {
    "woody": "3.0",
    "sarge": "3.1",
    "etch": "4.0",
    "lenny": "5",
    "squeeze": "6",
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
}

#: ``<state>`` words: those that leave every version affected, and those that affect none.
_UNFIXED_STATES = frozenset({"unfixed", "end-of-life", "no-dsa", "ignored", "postponed"})
_NO_RANGE_STATES = frozenset({"not-affected", "removed"})

_HEADER = re.compile(r"\[(?P<date>[^\]]*)\]\s+(?P<id>(?:DSA|DLA|DTSA)-\d+(?:-\d+)?)(?:\s+(?P<rest>.*?))?\s*")
_DATE_SHORT = re.compile(r"(\d{1,2}) ([A-Za-z]{3}) (\d{4})")
_DATE_LONG = re.compile(r"([A-Za-z]+) (\d{1,2})(?:st|nd|rd|th)?, (\d{4})")
_PACKAGE = re.compile(
    r"\[(?P<release>[a-z][a-z0-9-]*)\]\s+-\s+(?P<name>[a-z0-9][a-z0-9+.-]*)\s+(?P<version><[a-z-]+>|\S+)"
    r"(?:\s+\((?P<note>[^()]*(?:\([^()]*\)[^()]*)*)\))?\s*"
)
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
_LONG_MONTHS = {
    name: i
    for i, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        1,
    )
}


class _Bad(Exception):
    """Internal: one line is malformed."""


def parse_date(text: str) -> datetime:
    """``"29 Mar 2023"`` or ``"August 26th, 2005"`` -> midnight UTC; :class:`ValueError` otherwise."""
    text = " ".join(text.split())
    short = _DATE_SHORT.fullmatch(text)
    if short:
        day, month, year = int(short.group(1)), _MONTHS.get(short.group(2).lower()), int(short.group(3))
    else:
        long = _DATE_LONG.fullmatch(text)
        if not long:
            raise ValueError(f"not a date: {text[:40]!r}")
        day, month, year = int(long.group(2)), _LONG_MONTHS.get(long.group(1).lower()), int(long.group(3))
    if month is None:
        raise ValueError(f"unknown month in {text[:40]!r}")
    return datetime(year, month, day, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# one list


class _Record:
    def __init__(self, advisory_id: str, published: datetime, rest: str, line_no: int) -> None:
        self.id = advisory_id
        self.published = published
        self.line_no = line_no
        names, sep, description = rest.partition(" - ")
        if sep:
            self.packages = names.split()
            self.summary = description.strip()
        else:
            self.packages = []
            self.summary = rest.strip()
        self.cves: list[str] = []
        self.affected: list[Affected] = []
        self.notes: list[str] = []


def parse_list(lines: Iterable[str], source: str = "") -> Iterator[Advisory | AdvisoryError]:
    """Yield the advisories of one tracker list (lines as read, with or without line ends),
    and an :class:`AdvisoryError` for each malformed line (never raises for bad data)."""
    record: _Record | None = None
    skipping = False  # indented lines after a bad header
    for line_no, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        where = f"{source}:{line_no}" if source else f"line {line_no}"
        if len(line) > MAX_LINE_CHARS:
            yield AdvisoryError(f"line is over {MAX_LINE_CHARS} characters", source=where)
            continue
        if not line.strip():
            continue
        if not line[0].isspace():
            if record is not None:
                yield _advisory(record, source)
                record = None
            skipping = False
            try:
                record = _header(line, line_no)
            except _Bad as exc:
                skipping = True
                yield AdvisoryError(f"{exc}; its lines are skipped", source=where)
            continue
        if record is None:
            if not skipping:
                skipping = True
                yield AdvisoryError(f"indented line outside an advisory: {_show(line.strip())}", source=where)
            continue
        try:
            yield from _body(record, line.strip(), where)
        except _Bad as exc:
            yield AdvisoryError(str(exc), source=where, record_id=record.id)
    if record is not None:
        yield _advisory(record, source)


def _header(line: str, line_no: int) -> _Record:
    match = _HEADER.fullmatch(line)
    if not match:
        raise _Bad(f"not an advisory header: {_show(line)}")
    try:
        published = parse_date(match.group("date"))
    except ValueError as exc:
        raise _Bad(f"{match.group('id')}: {exc}") from None
    return _Record(match.group("id"), published, match.group("rest") or "", line_no)


def _body(record: _Record, text: str, where: str) -> Iterator[AdvisoryError]:
    if text.startswith("{"):
        if not text.endswith("}"):
            raise _Bad(f"unclosed CVE list: {_show(text)}")
        bad = []
        for token in text[1:-1].split():
            if not _CVE.fullmatch(token):
                bad.append(token)
            elif token not in record.cves:
                record.cves.append(token)
        if bad:  # the valid ids are kept
            raise _Bad(f"not a CVE id in the CVE list: {_show(' '.join(bad))}")
    elif text.startswith("NOTE:"):
        record.notes.append(text[5:].strip())
    elif text.startswith("["):
        affected, unknown = _package(text)
        record.affected.append(affected)
        if unknown:
            yield AdvisoryError(
                f"unknown release {unknown!r}; kept as ecosystem {affected.ecosystem!r}",
                source=where,
                record_id=record.id,
            )
    else:
        raise _Bad(f"unrecognised line: {_show(text)}")


def _package(text: str) -> tuple[Affected, str | None]:
    match = _PACKAGE.fullmatch(text)
    if not match:
        raise _Bad(f"not a '[release] - package version' line: {_show(text)}")
    codename, name, version, note = match.group("release", "name", "version", "note")
    number = RELEASES.get(codename)
    ecosystem = f"Debian:{number or codename}"
    db: dict[str, Any] = {"release": codename}
    if note is not None:
        db["note"] = " ".join(note.split())
    if version.startswith("<"):
        state = version[1:-1]
        if state in _NO_RANGE_STATES:
            ranges: tuple[Range, ...] = ()
        elif state in _UNFIXED_STATES:
            ranges = (Range("ECOSYSTEM", (Event("introduced", "0"),)),)
        else:
            raise _Bad(f"unknown state {version!r} for {name} in {codename}")
        db["status"] = state
    else:
        if not is_valid("deb", version):
            raise _Bad(f"{version[:60]!r} is not a valid Debian version ({name} in {codename})")
        ranges = (Range("ECOSYSTEM", (Event("introduced", "0"), Event("fixed", version))),)
    base, release = split_ecosystem(ecosystem)
    affected = Affected(
        ecosystem=ecosystem,
        ecosystem_base=base,
        ecosystem_release=release,
        name=normalise_name(base, name),
        raw_name=name,
        purl=f"pkg:deb/debian/{name}?arch=source",
        ranges=ranges,
        database_specific=db,
    )
    return affected, (None if number else codename)


def _advisory(record: _Record, source: str) -> Advisory:
    db: dict[str, Any] = {"line": record.line_no}
    if record.packages:
        db["packages"] = list(record.packages)
    if record.notes:
        db["notes"] = list(record.notes)
    return Advisory(
        id=record.id,
        modified=record.published,
        published=record.published,
        aliases=tuple(record.cves),
        summary=record.summary,
        references=(Reference("ADVISORY", f"https://security-tracker.debian.org/tracker/{record.id}"),),
        affected=tuple(record.affected),
        database_specific=db,
        source=source,
    )


# ---------------------------------------------------------------------------------------------
# files and directories


def iter_records(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES
) -> Iterator[Advisory | AdvisoryError]:
    """Yield the advisories of a tracker list file, or of every file named ``list`` under a
    directory (the tracker's ``data/`` layout, sorted: DLA, DSA, DTSA), and an
    :class:`AdvisoryError` for each problem (never raises for bad data)."""
    root = Path(path)
    if root.is_dir():
        files = feed_files(root, lambda name: name == "list")
    elif root.is_file():
        files = [root]
    else:
        yield AdvisoryError("no such file or directory", source=str(root))
        return
    base = root if root.is_dir() else root.parent
    for file in files:
        source = str(file)
        try:
            raw = read_feed_file(file, base, max_bytes)
        except AdvisoryError as exc:
            yield exc
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield AdvisoryError("not UTF-8; read as Latin-1", source=source)
            text = raw.decode("latin-1")
        yield from parse_list(text.split("\n"), source)


def _show(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
