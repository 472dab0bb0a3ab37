"""Build the vulnerability database (:mod:`threatstryker.vulndb.store`) from local feed copies.

:func:`build_database` takes source paths, works out what each one is (:func:`detect_kind`),
or takes ``kind=path`` (``osv=/data/osv``), reads them with the feed modules and writes
everything into a new temporary file next to ``dest`` in one transaction, then
``os.replace``-s it onto ``dest``. A failed or interrupted build (an exception from a reader,
Ctrl-C, a full disk) removes the temporary file and leaves the previous database as it was.

Feeds are named by kind: ``osv``, ``debian``, ``debian-tracker`` (the tracker's JSON export),
``alpine``, ``nvd`` (NVD CVE API 2.0 JSON, written to the ``cves`` table; the same CVE twice keeps
the newer ``lastModified``), ``kev``, ``epss``; several sources
of one kind (``osv/Go`` and ``osv/PyPI``) make one feed. Records a reader cannot read are
counted per feed and the first :data:`MAX_MESSAGES` messages kept in the report; they never
stop the build. But a feed that yields errors and **no** record at all (a missing or
truncated download) aborts the build with :class:`BuildError`, so an update cannot silently
replace good data with nothing. The same id twice in one feed keeps the record with the
newer ``modified`` time (counted in the feed's ``duplicates``); the same id in two feeds
keeps both rows (primary key ``(id, feed)``).

A directory that is none of the kinds but whose sub-directories are (``shared/data`` holding
``osv/``, ``kev/``...) is expanded into them; sub-directories of no known kind are skipped and
listed in :attr:`BuildReport.skipped`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from .advisory import Advisory, AdvisoryError, Affected
from .feeds import alpine, debian, debian_json, epss, kev, nvd, osv
from .feeds.epss import EpssScore
from .feeds.kev import KevEntry
from .feeds.nvd import NvdCve
from .store import INDEXES, MAX_DB_SPECIFIC, SCHEMA_VERSION, create_schema, run_script

__all__ = ["KINDS", "MAX_MESSAGES", "BuildError", "BuildReport", "FeedReport", "build_database", "detect_kind"]

#: The feed kinds, in the order they are written.
KINDS: tuple[str, ...] = ("osv", "debian", "debian-tracker", "alpine", "nvd", "kev", "epss")
#: Error messages kept per feed in the report.
MAX_MESSAGES = 20

_KIND_PATH = re.compile(r"^(?P<kind>[a-z]+(?:-[a-z]+)*)=(?P<path>.+)$")
# The tracker's JSON export starts {"<source package>": {"CVE-..." or "TEMP-...": {...}.
_DEBIAN_TRACKER_HEAD = re.compile(rb'^\s*\{\s*"[a-z0-9][a-z0-9+.-]*"\s*:\s*\{\s*"(?:CVE|TEMP)-')
_DEBIAN_LISTS = ("DSA/list", "DLA/list", "DTSA/list")
_ALPINE_RELEASE = re.compile(r"^(v\d+\.\d+|edge)$")


class BuildError(Exception):
    """The build cannot go on; the previous database is untouched. One line for the user."""


@dataclass
class FeedReport:
    name: str
    sources: list[str] = field(default_factory=list)
    records: int = 0
    errors: int = 0
    duplicates: int = 0
    messages: list[str] = field(default_factory=list)
    duration: float = 0.0

    def error(self, exc: AdvisoryError) -> None:
        self.errors += 1
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(str(exc))


@dataclass
class BuildReport:
    dest: str
    feeds: dict[str, FeedReport] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    size: int = 0
    duration: float = 0.0


# ---------------------------------------------------------------------------------------------
# what a source is


def detect_kind(path: Path) -> str | None:
    """The feed kind of a file or directory, or ``None`` when it is none of them."""
    name = path.name.lower()
    if path.is_file():
        if name.endswith(".zip"):
            return "osv"
        if name.startswith("known_exploited_vulnerabilities"):
            return "kev"
        if nvd.is_feed_name(name) or nvd.looks_like_nvd(_head(path)):
            return "nvd"
        if name.startswith("epss") or name.endswith(".gz"):
            return "epss"
        if name == "list":
            return "debian"
        head = _head(path)
        if head.startswith(b"#model_version") or head.lower().startswith(b"cve,epss"):
            return "epss"
        if b"distroversion" in head:
            return "alpine"
        if b"catalogVersion" in head or b"cveID" in head:
            return "kev"
        if _DEBIAN_TRACKER_HEAD.match(head):
            return "debian-tracker"
        if name.endswith((".json", ".yaml", ".yml")):
            return "osv"
        return None
    if not path.is_dir():
        return None
    if any((path / n).is_file() for n in kev.CATALOG_NAMES):
        return "kev"
    if any((path / n).is_file() or (path / "data" / n).is_file() for n in _DEBIAN_LISTS):
        return "debian"
    if _looks_alpine(path):
        return "alpine"
    if _looks_nvd(path):
        return "nvd"
    if any(path.glob("*.zip")) or _looks_osv(path):
        return "osv"
    return None


def _head(path: Path, size: int = 4096) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def _looks_nvd(path: Path, sample: int = 3) -> bool:
    """Some of the first few JSON files (sorted, top level) is named or shaped like NVD 2.0 JSON."""
    files = sorted(f for f in path.iterdir() if f.name.lower().endswith((".json", ".json.gz")) and f.is_file())
    return any(nvd.is_feed_name(f.name) or nvd.looks_like_nvd(_head(f)) for f in files[:sample])


def _looks_alpine(path: Path) -> bool:
    dirs = [path] + [d for d in sorted(path.iterdir()) if d.is_dir() and _ALPINE_RELEASE.match(d.name)]
    for d in dirs:
        for file in sorted(d.glob("*.y*ml"))[:2] + sorted(d.glob("*.json"))[:2]:
            if b"distroversion" in _head(file):
                return True
    return False


def _looks_osv(path: Path, sample: int = 3) -> bool:
    """The first few record files (sorted walk) all look like OSV records."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for f in sorted(filenames):
            if not f.lower().endswith((".json", ".yaml", ".yml")):
                continue
            head = _head(Path(dirpath, f))
            if not (re.search(rb'(^|[{\s"])id"?\s*:', head) and (b"modified" in head or b"affected" in head)):
                return False
            seen += 1
            if seen >= sample:
                return True
    return seen > 0


