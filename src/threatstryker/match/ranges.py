"""Decide whether one version is inside an advisory's affected ranges, and say which range and fix.

The OSV rules (https://ossf.github.io/osv-schema/#evaluation): the events of an ``ECOSYSTEM``
or ``SEMVER`` range are sorted by version and walked; ``introduced`` at or below the version
makes it affected, ``fixed`` at or below (``last_affected`` below) makes it unaffected again;
``limit`` events cap the range. ``introduced: "0"`` is below every version. At equal versions
``introduced`` is taken first, so ``introduced X, fixed X`` is an empty range.

``GIT`` ranges are not evaluated (a package version is not a commit). The explicit
``versions`` list is used only when a record has no ``ECOSYSTEM``/``SEMVER`` range: feeds that
give both (PyPA) derive the list from git tags, and it holds versions the ranges exclude.

Record versions the scheme rejects make that range unusable; :class:`Evaluation` counts them
so the caller can report it, instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cmp_to_key, lru_cache

from ..vulndb.advisory import Affected, Event, Range
from ..vulndb.versions import InvalidVersion, Version, parse

__all__ = ["Evaluation", "Hit", "evaluate", "parse_cached"]

_KIND_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 1}


@lru_cache(maxsize=262144)
def parse_cached(scheme: str, text: str) -> Version | None:
    """``parse(scheme, text)``, or ``None`` when the scheme rejects it (cached: records repeat versions)."""
    try:
        return parse(scheme, text)
    except InvalidVersion:
        return None


@dataclass(frozen=True, slots=True)
class Hit:
    """A version inside a record: ``method`` is ``range`` or ``versions``; ``ranges`` describe
    the matching ranges (``>=1.0, <1.2.3 (ECOSYSTEM)``); ``fixed`` the fixed versions above the
    version from those ranges; ``last_affected`` set when a range ends at a last-affected version."""

    method: str
    ranges: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    last_affected: tuple[str, ...] = ()


@dataclass(slots=True)
class Evaluation:
    """Counters of what could not be evaluated (reported once per scan by the matcher)."""

    bad_ranges: int = 0
    bad_range_examples: list[str] = field(default_factory=list)

    def bad(self, text: str) -> None:
        self.bad_ranges += 1
        if len(self.bad_range_examples) < 5:
            self.bad_range_examples.append(text)


def _compare_items(a: tuple[Version | None, Event], b: tuple[Version | None, Event]) -> int:
    va, vb = a[0], b[0]
    c = (va is not None) - (vb is not None) if va is None or vb is None else (va > vb) - (va < vb)
    return c or _KIND_ORDER[a[1].kind] - _KIND_ORDER[b[1].kind]


def _sorted_events(rng: Range, scheme: str) -> list[tuple[Version | None, Event]] | None:
    items: list[tuple[Version | None, Event]] = []
    for event in rng.events:
        if event.kind == "limit":
            continue
        if event.kind == "introduced" and event.value == "0":
            items.append((None, event))
            continue
        parsed = parse_cached(scheme, event.value)
        if parsed is None:
            return None
        items.append((parsed, event))
    return sorted(items, key=cmp_to_key(_compare_items))


def _in_range(rng: Range, version: Version, scheme: str, ev: Evaluation, record: str) -> Hit | None:
    items = _sorted_events(rng, scheme)
    if items is None:
        ev.bad(f"{record}: a {rng.type} range has a version the {scheme} scheme rejects")
        return None
    affected, introduced = False, "0"
    for parsed, event in items:
        if event.kind == "introduced":
            if parsed is None or version >= parsed:
                affected, introduced = True, event.value
        elif parsed is not None and (version >= parsed if event.kind == "fixed" else version > parsed):
            affected = False
    if not affected:
        return None
    limits = [e.value for e in rng.events if e.kind == "limit"]
    if limits:
        bounds = [parse_cached(scheme, v) for v in limits if v != "*"]
        if "*" not in limits and not any(b is not None and version < b for b in bounds):
            return None
    upper: Event | None = None
    for parsed, event in items:
        if event.kind == "fixed" and parsed is not None and parsed > version:
            upper = event
            break
        if event.kind == "last_affected" and parsed is not None and parsed >= version:
            upper = event
            break
    text = f">={introduced}"
    if upper is not None:
        text += f", <{upper.value}" if upper.kind == "fixed" else f", <={upper.value}"
    text += f" ({rng.type})"
    return Hit(
        method="range",
        ranges=(text,),
        fixed=(upper.value,) if upper is not None and upper.kind == "fixed" else (),
        last_affected=(upper.value,) if upper is not None and upper.kind == "last_affected" else (),
    )


def evaluate(affected: Affected, version: Version, ev: Evaluation, record: str = "") -> Hit | None:
    """The :class:`Hit` when ``version`` (parsed in the record's scheme) is affected, else ``None``."""
    scheme = version.scheme
    ranges = [r for r in affected.ranges if r.type in ("ECOSYSTEM", "SEMVER")]
    if ranges:
        hits = [h for r in ranges if (h := _in_range(r, version, scheme, ev, record)) is not None]
        if not hits:
            return None
        return Hit(
            method="range",
            ranges=tuple(t for h in hits for t in h.ranges),
            fixed=tuple(dict.fromkeys(f for h in hits for f in h.fixed)),
            last_affected=tuple(dict.fromkeys(v for h in hits for v in h.last_affected)),
        )
    for listed in affected.versions:
        if listed == version.text:
            return Hit(method="versions", ranges=(f"=={listed}",))
        parsed = parse_cached(scheme, listed)
        if parsed is not None and parsed == version:
            return Hit(method="versions", ranges=(f"=={listed}",))
    return None
