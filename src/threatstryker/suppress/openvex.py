"""OpenVEX documents (spec v0.2.0; the plain-string forms of earlier drafts too) read into VEX statements.

A statement names a vulnerability (``vulnerability.name``, its ``@id`` and ``aliases``), the
``products`` it is about (each by ``@id`` and ``identifiers.purl``, with ``subcomponents`` named the
same way) and a ``status``: ``not_affected`` and ``fixed`` suppress a finding, ``affected`` and
``under_investigation`` do not (they are kept, so a caller can show them). A finding matches when
one of its ids is the vulnerability's name, ``@id`` or an alias and a product or subcomponent purl
covers its package (see :mod:`threatstryker.suppress.purls`); identifiers that are not purls (CPEs,
hashes) match nothing. A statement's ``timestamp`` defaults to the document's; when several
statements match one finding the latest wins (later in the file wins a tie).
"""

from __future__ import annotations

from typing import Any

from ._files import SuppressionError
from .purls import PurlPattern
from .vex import VexStatement, parse_timestamp

#: OpenVEX status -> whether it suppresses the finding.
STATUSES: dict[str, bool] = {"not_affected": True, "fixed": True, "affected": False, "under_investigation": False}
SOURCE = "openvex"
CONTEXT_PREFIX = "https://openvex.dev/ns"


def is_openvex(doc: dict[str, Any]) -> bool:
    """Whether a JSON document's ``@context`` is OpenVEX's."""
    ctx = doc.get("@context")
    return any(isinstance(v, str) and v.startswith(CONTEXT_PREFIX) for v in (ctx if isinstance(ctx, list) else [ctx]))


def _text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _purls(component: object, where: str, file: str) -> list[PurlPattern]:
    """The purls a product or subcomponent gives (``@id`` when it is a purl, ``identifiers.purl``)."""
    candidates: list[object]
    if isinstance(component, str):
        candidates = [component]
    elif isinstance(component, dict):
        idents = component.get("identifiers")
        candidates = [component.get("@id"), idents.get("purl") if isinstance(idents, dict) else None]
    else:
        raise SuppressionError(f"{where}: a product must be an object or a string", file=file)
    out = []
    for value in candidates:
        if isinstance(value, str) and value.startswith("pkg:"):
            try:
                out.append(PurlPattern.parse(value))
            except ValueError as exc:
                raise SuppressionError(f"{where}: '{value}' is not a valid purl ({exc})", file=file) from None
    return out


def _products(statement: dict[str, Any], where: str, file: str) -> tuple[PurlPattern, ...]:
    products = statement.get("products") or []
    if not isinstance(products, list):
        raise SuppressionError(f"{where}.products must be a list", file=file)
    patterns: list[PurlPattern] = []
    for i, product in enumerate(products):
        patterns += _purls(product, f"{where}.products[{i}]", file)
        subs = product.get("subcomponents") if isinstance(product, dict) else None
        if subs is not None and not isinstance(subs, list):
            raise SuppressionError(f"{where}.products[{i}].subcomponents must be a list", file=file)
        for j, sub in enumerate(subs or []):
            patterns += _purls(sub, f"{where}.products[{i}].subcomponents[{j}]", file)
    # Subcomponents at statement level: the form of the drafts before v0.2.0.
    subs = statement.get("subcomponents") or []
    if not isinstance(subs, list):
        raise SuppressionError(f"{where}.subcomponents must be a list", file=file)
    for j, sub in enumerate(subs):
        patterns += _purls(sub, f"{where}.subcomponents[{j}]", file)
    return tuple(dict.fromkeys(patterns))


def _vulnerability(value: object, where: str, file: str) -> tuple[str, tuple[str, ...]]:
    if isinstance(value, str) and value.strip():
        return value.strip(), ()
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
        raise SuppressionError(f"{where}: vulnerability has no name", file=file)
    aliases = value.get("aliases") or []
    if not isinstance(aliases, list):
        raise SuppressionError(f"{where}.vulnerability.aliases must be a list", file=file)
    extra = [value.get("@id"), *aliases]
    return value["name"].strip(), tuple(a.strip() for a in extra if isinstance(a, str) and a.strip())


def read_openvex(doc: dict[str, Any], file: str) -> list[VexStatement]:
    """The statements of an OpenVEX document; SuppressionError (naming the file and statement) when one
    has no vulnerability name, an unknown status, a bad timestamp or a bad purl."""
    statements = doc.get("statements")
    if not isinstance(statements, list):
        raise SuppressionError("OpenVEX document has no 'statements' list", file=file)
    doc_time = doc.get("timestamp")
    out = []
    for i, statement in enumerate(statements):
        where = f"statements[{i}]"
        if not isinstance(statement, dict):
            raise SuppressionError(f"{where} is not an object", file=file)
        name, aliases = _vulnerability(statement.get("vulnerability"), where, file)
        status = statement.get("status")
        if status not in STATUSES:
            raise SuppressionError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}", file=file)
        stamp_value = statement.get("timestamp") or doc_time
        stamp = parse_timestamp(stamp_value)
        if stamp_value and stamp is None:
            raise SuppressionError(f"{where}: timestamp {stamp_value!r} is not an ISO 8601 date-time", file=file)
        detail = _text(statement.get("impact_statement")) or _text(statement.get("status_notes"))
        out.append(
            VexStatement(
                source=SOURCE,
                file=file,
                where=where,
                vulnerability=name,
                aliases=aliases,
                products=_products(statement, where, file),
                status=str(status),
                suppresses=STATUSES[str(status)],
                justification=_text(statement.get("justification")),
                detail=detail,
                action=_text(statement.get("action_statement")),
                timestamp=stamp,
            )
        )
    return out
