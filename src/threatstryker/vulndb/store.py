"""The vulnerability database: one SQLite file, built by :mod:`threatstryker.vulndb.build`.

Readers open it read-only (a ``file:...?mode=ro`` URI plus ``PRAGMA query_only``), so a scan
can never change it; an update writes a new file and renames it over the old one.

Schema (version :data:`SCHEMA_VERSION`; a file with another version is refused with a
one-line :class:`SchemaMismatch` telling the user to run ``threatstryker db update``):

``meta(key, value)``
    ``schema_version``, ``built_at`` (ISO 8601 UTC), ``tool_version``.
``feeds(name, kind, source, fetched_at, records, errors, duration, note)``
    One row per feed (``osv``, ``debian``, ``alpine``, ``kev``, ``epss``); ``source`` lists
    the paths read (``; ``-separated), ``fetched_at`` is the newest modification time of
    those paths (when the data reached this machine), ``records`` what was stored.
``advisories(id, feed, published, modified, withdrawn, summary, severity, refs, cwes, database_specific)``
    Primary key **(id, feed)**: the same id from two feeds (``DSA-3029-1`` from OSV and from
    the Debian tracker) gives two rows, told apart by ``feed``. Times are ISO 8601 strings;
    ``severity``/``refs``/``cwes``/``database_specific`` are JSON (the last one is dropped,
    with a ``_dropped`` marker, when over :data:`MAX_DB_SPECIFIC` bytes). Withdrawn records are
    stored with their ``withdrawn`` time; :meth:`VulnDB.advisories_for` leaves them out unless
    asked.
``aliases(alias, advisory_id, feed, kind)``
    ``kind`` is ``alias`` (the record's ``aliases``: the same vulnerability), ``upstream`` (its
    ``upstream``: the vulnerability a distro record is derived from, ``DEBIAN-CVE-x`` -> ``CVE-x``)
    or ``related`` (its ``related`` ids). Indexed both ways; :meth:`VulnDB.aliases_of` follows
    ``alias`` and ``upstream`` links in both directions.
``affected(advisory_id, feed, ecosystem, release, package, raw_name, purl, ranges, versions,``
``fix_state, severity, ecosystem_specific, database_specific)``
    ``ecosystem`` is the base (``Debian``, ``PyPI``), ``release`` what followed the first
    colon (``12``, ``v3.11``; ``""`` when none), ``package`` the normalised name. ``ranges``
    is JSON ``[{"type", "repo", "events": [[kind, value], ...], "database_specific"}]`` with
    events in the order given. Indexed on ``(ecosystem, release, package)``.
``kev(cve_id, date_added, due_date, known_ransomware, vendor, product, name)``
``epss(cve_id, probability, percentile, score_date)``
``cves(cve_id, published, modified, status, description, cvss, cwes, refs)``
    One row per CVE from NVD (:mod:`~threatstryker.vulndb.feeds.nvd`); ``status`` is NVD's
    ``vulnStatus`` (rejected CVEs are kept, with ``Rejected``), ``description`` the English one.
    ``cvss`` is JSON ``[Cvss.to_dict(), ...]`` (v4.0 first, each metric's ``source``
    ``nvd:<primary|secondary>:<who>``), ``cwes`` and ``refs`` JSON lists of ``CWE-n`` ids and
    URLs. The same CVE twice keeps the newer ``modified``. :meth:`VulnDB.cve`/:meth:`VulnDB.cves`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..model.finding import Cvss
from .advisory import Affected, Event, Range, Severity, normalise_name
from .feeds.kev import KevEntry

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "AffectedRecord",
    "CveRecord",
    "DBStatus",
    "EpssRecord",
    "FeedStatus",
    "SchemaMismatch",
    "VulnDB",
    "VulnDBError",
    "create_schema",
    "run_script",
]

#: Bumped whenever the tables change; readers refuse any other version.
SCHEMA_VERSION = 2
#: Most CVE ids looked up in one query by :meth:`VulnDB.cves`.
CVE_BATCH = 500
#: Largest advisory-level ``database_specific`` JSON kept (bytes).
MAX_DB_SPECIFIC = 8 * 1024

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE feeds (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, fetched_at TEXT,
    records INTEGER NOT NULL, errors INTEGER NOT NULL, duration REAL NOT NULL, note TEXT NOT NULL
);
CREATE TABLE advisories (
    id TEXT NOT NULL, feed TEXT NOT NULL, published TEXT, modified TEXT, withdrawn TEXT,
    summary TEXT NOT NULL, severity TEXT NOT NULL, refs TEXT NOT NULL, cwes TEXT NOT NULL,
    database_specific TEXT NOT NULL,
    PRIMARY KEY (id, feed)
);
CREATE TABLE aliases (alias TEXT NOT NULL, advisory_id TEXT NOT NULL, feed TEXT NOT NULL, kind TEXT NOT NULL);
CREATE TABLE affected (
    advisory_id TEXT NOT NULL, feed TEXT NOT NULL, ecosystem TEXT NOT NULL, release TEXT NOT NULL,
    package TEXT NOT NULL, raw_name TEXT NOT NULL, purl TEXT, ranges TEXT NOT NULL, versions TEXT NOT NULL,
    fix_state TEXT NOT NULL, severity TEXT NOT NULL, ecosystem_specific TEXT NOT NULL,
    database_specific TEXT NOT NULL
);
CREATE TABLE kev (
    cve_id TEXT PRIMARY KEY, date_added TEXT NOT NULL, due_date TEXT, known_ransomware INTEGER NOT NULL,
    vendor TEXT NOT NULL, product TEXT NOT NULL, name TEXT NOT NULL
);
CREATE TABLE epss (cve_id TEXT PRIMARY KEY, probability REAL NOT NULL, percentile REAL NOT NULL, score_date TEXT);
CREATE TABLE cves (
    cve_id TEXT PRIMARY KEY, published TEXT, modified TEXT, status TEXT NOT NULL, description TEXT NOT NULL,
    cvss TEXT NOT NULL, cwes TEXT NOT NULL, refs TEXT NOT NULL
);
"""

