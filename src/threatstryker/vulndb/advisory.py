"""Normalised, typed vulnerability advisories (the model a store and a matcher work on).

Feeds (see :mod:`threatstryker.vulndb.feeds`) turn their records into :class:`Advisory`
objects. The model follows the OSV schema (https://ossf.github.io/osv-schema/) closely but:

* every sequence is a tuple and every object is frozen, so advisories can be shared freely;
* timestamps are timezone-aware :class:`~datetime.datetime` objects (UTC when none is given);
* package names are normalised per ecosystem (:func:`normalise_name`), the name as given is
  kept in :attr:`Affected.raw_name`;
* ``ecosystem_specific`` / ``database_specific`` objects are kept as given, converted to plain
  JSON values (YAML timestamps become ISO strings), so a store can serialise them as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from packaging.utils import canonicalize_name

__all__ = [
    "EVENT_KINDS",
    "Advisory",
    "AdvisoryError",
    "Affected",
    "Event",
    "FixState",
    "Range",
    "Reference",
    "Severity",
    "normalise_name",
    "split_ecosystem",
]

#: OSV range event kinds, in the order the schema lists them.
EVENT_KINDS: tuple[str, ...] = ("introduced", "fixed", "last_affected", "limit")

#: The type given to a severity word taken from a record's ``database_specific.severity``
#: (GitHub's ``LOW``/``MODERATE``/``HIGH``/``CRITICAL``, for example).
DATABASE_SPECIFIC = "DATABASE_SPECIFIC"

FixState = Literal["fixed", "not_fixed", "unknown"]


class AdvisoryError(ValueError):
    """A record that cannot be read as an advisory; the message is one line naming the record."""

    def __init__(self, message: str, *, source: str = "", record_id: str | None = None) -> None:
        self.source = source
        self.record_id = record_id
        where = ": ".join(part for part in (source, record_id) if part)
        text = f"{where}: {message}" if where else message
        super().__init__(" ".join(text.split()))


class Event(NamedTuple):
    """One range event: ``kind`` is one of :data:`EVENT_KINDS`, ``value`` a version or commit."""

    kind: str
    value: str


@dataclass(frozen=True)
class Severity:
    """A severity as given: ``type`` is e.g. ``CVSS_V3``/``CVSS_V4``/``Ubuntu`` or
    :data:`DATABASE_SPECIFIC`; ``score`` is the vector or word, unparsed."""

    type: str
    score: str


@dataclass(frozen=True)
class Reference:
    """A link: ``type`` as given (``ADVISORY``, ``WEB``, ``FIX``, ``PACKAGE``, ...) and its URL."""

    type: str
    url: str


@dataclass(frozen=True)
class Range:
    """An OSV range: ``type`` is ``ECOSYSTEM``, ``SEMVER`` or ``GIT`` (``repo`` set for GIT);
    ``events`` are kept in the order given, which is the order OSV evaluates them in."""

    type: str
    events: tuple[Event, ...]
    repo: str | None = None
    database_specific: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def fixed(self) -> tuple[str, ...]:
        """The values of the ``fixed`` events, in order."""
        return tuple(e.value for e in self.events if e.kind == "fixed")


@dataclass(frozen=True)
class Affected:
    """One affected package of an advisory.

    ``ecosystem`` is as given (``Debian:12``, ``PyPI``, ``Ubuntu:Pro:18.04:LTS``);
    ``ecosystem_base``/``ecosystem_release`` split it at the first colon (``Debian``/``12``;
    release ``None`` when there is none). ``name`` is normalised (:func:`normalise_name`),
    ``raw_name`` is as given.
    """

    ecosystem: str
    ecosystem_base: str
    ecosystem_release: str | None
    name: str
    raw_name: str
    purl: str | None = None
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    severity: tuple[Severity, ...] = ()
    ecosystem_specific: dict[str, Any] = field(default_factory=dict, hash=False)
    database_specific: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def fix_state(self) -> FixState:
        """A hint from the ranges: ``fixed`` when some range has a ``fixed`` event,
        ``not_fixed`` when ranges exist (``introduced`` with no ``fixed``, or ``last_affected``
        only), ``unknown`` when there are no ranges (explicit versions only).

        Version ranges (ECOSYSTEM/SEMVER) decide; GIT ranges only count when there are no
        version ranges, since a fix commit that is in no release does not help a package user.
        """
        ranges = [r for r in self.ranges if r.type != "GIT"] or list(self.ranges)
        kinds = {e.kind for r in ranges for e in r.events}
        if "fixed" in kinds:
            return "fixed"
        if kinds & {"introduced", "last_affected"}:
            return "not_fixed"
        return "unknown"


@dataclass(frozen=True)
class Advisory:
    """A vulnerability advisory, normalised from a feed record.

    ``details`` is trimmed of surrounding white space. ``withdrawn`` is set when the record
    was withdrawn (a matcher should not report it). ``severity`` holds the record's severities
    followed, when the database gives one, by its ``database_specific.severity`` word.
    ``cwe_ids`` come from ``database_specific.cwe_ids`` (GitHub) when present. ``source``
    names where the record was read from (a path, or ``zip!member``).
    """

    id: str
    modified: datetime | None
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    severity: tuple[Severity, ...] = ()
    references: tuple[Reference, ...] = ()
    cwe_ids: tuple[str, ...] = ()
    affected: tuple[Affected, ...] = ()
    schema_version: str | None = None
    database_specific: dict[str, Any] = field(default_factory=dict, hash=False)
    source: str = ""

    @property
    def is_withdrawn(self) -> bool:
        """Whether the record was withdrawn."""
        return self.withdrawn is not None


def split_ecosystem(ecosystem: str) -> tuple[str, str | None]:
    """``"Debian:12"`` -> ``("Debian", "12")``; ``"PyPI"`` -> ``("PyPI", None)``."""
    base, sep, release = ecosystem.partition(":")
    return base, (release if sep and release else None)


def normalise_name(ecosystem_base: str, name: str) -> str:
    """The package name as a matcher should compare it: PEP 503 for PyPI, lower case for
    Packagist (Composer names are case-insensitive), as given for every other ecosystem."""
    if ecosystem_base == "PyPI":
        return canonicalize_name(name)
    if ecosystem_base == "Packagist":
        return name.lower()
    return name