def _resolve(sources: Iterable[str | os.PathLike[str]], report: BuildReport) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for source in sources:
        text = os.fspath(source)
        match = _KIND_PATH.match(text) if isinstance(source, str) else None
        if match and match["kind"] in KINDS:
            path = Path(match["path"])
            if not path.exists():
                raise BuildError(f"{match['kind']} source {path} does not exist")
            out.append((match["kind"], path))
            continue
        if match:
            raise BuildError(f"unknown feed kind {match['kind']!r} (one of {', '.join(KINDS)})")
        path = Path(text)
        if not path.exists():
            raise BuildError(f"source {path} does not exist")
        kind = detect_kind(path)
        if kind is not None:
            out.append((kind, path))
            continue
        found = False
        if path.is_dir():
            for child in sorted(path.iterdir()):
                child_kind = detect_kind(child) if child.is_dir() else None
                if child_kind is None:
                    report.skipped.append(str(child))
                else:
                    out.append((child_kind, child))
                    found = True
        if not found:
            raise BuildError(f"cannot tell what feed {path} is; name it as kind=path ({', '.join(KINDS)})")
    return out


# ---------------------------------------------------------------------------------------------
# writing


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


#: Longest summary derived from a record's details when it has no summary (PyPA records have none).
MAX_HEADLINE = 200


def _headline(details: str) -> str:
    """The first sentence (or line) of ``details``, at most :data:`MAX_HEADLINE` characters."""
    text = " ".join(details.strip().split("\n\n", 1)[0].split())
    end = text.find(". ")
    if 0 < end < MAX_HEADLINE:
        return text[: end + 1]
    return text if len(text) <= MAX_HEADLINE else text[: MAX_HEADLINE - 1].rstrip() + "…"


def _affected_key(a: Affected) -> tuple[str, str, str]:
    return a.ecosystem_base, a.ecosystem_release or "", a.name