#: Created after the bulk insert (faster than maintaining them row by row).
INDEXES = """
CREATE INDEX aliases_alias ON aliases (alias);
CREATE INDEX aliases_advisory ON aliases (advisory_id);
CREATE INDEX affected_package ON affected (ecosystem, release, package);
CREATE INDEX affected_advisory ON affected (advisory_id, feed);
"""


class VulnDBError(Exception):
    """The database cannot be used; the message is one line meant for the user."""


class SchemaMismatch(VulnDBError):
    """The database was written with another schema version."""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables (not the indexes, see :data:`INDEXES`) in an empty database, inside
    any open transaction (``executescript`` would commit it)."""
    run_script(conn, SCHEMA)


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements one by one (no implicit COMMIT, unlike ``executescript``)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


@dataclass(frozen=True)
class FeedStatus:
    name: str
    kind: str
    source: str
    fetched_at: datetime | None
    records: int
    errors: int
    duration: float
    note: str

    def age(self, now: datetime | None = None) -> float | None:
        """Seconds since ``fetched_at`` (``None`` when unknown)."""
        if self.fetched_at is None:
            return None
        return ((now or datetime.now(UTC)) - self.fetched_at).total_seconds()


@dataclass(frozen=True)
class DBStatus:
    path: str
    schema_version: int
    built_at: datetime | None
    tool_version: str
    size: int
    feeds: tuple[FeedStatus, ...]
    advisories: int
    affected: int


@dataclass(frozen=True)
class AffectedRecord:
    """One affected-package row with its advisory's headline fields (what a matcher needs).

    ``affected`` is rebuilt as an :class:`Affected` with :class:`Range` objects, so the
    matcher can use the same code as for advisories read straight from a feed. ``aliases``,
    ``upstream`` and ``related`` are the advisory's own ids of each kind as stored for this feed.
    """

    advisory_id: str
    feed: str
    summary: str
    published: datetime | None
    modified: datetime | None
    withdrawn: datetime | None
    severity: tuple[Severity, ...]
    aliases: tuple[str, ...]
    affected: Affected
    upstream: tuple[str, ...] = ()
    related: tuple[str, ...] = ()


@dataclass(frozen=True)
class EpssRecord:
    cve_id: str
    probability: float
    percentile: float
    score_date: datetime | None


@dataclass(frozen=True)
class CveRecord:
    """A CVE as NVD describes it (a ``cves`` row): ``status`` is NVD's ``vulnStatus``, ``cvss``
    its metrics (v4.0 first), ``cwes`` the ``CWE-n`` ids, ``refs`` the reference URLs."""

    cve_id: str
    published: datetime | None
    modified: datetime | None
    status: str
    description: str
    cvss: tuple[Cvss, ...]
    cwes: tuple[str, ...]
    refs: tuple[str, ...]

    @property
    def rejected(self) -> bool:
        return self.status.strip().lower() == "rejected"


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _severities(text: str) -> tuple[Severity, ...]:
    return tuple(Severity(t, s) for t, s in json.loads(text))


class VulnDB:
    """A read-only handle on a database file. Use :meth:`open`; close with :meth:`close` or
    use it as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> VulnDB:
        """Open ``path`` read-only; raises :class:`VulnDBError` (one line) when it is missing,
        not a database, or of another schema version (:class:`SchemaMismatch`)."""
        file = Path(path)
        hint = "run `threatstryker db update`"
        if not file.is_file():
            raise VulnDBError(f"no vulnerability database at {file}; {hint}")
        uri = file.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True)
        except sqlite3.Error as exc:
            raise VulnDBError(f"cannot open vulnerability database {file}: {exc}; {hint}") from None
        try:
            conn.execute("PRAGMA query_only = ON")
            rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            conn.close()
            raise VulnDBError(f"{file} is not a ThreatStryker vulnerability database ({exc}); {hint}") from None
        version = rows.get("schema_version")
        if version != str(SCHEMA_VERSION):
            conn.close()
            raise SchemaMismatch(
                f"vulnerability database {file} has schema version {version or 'none'}, this ThreatStryker "
                f"needs {SCHEMA_VERSION}; {hint}"
            )
        return cls(conn, str(file))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The (read-only) connection, for queries this class does not offer."""
        return self._conn

    # -- status ---------------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())

    def status(self) -> DBStatus:
        meta = self.meta()
        feeds = tuple(
            FeedStatus(name, kind, source, _time(fetched), records, errors, duration, note)
            for name, kind, source, fetched, records, errors, duration, note in self._conn.execute(
                "SELECT name, kind, source, fetched_at, records, errors, duration, note FROM feeds ORDER BY name"
            )
        )
        (advisories,) = self._conn.execute("SELECT COUNT(*) FROM advisories").fetchone()
        (affected,) = self._conn.execute("SELECT COUNT(*) FROM affected").fetchone()
        return DBStatus(
            path=self.path,
            schema_version=int(meta["schema_version"]),
            built_at=_time(meta.get("built_at")),
            tool_version=meta.get("tool_version", ""),
            size=os.path.getsize(self.path),
            feeds=feeds,
            advisories=advisories,
            affected=affected,
        )

    # -- queries --------------------------------------------------------------------------------

    def advisories_for(
        self,
        ecosystem: str,
        release: str | None,
        package: str,
        *,
        include_withdrawn: bool = False,
        release_prefix: bool = False,
    ) -> list[AffectedRecord]:
        """Affected-package rows for ``package`` in ``ecosystem`` (the base: ``Debian``,
        ``PyPI``, ``Go``) and ``release`` (``"12"``, ``"v3.11"``; ``None``/``""`` for none).
        The name is normalised like the feeds do (PEP 503 for PyPI). Withdrawn advisories are
        left out unless ``include_withdrawn``. With ``release_prefix``, every release starting
        with ``release`` matches (``enterprise_linux:9::`` for all of RHEL 9's streams).
        Ordered by advisory id, then feed."""
        name = normalise_name(ecosystem, package)
        sql = (
            "SELECT f.advisory_id, f.feed, a.summary, a.published, a.modified, a.withdrawn, a.severity,"
            " f.ecosystem, f.release, f.package, f.raw_name, f.purl, f.ranges, f.versions, f.severity,"
            " f.ecosystem_specific, f.database_specific"
            " FROM affected f JOIN advisories a ON a.id = f.advisory_id AND a.feed = f.feed"
            " WHERE f.ecosystem = ? AND f.package = ?"
        )
        params: tuple[str, ...]
        if release_prefix and release:
            sql += " AND f.release >= ? AND f.release < ?"
            params = (ecosystem, name, release, release + "\U0010ffff")
        else:
            sql += " AND f.release = ?"
            params = (ecosystem, name, release or "")
        if not include_withdrawn:
            sql += " AND a.withdrawn IS NULL"
        sql += " ORDER BY f.advisory_id, f.feed, f.rowid"
        out = []
        for row in self._conn.execute(sql, params).fetchall():
            (adv_id, feed, summary, published, modified, withdrawn, adv_sev, eco, rel, pkg, raw, purl, ranges,
             versions, sev, eco_spec, db_spec) = row  # fmt: skip
            affected = Affected(
                ecosystem=f"{eco}:{rel}" if rel else eco,
                ecosystem_base=eco,
                ecosystem_release=rel or None,
                name=pkg,
                raw_name=raw,
                purl=purl,
                ranges=tuple(_range(r) for r in json.loads(ranges)),
                versions=tuple(json.loads(versions)),
                severity=_severities(sev),
                ecosystem_specific=json.loads(eco_spec),
                database_specific=json.loads(db_spec),
            )
            own = self._own_aliases(adv_id, feed)
            out.append(
                AffectedRecord(
                    advisory_id=adv_id,
                    feed=feed,
                    summary=summary,
                    published=_time(published),
                    modified=_time(modified),
                    withdrawn=_time(withdrawn),
                    severity=_severities(adv_sev),
                    aliases=own.get("alias", ()),
                    affected=affected,
                    upstream=own.get("upstream", ()),
                    related=own.get("related", ()),
                )
            )
        return out

    def _own_aliases(self, advisory_id: str, feed: str) -> dict[str, tuple[str, ...]]:
        rows = self._conn.execute(
            "SELECT alias, kind FROM aliases WHERE advisory_id = ? AND feed = ? ORDER BY rowid", (advisory_id, feed)
        )
        out: dict[str, list[str]] = {}
        for alias, kind in rows:
            out.setdefault(kind, []).append(alias)
        return {k: tuple(v) for k, v in out.items()}

    def aliases_of(self, identifier: str, *, rounds: int = 2) -> list[str]:
        """The ids linked to ``identifier`` through aliases, in both directions (the aliases an
        advisory lists, and the advisories that list an id), followed ``rounds`` steps: with the
        default, ``CVE-...`` gives the ``PYSEC-...``/``DSA-...`` that list it *and* the
        ``GHSA-...`` those list. Sorted, without ``identifier`` itself."""
        group, frontier = {identifier}, {identifier}
        for _ in range(max(rounds, 1)):
            found: set[str] = set()
            for item in frontier:
                rows = self._conn.execute(
                    "SELECT alias FROM aliases WHERE advisory_id = ? AND kind != 'related'"
                    " UNION SELECT advisory_id FROM aliases WHERE alias = ? AND kind != 'related'",
                    (item, item),
                )
                found.update(r[0] for r in rows)
            frontier = found - group
            group |= found
            if not frontier:
                break
        return sorted(group - {identifier})

    def feeds_of(self, advisory_id: str) -> list[str]:
        """The feeds that hold an advisory with this id."""
        rows = self._conn.execute("SELECT feed FROM advisories WHERE id = ? ORDER BY feed", (advisory_id,))
        return [r[0] for r in rows]

    def kev(self, cve_id: str) -> KevEntry | None:
        """The KEV entry for a CVE (only the stored fields are set), or ``None``."""
        row = self._conn.execute(
            "SELECT cve_id, date_added, due_date, known_ransomware, vendor, product, name FROM kev WHERE cve_id = ?",
            (cve_id.upper(),),
        ).fetchone()
        if row is None:
            return None
        cve, added, due, ransomware, vendor, product, name = row
        return KevEntry(
            cve_id=cve,
            vendor=vendor,
            product=product,
            name=name,
            date_added=date.fromisoformat(added),
            due_date=date.fromisoformat(due) if due else None,
            known_ransomware=bool(ransomware),
        )

    def epss(self, cve_id: str) -> EpssRecord | None:
        """The EPSS score for a CVE, or ``None``."""
        row = self._conn.execute(
            "SELECT cve_id, probability, percentile, score_date FROM epss WHERE cve_id = ?", (cve_id.upper(),)
        ).fetchone()
        if row is None:
            return None
        return EpssRecord(row[0], row[1], row[2], _time(row[3]))

    def cve(self, cve_id: str) -> CveRecord | None:
        """NVD's record of a CVE (id in any case), or ``None``."""
        return self.cves([cve_id]).get(cve_id.strip().upper())

    def cves(self, ids: Iterable[str]) -> dict[str, CveRecord]:
        """NVD's records of the CVEs that have one, keyed by upper-case id; one query per
        :data:`CVE_BATCH` ids."""
        wanted = list(dict.fromkeys(i.strip().upper() for i in ids))
        out: dict[str, CveRecord] = {}
        for n in range(0, len(wanted), CVE_BATCH):
            batch = wanted[n : n + CVE_BATCH]
            rows = self._conn.execute(
                "SELECT cve_id, published, modified, status, description, cvss, cwes, refs FROM cves"
                f" WHERE cve_id IN ({', '.join('?' * len(batch))})",
                batch,
            )
            for cve, published, modified, status, description, cvss, cwes, refs in rows:
                out[cve] = CveRecord(
                    cve_id=cve,
                    published=_time(published),
                    modified=_time(modified),
                    status=status,
                    description=description,
                    cvss=tuple(Cvss.from_dict(c) for c in json.loads(cvss)),
                    cwes=tuple(json.loads(cwes)),
                    refs=tuple(json.loads(refs)),
                )
        return out

    def iter_ids(self, feed: str | None = None) -> Iterator[tuple[str, str]]:
        """``(id, feed)`` of every advisory (of one feed when given)."""
        if feed is None:
            yield from self._conn.execute("SELECT id, feed FROM advisories ORDER BY feed, id")
        else:
            yield from self._conn.execute("SELECT id, feed FROM advisories WHERE feed = ? ORDER BY id", (feed,))


def _range(data: dict[str, Any]) -> Range:
    return Range(
        type=data["type"],
        events=tuple(Event(k, v) for k, v in data["events"]),
        repo=data.get("repo"),
        database_specific=data.get("database_specific") or {},
    )
