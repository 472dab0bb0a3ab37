"""The VEX statement both VEX readers (OpenVEX, CycloneDX) produce, and how a statement's timestamp is read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from .purls import PurlPattern
from .subject import Subject

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 date-time as an aware datetime (naive ones are taken as UTC; digits past microseconds
    are dropped); None when ``value`` is not such a string."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One VEX assertion: ``vulnerability`` (and ``aliases``) has ``status`` in the packages ``products``
    cover. ``source`` is ``openvex`` or ``cyclonedx-vex``, ``where`` the statement's place in ``file``
    (``statements[2]``), ``justification``/``detail``/``action`` as the document gives them, ``timestamp``
    when the statement was made (a later one overrides an earlier one), ``suppresses`` whether the status
    means the finding needs no action (not_affected, fixed, false_positive, resolved...)."""

    source: str
    file: str
    where: str
    vulnerability: str
    aliases: tuple[str, ...]
    products: tuple[PurlPattern, ...]
    status: str
    suppresses: bool
    justification: str = ""
    detail: str = ""
    action: str = ""
    timestamp: datetime | None = None

    @property
    def names(self) -> frozenset[str]:
        """The vulnerability name and aliases, case-folded."""
        return frozenset(n.casefold() for n in (self.vulnerability, *self.aliases) if n)

    @property
    def reason(self) -> str:
        """The justification and free-text detail, as one line (the status when the document gives neither)."""
        text = ": ".join(part for part in (self.justification, self.detail) if part)
        return " ".join(text.split()) or self.status

    def matches(self, subject: Subject) -> bool:
        """Whether this statement is about ``subject``: a vulnerability finding with one of the statement's
        names, on a package a product (or subcomponent) purl covers."""
        if subject.kind != "vulnerability" or not (self.names & subject.ids):
            return False
        return any(p.covers(subject.purl) for p in self.products)
