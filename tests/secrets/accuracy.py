"""Precision and recall of secret findings against the labels of the accuracy corpus.

A finding is anything with ``path``, ``line``, ``family`` and either ``secret_sha256`` or the clear
``secret`` (an engine :class:`SecretMatch` plus its path, a :class:`SecretFinding`, or a dict); a label
is a ``labels.json`` record ``{path, line, family, kind, value_sha256}``. They match on
``(path, line, SHA-256 of the value)``:

* a finding that matches a label of its own family is a true positive for that family;
* a finding of another family on a labelled secret is a false positive for the finding's family and,
  unless a finding of the right family found it too, a false negative for the label's family;
* a finding that matches no label is a false positive for its family;
* a label no finding of its family matched is a false negative for its family.

Several findings of one family on the same secret (two rules of a family, or one rule twice) count
once. ``precision`` is 1.0 for a family without findings and ``recall`` 1.0 for one without labels, so
an empty row passes; :func:`totals` gives the micro-averaged figures over every family.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Finding",
    "Outcome",
    "evaluate",
    "format_misses",
    "format_table",
    "load_labels",
    "normalize",
    "score",
    "totals",
]


@dataclass(frozen=True)
class Finding:
    """What the comparison needs of one finding."""

    path: str
    line: int
    family: str
    secret_sha256: str
    rule_id: str = ""

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.path, self.line, self.secret_sha256)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def normalize(finding: Any) -> Finding:
    """A :class:`Finding` from a dict or an object with the fields above (``id`` or ``rule_id`` as the rule)."""
    digest = _get(finding, "secret_sha256") or ""
    if not digest:
        secret = _get(finding, "secret")
        if secret is None:
            raise ValueError("a finding needs secret_sha256 or secret")
        digest = hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()
    return Finding(
        path=str(_get(finding, "path")).replace("\\", "/").lstrip("/"),
        line=int(_get(finding, "line")),
        family=str(_get(finding, "family")),
        secret_sha256=digest,
        rule_id=str(_get(finding, "rule_id") or _get(finding, "id") or ""),
    )


def load_labels(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``labels.json`` (only ``kind: secret`` ones)."""
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    return [r for r in records if r.get("kind", "secret") == "secret"]


@dataclass
class Outcome:
    """Every decision :func:`evaluate` made, for the score and for reports of what went wrong."""

    true_positives: list[tuple[Finding, Mapping[str, Any]]] = field(default_factory=list)
    #: (finding, why): ``wrong-family:<label family>`` (on a labelled secret of another family),
    #: ``other-value:<families>`` (a line with a label, but another value: extracted too much or too little),
    #: or ``unlabelled``
    false_positives: list[tuple[Finding, str]] = field(default_factory=list)
    #: (label, findings on the same line: of the same value in another family, or of another value)
    false_negatives: list[tuple[Mapping[str, Any], list[Finding]]] = field(default_factory=list)
    #: findings that repeated a (path, line, secret, family) already counted
    duplicates: list[Finding] = field(default_factory=list)


def evaluate(findings: Iterable[Any], labels: Iterable[Mapping[str, Any]]) -> Outcome:
    """Match ``findings`` to ``labels`` (see the module docstring)."""
    out = Outcome()
    by_key: dict[tuple[str, int, str], list[Mapping[str, Any]]] = defaultdict(list)
    by_line: dict[tuple[str, int], set[str]] = defaultdict(set)
    for label in labels:
        by_key[(label["path"], int(label["line"]), label["value_sha256"])].append(label)
        by_line[(label["path"], int(label["line"]))].add(label["family"])
    on_line: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    seen: set[tuple[str, int, str, str]] = set()
    found_by_right: Counter[tuple[str, int, str, str]] = Counter()
    wrong_on: dict[tuple[str, int, str], list[Finding]] = defaultdict(list)
    for raw in findings:
        f = normalize(raw)
        ident = (*f.key, f.family)
        if ident in seen:
            out.duplicates.append(f)
            continue
        seen.add(ident)
        on_line[(f.path, f.line)].append(f)
        here = by_key.get(f.key, [])
        own = [lb for lb in here if lb["family"] == f.family]
        if own:
            found_by_right[ident] += 1
            out.true_positives.append((f, own[0]))
        elif here:
            out.false_positives.append((f, f"wrong-family:{here[0]['family']}"))
            wrong_on[f.key].append(f)
        elif (f.path, f.line) in by_line:
            out.false_positives.append((f, "other-value:" + ",".join(sorted(by_line[(f.path, f.line)]))))
        else:
            out.false_positives.append((f, "unlabelled"))
    for key, group in by_key.items():
        for family in {lb["family"] for lb in group}:
            same = [lb for lb in group if lb["family"] == family]
            # a finding on a line counts for one label; the same value labelled twice on one line needs two
            missing = len(same) - min(len(same), found_by_right[(*key, family)])
            near = [f for f in on_line.get(key[:2], []) if f.secret_sha256 != key[2]]
            for label in same[:missing]:
                out.false_negatives.append((label, list(wrong_on.get(key, [])) + near))
    return out


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