def _write_advisory(conn: sqlite3.Connection, adv: Advisory, feed: str, rep: FeedReport) -> None:
    """Store ``adv``. The same id met again in one feed (two copies of a record, or one CVE in
    two Alpine releases' files) is merged: the newer ``modified`` record's fields win, and the
    affected packages of both are kept, the newer record's where both name the same package."""
    old = conn.execute("SELECT modified FROM advisories WHERE id = ? AND feed = ?", (adv.id, feed)).fetchone()
    if old is not None:
        rep.duplicates += 1
        stored = {
            (eco, rel, pkg)
            for eco, rel, pkg in conn.execute(
                "SELECT ecosystem, release, package FROM affected WHERE advisory_id = ? AND feed = ?", (adv.id, feed)
            )
        }
        known = {a for (a,) in conn.execute("SELECT alias FROM aliases WHERE advisory_id = ? AND feed = ?",
                                            (adv.id, feed))}
        if (old[0] or "") >= (_iso(adv.modified) or ""):
            extra = tuple(a for a in adv.affected if _affected_key(a) not in stored)
            _write_links(conn, adv, feed, skip=known)
            _write_affected(conn, adv.id, feed, extra)
            return
        conn.execute("DELETE FROM advisories WHERE id = ? AND feed = ?", (adv.id, feed))
        for a in adv.affected:
            conn.execute(
                "DELETE FROM affected WHERE advisory_id = ? AND feed = ? AND ecosystem = ? AND release = ?"
                " AND package = ?",
                (adv.id, feed, *_affected_key(a)),
            )
        _write_links(conn, adv, feed, skip=known)
    else:
        rep.records += 1
        _write_links(conn, adv, feed)
    db_specific = _dumps(adv.database_specific)
    if len(db_specific) > MAX_DB_SPECIFIC:
        db_specific = _dumps({"_dropped": len(db_specific)})
    conn.execute(
        "INSERT INTO advisories VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            adv.id,
            feed,
            _iso(adv.published),
            _iso(adv.modified),
            _iso(adv.withdrawn),
            adv.summary or _headline(adv.details),
            _dumps([[s.type, s.score] for s in adv.severity]),
            _dumps([[r.type, r.url] for r in adv.references]),
            _dumps(list(adv.cwe_ids)),
            db_specific,
        ),
    )
    _write_affected(conn, adv.id, feed, adv.affected)


def _write_links(conn: sqlite3.Connection, adv: Advisory, feed: str, skip: Iterable[str] = ()) -> None:
    links = {a: "alias" for a in adv.aliases if a and a != adv.id}
    for kind, ids in (("upstream", adv.upstream), ("related", adv.related)):
        links.update((a, kind) for a in ids if a and a != adv.id and a not in links)
    skipped = set(skip)
    conn.executemany(
        "INSERT INTO aliases VALUES (?, ?, ?, ?)", [(a, adv.id, feed, k) for a, k in links.items() if a not in skipped]
    )


def _write_affected(conn: sqlite3.Connection, adv_id: str, feed: str, affected: Iterable[Affected]) -> None:
    conn.executemany(
        "INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                adv_id,
                feed,
                a.ecosystem_base,
                a.ecosystem_release or "",
                a.name,
                a.raw_name,
                a.purl,
                _dumps(
                    [
                        {
                            "type": r.type,
                            "repo": r.repo,
                            "events": [[e.kind, e.value] for e in r.events],
                            "database_specific": r.database_specific,
                        }
                        for r in a.ranges
                    ]
                ),
                _dumps(list(a.versions)),
                a.fix_state,
                _dumps([[s.type, s.score] for s in a.severity]),
                _dumps(a.ecosystem_specific),
                _dumps(a.database_specific),
            )
            for a in affected
        ],
    )


def _write_kev(conn: sqlite3.Connection, entry: KevEntry, rep: FeedReport) -> None:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO kev VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            entry.cve_id,
            entry.date_added.isoformat(),
            entry.due_date.isoformat() if entry.due_date else None,
            int(entry.known_ransomware),
            entry.vendor,
            entry.product,
            entry.name,
        ),
    )
    if cursor.rowcount:
        rep.records += 1
    else:
        rep.duplicates += 1


def _write_cve(conn: sqlite3.Connection, cve: NvdCve, rep: FeedReport) -> None:
    old = conn.execute("SELECT modified FROM cves WHERE cve_id = ?", (cve.id,)).fetchone()
    if old is not None:
        rep.duplicates += 1
        if (old[0] or "") >= (_iso(cve.modified) or ""):
            return
    else:
        rep.records += 1
    conn.execute(
        "INSERT OR REPLACE INTO cves VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            cve.id,
            _iso(cve.published),
            _iso(cve.modified),
            cve.status,
            cve.description,
            _dumps([c.to_dict() for c in cve.cvss]),
            _dumps(list(cve.cwes)),
            _dumps(list(cve.references)),
        ),
    )


