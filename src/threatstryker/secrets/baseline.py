"""Secret baselines: a file of known findings' fingerprints, written once and used to suppress them later.

The file (JSON, schema ``threatstryker-secrets-baseline/1``) lists, per finding, the fingerprint
(SHA-256 of rule, secret hash and path — see :attr:`SecretFinding.fingerprint`), the rule, the
path, the line and the redacted preview, so a reviewer can see what was accepted; it never holds
a secret value. A finding whose fingerprint is in the baseline is suppressed (source
``baseline``); moving a secret to another line keeps it suppressed, a new secret or the same
secret in another file does not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..model.finding import Finding, SecretFinding, Suppression

__all__ = ["SCHEMA", "Baseline", "BaselineError", "apply_baseline", "load_baseline", "write_baseline"]

SCHEMA = "threatstryker-secrets-baseline/1"
#: Largest baseline file read.
MAX_BYTES = 64 * 1024 * 1024


class BaselineError(ValueError):
    """A baseline file that cannot be read; one line naming the file."""


@dataclass
class Baseline:
    file: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self.entries


def write_baseline(findings: Iterable[Finding], path: str | os.PathLike[str]) -> int:
    """Write the secret findings of ``findings`` as a baseline at ``path`` (atomically); returns how many."""
    entries = sorted(
        (
            {"fingerprint": f.fingerprint, "rule": f.id, "path": f.path, "line": f.line, "preview": f.preview}
            for f in findings
            if isinstance(f, SecretFinding)
        ),
        key=lambda e: (e["path"], e["line"], e["rule"]),
    )
    doc = {"schema": SCHEMA, "created": datetime.now(UTC).isoformat(timespec="seconds"), "findings": entries}
    dest = Path(path)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, dest)
    return len(entries)


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline; :class:`BaselineError` when missing, too big, not JSON or of another schema."""
    file = os.fspath(path)
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BaselineError(f"{file}: cannot read baseline: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise BaselineError(f"{file}: baseline larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{file}: not a JSON baseline ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("findings"), list):
        raise BaselineError(f"{file}: not a ThreatStryker secrets baseline (schema {SCHEMA} expected)")
    entries: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(doc["findings"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise BaselineError(f"{file}: entry {i} has no fingerprint")
        entries[entry["fingerprint"]] = entry
    return Baseline(file, entries)


def apply_baseline(findings: list[Finding], baseline: Baseline) -> tuple[list[Finding], list[Finding]]:
    """``(active, suppressed)``: secret findings in the baseline are suppressed (source ``baseline``)."""
    active: list[Finding] = []
    suppressed: list[Finding] = []
    for f in findings:
        if isinstance(f, SecretFinding) and f.fingerprint in baseline:
            f.suppressed = Suppression("baseline", baseline.file, "in the secrets baseline")
            suppressed.append(f)
        else:
            active.append(f)
    return active, suppressed
