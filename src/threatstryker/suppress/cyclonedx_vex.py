"""CycloneDX JSON documents' ``vulnerabilities[]`` with an ``analysis`` read into VEX statements.

``analysis.state`` ``not_affected``, ``false_positive``, ``resolved`` and ``resolved_with_pedigree``
suppress a finding; ``exploitable`` and ``in_triage`` do not (they are kept, so a caller can show
them); a vulnerability without an analysis state asserts nothing and is skipped. The vulnerability's
``id`` and its ``references[].id`` are its names. Each ``affects[].ref`` is resolved to a purl: the
purl of the component with that ``bom-ref`` in the same document (``metadata.component`` and nested
``components`` included), a BOM-Link ``urn:cdx:SERIAL/VERSION#BOM-REF`` naming this document, or the
ref itself when it is a purl. Refs that resolve to nothing (BOM-Links to other documents are not
followed) are counted in one notice. The statement's time is ``analysis.lastUpdated``, else
``firstIssued``, else the vulnerability's ``updated``/``published``, else ``metadata.timestamp``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from ._files import SuppressionError
from .purls import PurlPattern
from .vex import VexStatement, parse_timestamp

#: CycloneDX ``analysis.state`` -> whether it suppresses the finding.
STATES: dict[str, bool] = {
    "not_affected": True,
    "false_positive": True,
    "resolved": True,
    "resolved_with_pedigree": True,
    "exploitable": False,
    "in_triage": False,
}
SOURCE = "cyclonedx-vex"
_BOM_LINK = re.compile(r"urn:cdx:([0-9a-fA-F-]{36})/([1-9][0-9]*)#(.+)", re.DOTALL)


def is_cyclonedx(doc: dict[str, Any]) -> bool:
    """Whether a JSON document is a CycloneDX BOM."""
    return doc.get("bomFormat") == "CycloneDX"


def _component_purls(doc: dict[str, Any]) -> dict[str, str]:
    """bom-ref -> purl of every component that has both, nested components included."""
    metadata = doc.get("metadata")
    stack: list[Any] = [metadata.get("component")] if isinstance(metadata, dict) else []
    components = doc.get("components")
    if isinstance(components, list):
        stack += components
    out: dict[str, str] = {}
    while stack:
        comp = stack.pop()
        if not isinstance(comp, dict):
            continue
        ref, purl = comp.get("bom-ref"), comp.get("purl")
        if isinstance(ref, str) and isinstance(purl, str) and purl:
            out.setdefault(ref, purl)
        children = comp.get("components")
        if isinstance(children, list):
            stack.extend(children)
    return out


class _Resolver:
    """Turns ``affects[].ref`` values into purl strings for one document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.purls = _component_purls(doc)
        serial = doc.get("serialNumber")
        self.serial = serial.removeprefix("urn:uuid:").lower() if isinstance(serial, str) else None
        version = doc.get("version", 1)
        self.version = str(version) if isinstance(version, int) else None

    def resolve(self, ref: str) -> str | None:
        if ref in self.purls:
            return self.purls[ref]
        link = _BOM_LINK.fullmatch(ref)
        if link:
            serial, version, fragment = link.groups()
            same = self.serial is None or (serial.lower() == self.serial and version == self.version)
            if not same:
                return None
            return self.purls.get(fragment) or self.purls.get(unquote(fragment))
        return ref if ref.startswith("pkg:") else None


def _text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _names(vuln: dict[str, Any], where: str, file: str) -> tuple[str, tuple[str, ...]]:
    vid = vuln.get("id")
    if not isinstance(vid, str) or not vid.strip():
        raise SuppressionError(f"{where} has no id", file=file)
    refs = vuln.get("references") or []
    if not isinstance(refs, list):
        raise SuppressionError(f"{where}.references must be a list", file=file)
    ids = [r.get("id") for r in refs if isinstance(r, dict)]
    return vid.strip(), tuple(i.strip() for i in ids if isinstance(i, str) and i.strip())


def read_cyclonedx_vex(doc: dict[str, Any], file: str) -> tuple[list[VexStatement], list[str]]:
    """The VEX statements of a CycloneDX document and its notices; SuppressionError (naming the file and
    vulnerability) for a vulnerability without an id, an unknown state, a bad timestamp or a bad purl."""
    vulns = doc.get("vulnerabilities") or []
    if not isinstance(vulns, list):
        raise SuppressionError("'vulnerabilities' must be a list", file=file)
    resolver = _Resolver(doc)
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    out: list[VexStatement] = []
    unresolved = 0
    for i, vuln in enumerate(vulns):
        where = f"vulnerabilities[{i}]"
        if not isinstance(vuln, dict):
            raise SuppressionError(f"{where} is not an object", file=file)
        analysis = vuln.get("analysis")
        if not isinstance(analysis, dict) or analysis.get("state") is None:
            continue
        name, aliases = _names(vuln, where, file)
        state = analysis["state"]
        if state not in STATES:
            raise SuppressionError(f"{where}: analysis.state {state!r} is not one of {', '.join(STATES)}", file=file)
        affects = vuln.get("affects") or []
        if not isinstance(affects, list):
            raise SuppressionError(f"{where}.affects must be a list", file=file)
        products: list[PurlPattern] = []
        for target in affects:
            ref = target.get("ref") if isinstance(target, dict) else None
            purl = resolver.resolve(ref) if isinstance(ref, str) else None
            if purl is None:
                unresolved += 1
                continue
            try:
                products.append(PurlPattern.parse(purl))
            except ValueError as exc:
                raise SuppressionError(f"{where}: '{purl}' is not a valid purl ({exc})", file=file) from None
        stamp_value = (analysis.get("lastUpdated") or analysis.get("firstIssued") or vuln.get("updated")
                       or vuln.get("published") or metadata.get("timestamp"))
        stamp = parse_timestamp(stamp_value)
        if stamp_value and stamp is None:
            raise SuppressionError(f"{where}: timestamp {stamp_value!r} is not an ISO 8601 date-time", file=file)
        response = analysis.get("response")
        out.append(
            VexStatement(
                source=SOURCE,
                file=file,
                where=where,
                vulnerability=name,
                aliases=aliases,
                products=tuple(dict.fromkeys(products)),
                status=str(state),
                suppresses=STATES[str(state)],
                justification=_text(analysis.get("justification")),
                detail=_text(analysis.get("detail")),
                action=", ".join(r for r in response if isinstance(r, str)) if isinstance(response, list) else "",
                timestamp=stamp,
            )
        )
    notices = []
    if unresolved:
        notices.append(f"{file}: {unresolved} affects ref(s) name no component of this document and are not purls; "
                       "they match no finding (BOM-Links to other documents are not followed)")
    if not out:
        notices.append(f"{file}: CycloneDX document has no vulnerability with an analysis state; it suppresses nothing")
    return out, notices