def score(findings: Iterable[Any], labels: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float | int]]:
    """``{family: {tp, fp, fn, precision, recall}}`` for every family with a label or a finding."""
    labels = list(labels)
    return score_outcome(evaluate(findings, labels), labels)


def score_outcome(outcome: Outcome, labels: Iterable[Mapping[str, Any]] = ()) -> dict[str, dict[str, float | int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for label in labels:
        counts[label["family"]]["labels"] += 0  # every labelled family gets a row
    for f, _ in outcome.true_positives:
        counts[f.family]["tp"] += 1
    for f, _ in outcome.false_positives:
        counts[f.family]["fp"] += 1
    for label, _ in outcome.false_negatives:
        counts[label["family"]]["fn"] += 1
    table: dict[str, dict[str, float | int]] = {}
    for family in sorted(counts):
        tp, fp, fn = counts[family]["tp"], counts[family]["fp"], counts[family]["fn"]
        table[family] = {"tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}
    return table


def totals(table: Mapping[str, Mapping[str, float | int]]) -> dict[str, float | int]:
    """Micro-averaged ``{tp, fp, fn, precision, recall}`` over every row of ``table``."""
    tp = sum(int(r["tp"]) for r in table.values())
    fp = sum(int(r["fp"]) for r in table.values())
    fn = sum(int(r["fn"]) for r in table.values())
    return {"tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}


def format_table(table: Mapping[str, Mapping[str, float | int]], threshold: float | None = None) -> str:
    """The per-family table as text, with an overall row; rows below ``threshold`` are marked ``<``."""
    width = max([len("family"), len("overall"), *(len(f) for f in table)])
    head = f"{'family':<{width}}  {'tp':>5} {'fp':>5} {'fn':>5}  {'precision':>9} {'recall':>7}"
    lines = [head, "-" * len(head)]

    def row(name: str, r: Mapping[str, float | int]) -> str:
        low = threshold is not None and (r["precision"] < threshold or r["recall"] < threshold)
        return (
            f"{name:<{width}}  {r['tp']:>5} {r['fp']:>5} {r['fn']:>5}  {r['precision']:>9.3f} {r['recall']:>7.3f}"
            + ("  <" if low else "")
        )

    lines.extend(row(family, r) for family, r in table.items())
    lines.append("-" * len(head))
    lines.append(row("overall", totals(table)))
    return "\n".join(lines)


def format_misses(outcome: Outcome, negatives: Iterable[Mapping[str, Any]] = (), limit: int | None = None) -> str:
    """False positives and false negatives, one a line, for the rule and engine authors; a false positive
    on a known hard negative names its kind."""
    neg_kind: dict[tuple[str, int], list[str]] = defaultdict(list)
    for n in negatives:
        neg_kind[(n["path"], int(n["line"]))].append(n["kind"])
    lines = []
    fps = sorted(outcome.false_positives, key=lambda x: (x[0].family, x[0].path, x[0].line))
    lines.append(f"false positives ({len(fps)}):")
    for f, why in fps[:limit]:
        kinds = ",".join(sorted(set(neg_kind.get((f.path, f.line), [])))) or "-"
        lines.append(f"  FP {f.family:<13} {f.rule_id:<34} {f.path}:{f.line}  {why}  negative-here={kinds}")
    fns = sorted(outcome.false_negatives, key=lambda x: (x[0]["family"], x[0]["path"], x[0]["line"]))
    lines.append(f"false negatives ({len(fns)}):")
    for label, others in fns[:limit]:
        same = ",".join(f"{o.family}/{o.rule_id}" for o in others if o.secret_sha256 == label["value_sha256"]) or "-"
        near = ",".join(f"{o.family}/{o.rule_id}" for o in others if o.secret_sha256 != label["value_sha256"]) or "-"
        lines.append(
            f"  FN {label['family']:<13} {label['path']}:{label['line']}  same-value-as={same}  "
            f"other-value-on-line={near}"
        )
    return "\n".join(lines)
