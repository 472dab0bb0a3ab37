"""Deciding which findings the loaded ignore entries and VEX statements suppress, and the notices that go with it.

A live ignore entry that matches a finding suppresses it (the first such entry, in file order, is the
one named). Otherwise the latest VEX statement about the finding decides: a suppressing status
(``not_affected``, ``fixed``, ``false_positive``, ``resolved``...) suppresses it, any other status
keeps it active and is handed back in ``vex_open``. VEX statements apply to vulnerability findings
only; ignore entries to findings of every kind. An expired entry suppresses nothing and is reported
in ``notices``, with whether it still matches findings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

from threatstryker.model.finding import Finding, ScanReport, Suppression

from .ignore import EntryIndex, IgnoreEntry
from .subject import Subject, Suppressible
from .vex import VexStatement

F = TypeVar("F", bound=Suppressible)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(slots=True)
class Applied(Generic[F]):
    """The outcome of :meth:`Suppressions.apply`: ``active`` and ``suppressed`` findings (input order kept),
    one-line ``notices`` (expired entries, unusable VEX references), and ``vex_open``: active or not, each
    finding whose latest VEX statement does not suppress it (affected, under_investigation, exploitable,
    in_triage), with that statement."""

    active: list[F] = field(default_factory=list)
    suppressed: list[F] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    vex_open: list[tuple[F, VexStatement]] = field(default_factory=list)


def _expired_notice(entry: IgnoreEntry, hits: int) -> str:
    head = f"{entry.file}:{entry.line}: ignore entry ({entry.describe()}) expired on {entry.expires}"
    if hits:
        return f"{head} and no longer suppresses the {hits} finding(s) it matches"
    return f"{head} and matches no finding; remove it"


@dataclass(slots=True)
class Suppressions:
    """Every ignore entry and VEX statement loaded, in load order, with notices about the files themselves."""

    entries: list[IgnoreEntry] = field(default_factory=list)
    statements: list[VexStatement] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def apply(self, findings: Iterable[F], today: date | None = None) -> Applied[F]:
        """Sets ``suppressed`` on every finding (the :class:`Suppression`, or None when it stays active) and
        sorts them into an :class:`Applied`; ``today`` (default: the local date) decides which entries expired."""
        today = today or date.today()
        live = EntryIndex([e for e in self.entries if not e.expired(today)])
        expired = EntryIndex([e for e in self.entries if e.expired(today)])
        hits = [0] * len(expired.entries)
        by_name: dict[str, list[int]] = {}
        for index, statement in enumerate(self.statements):
            for name in statement.names:
                by_name.setdefault(name, []).append(index)
        out: Applied[F] = Applied(notices=list(self.notices))
        for finding in findings:
            subject = Subject.of(finding)
            suppression = None
            matched = live.matching(subject)
            if matched:
                e = live.entries[matched[0]]
                expires = e.expires.isoformat() if e.expires else None
                suppression = Suppression("ignore", e.file, e.reason, None, expires)
            for i in expired.matching(subject):
                hits[i] += 1
            latest = self._latest_statement(subject, by_name)
            if latest is not None and not latest.suppresses:
                out.vex_open.append((finding, latest))
            elif latest is not None and suppression is None:
                suppression = Suppression(latest.source, latest.file, latest.reason, latest.status)
            finding.suppressed = suppression
            (out.active if suppression is None else out.suppressed).append(finding)
        out.notices += [_expired_notice(e, n) for e, n in zip(expired.entries, hits, strict=True)]
        return out

    def _latest_statement(self, subject: Subject, by_name: dict[str, list[int]]) -> VexStatement | None:
        """The latest VEX statement about ``subject`` (by timestamp, then by load order), if any."""
        candidates = {i for name in subject.ids for i in by_name.get(name, ())}
        best: tuple[datetime, int] | None = None
        for i in candidates:
            statement = self.statements[i]
            if statement.matches(subject):
                key = (statement.timestamp or _EARLIEST, i)
                if best is None or key > best:
                    best = key
        return self.statements[best[1]] if best is not None else None


def apply_to_report(report: ScanReport, suppressions: Suppressions,
                    today: date | None = None) -> Applied[Finding]:
    """Applies ``suppressions`` to every finding of ``report`` (active and already suppressed ones alike),
    moving them between ``report.findings`` (most severe first, prior order kept among equals) and
    ``report.suppressed``, and adds the notices ``report`` does not hold yet."""
    applied = suppressions.apply([*report.findings, *report.suppressed], today)
    report.findings = sorted(applied.active, key=lambda f: -f.rank)
    report.suppressed = list(applied.suppressed)
    report.notices += [n for n in dict.fromkeys(applied.notices) if n not in report.notices]
    return applied
