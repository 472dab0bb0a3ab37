"""Suppressing findings: an ignore file, OpenVEX and CycloneDX VEX documents, loaded by content and applied.

::

    from threatstryker.suppress import load_suppressions, apply_to_report

    suppressions = load_suppressions([".threatstryker-ignore.yaml", "product.openvex.json"])
    applied = suppressions.apply(findings)          # or apply_to_report(report, suppressions)
    applied.active, applied.suppressed, applied.notices

A file is recognised by what it holds: JSON with an OpenVEX ``@context`` is OpenVEX, JSON with
``"bomFormat": "CycloneDX"`` is CycloneDX, anything else must be an ignore file (YAML with an
``ignore`` list; see :mod:`threatstryker.suppress.ignore`). A file that is none of these, or is
malformed, raises :class:`SuppressionError`, whose message is one line naming the file (and line).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from ._files import SuppressionError, read_text
from .apply import Applied, Suppressions, apply_to_report
from .cyclonedx_vex import is_cyclonedx, read_cyclonedx_vex
from .ignore import IgnoreEntry, parse_ignore
from .openvex import is_openvex, read_openvex
from .subject import Located, Packaged, Suppressible
from .vex import VexStatement

__all__ = [
    "Applied",
    "IgnoreEntry",
    "Located",
    "Packaged",
    "Suppressible",
    "SuppressionError",
    "Suppressions",
    "VexStatement",
    "apply_to_report",
    "load_file",
    "load_suppressions",
]


def load_file(path: str | os.PathLike[str], into: Suppressions) -> str:
    """Reads one ignore file or VEX document into ``into``; returns its kind (``ignore``, ``openvex``,
    ``cyclonedx-vex``). SuppressionError when it cannot be read or is malformed."""
    file = os.fspath(path)
    text = read_text(file)
    start = text.lstrip()[:1]
    if start == "<":
        raise SuppressionError("XML is not read: give CycloneDX as JSON", file=file)
    if start == "{" or start == "[":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuppressionError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
        if isinstance(doc, dict) and is_openvex(doc):
            into.statements += read_openvex(doc, file)
            into.files.append(file)
            return "openvex"
        if isinstance(doc, dict) and is_cyclonedx(doc):
            statements, notices = read_cyclonedx_vex(doc, file)
            into.statements += statements
            into.notices += notices
            into.files.append(file)
            return "cyclonedx-vex"
        if not (isinstance(doc, dict) and "ignore" in doc):
            raise SuppressionError("JSON that is neither OpenVEX (an https://openvex.dev/ns @context) nor "
                                   "CycloneDX (bomFormat) nor an ignore file", file=file)
    into.entries += parse_ignore(text, file)
    into.files.append(file)
    return "ignore"


def load_suppressions(paths: Iterable[str | os.PathLike[str]]) -> Suppressions:
    """Every ignore entry and VEX statement of ``paths``, in order; SuppressionError at the first bad file."""
    out = Suppressions()
    for path in paths:
        load_file(path, out)
    return out
