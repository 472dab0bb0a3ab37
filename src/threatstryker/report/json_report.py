"""The native JSON report: the model's ``to_dict`` with findings in the shared order and free-form maps key-sorted."""

from __future__ import annotations

import json
from typing import Any

from threatstryker.model.finding import ScanReport
from threatstryker.report.order import sorted_findings


def _sorted_keys(value: Any) -> Any:
    """``value`` with the keys of every nested dict sorted (for maps whose keys are data, not a schema)."""
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def render_json(report: ScanReport, *, show_suppressed: bool = False) -> str:
    """JSON text, indent 2; the same report gives the same bytes.

    Keys keep the model's documented order; ``findings`` (and ``suppressed``) follow
    :func:`~threatstryker.report.order.finding_order`; the ``db`` map is key-sorted.
    """
    doc = report.to_dict(show_suppressed=show_suppressed)
    doc["findings"] = [f.to_dict() for f in sorted_findings(report.findings)]
    if show_suppressed:
        doc["suppressed"] = [f.to_dict() for f in sorted_findings(report.suppressed)]
    doc["db"] = _sorted_keys(doc["db"])
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