def _read_epss(path: Path, conn: sqlite3.Connection, rep: FeedReport) -> None:
    try:
        reader = epss.open_scores(path)
    except AdvisoryError as exc:
        rep.error(exc)
        return
    with reader:
        score_date = _iso(reader.score_date)
        for item in reader:
            if isinstance(item, EpssScore):
                cursor = conn.execute(
                    "INSERT OR REPLACE INTO epss VALUES (?, ?, ?, ?)",
                    (item.cve_id, item.probability, item.percentile, score_date),
                )
                rep.records += cursor.rowcount
            else:
                rep.error(item)
    (rep.records,) = conn.execute("SELECT COUNT(*) FROM epss").fetchone()


#: Feed kind -> reader of advisories (the tests replace these to simulate failures).
ADVISORY_READERS: dict[str, Callable[[Path], Iterator[Advisory | AdvisoryError]]] = {
    "osv": osv.iter_records,
    "debian": debian.iter_records,
    "debian-tracker": debian_json.iter_records,
    "alpine": alpine.iter_records,
}


def _read(kind: str, path: Path, conn: sqlite3.Connection, rep: FeedReport) -> None:
    if kind == "epss":
        _read_epss(path, conn, rep)
        return
    if kind == "nvd":
        for cve in nvd.iter_records(path):
            if isinstance(cve, NvdCve):
                _write_cve(conn, cve, rep)
            else:
                rep.error(cve)
        return
    if kind == "kev":
        for entry in kev.iter_entries(path):
            if isinstance(entry, KevEntry):
                _write_kev(conn, entry, rep)
            else:
                rep.error(entry)
        return
    for item in ADVISORY_READERS[kind](path):
        if isinstance(item, Advisory):
            _write_advisory(conn, item, kind, rep)
        else:
            rep.error(item)


def _mtime(paths: list[Path]) -> str | None:
    times = []
    for p in paths:
        with contextlib.suppress(OSError):
            times.append(p.stat().st_mtime)
    return datetime.fromtimestamp(max(times), UTC).isoformat() if times else None


def build_database(
    sources: Iterable[str | os.PathLike[str]], dest: str | os.PathLike[str], feeds: set[str] | None = None
) -> BuildReport:
    """Build a database at ``dest`` from ``sources`` (paths, or ``kind=path`` strings),
    reading only the feeds named in ``feeds`` when given. Atomic: ``dest`` is either the new
    database or left as it was. Raises :class:`BuildError` for a source that is missing or
    of no known kind, an unknown feed name, or a feed that gave no record but errors."""
    started = time.monotonic()
    dest = Path(dest)
    report = BuildReport(dest=str(dest))
    if feeds is not None and (unknown := feeds - set(KINDS)):
        raise BuildError(f"unknown feed {sorted(unknown)[0]!r} (one of {', '.join(KINDS)})")
    resolved = [(k, p) for k, p in _resolve(sources, report) if feeds is None or k in feeds]
    if not resolved:
        raise BuildError("no sources to read" + (f" for feeds {', '.join(sorted(feeds))}" if feeds else ""))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN")
            create_schema(conn)
            for kind in KINDS:
                paths = [p for k, p in resolved if k == kind]
                if not paths:
                    continue
                rep = report.feeds[kind] = FeedReport(kind, sources=[str(p) for p in paths])
                t0 = time.monotonic()
                for path in paths:
                    _read(kind, path, conn, rep)
                rep.duration = time.monotonic() - t0
                if rep.records == 0 and rep.errors:
                    raise BuildError(f"feed {kind} gave no records, {rep.errors} errors: {rep.messages[0]}")
                note = f"{rep.duplicates} duplicate ids" if rep.duplicates else ""
                conn.execute(
                    "INSERT INTO feeds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (kind, kind, "; ".join(rep.sources), _mtime(paths), rep.records, rep.errors, rep.duration, note),
                )
            run_script(conn, INDEXES)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("built_at", datetime.now(UTC).isoformat()),
                    ("tool_version", __version__),
                ],
            )
            conn.execute("COMMIT")
            conn.execute("PRAGMA optimize")
        finally:
            conn.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    report.size = dest.stat().st_size
    report.duration = time.monotonic() - started
    return report
