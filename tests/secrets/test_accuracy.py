"""Precision and recall of the secret scanner on the labelled corpus (tests/secrets/corpus/generate.py).

The corpus is generated into a temporary directory once per session, every file is scanned with the
real built-in rules (``SecretEngine.scan(data, path)``), and the findings are matched to the labels by
path, line and SHA-256 of the value. Run with ``-s`` to see the per-family table and the misses.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
#: Precision and recall every family (and the whole corpus) must reach.
THRESHOLD = 0.95
META_FILES = ("labels.json", "negatives.json")


def _load(name: str, path: Path) -> ModuleType:
    """Import a sibling file by path (this directory may or may not be a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


corpus_gen = _load("threatstryker_tests_secret_corpus", HERE / "corpus" / "generate.py")
accuracy = _load("threatstryker_tests_secret_accuracy", HERE / "accuracy.py")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("secret-corpus")
    built = corpus_gen.generate(out)
    return out, built


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory):
    from threatstryker.secrets.engine import SecretEngine
    from threatstryker.secrets.ruleset import load_ruleset

    ruleset = load_ruleset()
    assert len(ruleset.rules) >= 150
    return SecretEngine(ruleset, cache_dir=tmp_path_factory.mktemp("hs-cache"))


def _files(root: Path) -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in META_FILES:
            out.append((rel, path.read_bytes()))
    return out


def _scan(engine, root: Path) -> list:
    findings = []
    for rel, data in _files(root):
        for m in engine.scan(data, rel):
            findings.append(
                accuracy.Finding(
                    path=rel,
                    line=m.line,
                    family=m.family,
                    secret_sha256=hashlib.sha256(m.secret.encode("utf-8", "surrogateescape")).hexdigest(),
                    rule_id=m.rule_id,
                )
            )
    return findings


# ------------------------------------------------------------------------------------ the corpus itself


def test_generator_is_deterministic(corpus, tmp_path):
    root, _ = corpus
    again = tmp_path / "again"
    corpus_gen.generate(again)
    first = {rel: data for rel, data in _files(root)}
    second = {rel: data for rel, data in _files(again)}
    assert first.keys() == second.keys()
    assert [rel for rel in first if first[rel] != second[rel]] == []
    for meta in META_FILES:
        assert (root / meta).read_bytes() == (again / meta).read_bytes()
    other = tmp_path / "other-seed"
    corpus_gen.generate(other, seed=corpus_gen.DEFAULT_SEED + 1)
    assert (other / "labels.json").read_bytes() != (root / "labels.json").read_bytes()


def test_every_label_value_is_at_its_line(corpus):
    root, built = corpus
    records = json.loads((root / "labels.json").read_text())
    assert len(records) == len(built.labels)
    for label in built.labels:
        text = (root / label.path).read_text(encoding="utf-8")
        line_start = 0
        for _ in range(label.line - 1):
            line_start = text.index("\n", line_start) + 1
        line_end = text.find("\n", line_start)
        line_end = len(text) if line_end < 0 else line_end
        # the value starts on the labelled line (a private key runs on over the following lines)
        at = text.find(label.value, line_start)
        assert line_start <= at <= line_end, f"{label.path}:{label.line}: {label.family} value not on that line"
        assert {"path": label.path, "line": label.line, "family": label.family, "kind": "secret",
                "value_sha256": hashlib.sha256(label.value.encode()).hexdigest()} in records


def test_corpus_size_and_balance(corpus):
    root, built = corpus
    files = _files(root)
    counts = built.counts()
    assert len(files) >= 300
    assert set(counts) == set(corpus_gen.FAMILIES)
    assert min(counts.values()) >= 10, counts
    assert len(built.negatives) >= len(built.labels)
    # the negatives are of many kinds, placeholders and look-alikes among them
    kinds = {n.kind for n in built.negatives}
    for kind in ("placeholder", "aws-example", "doc-sample", "git-sha", "sha256", "uuid", "integrity", "data-uri",
                 "test-vector", "env-lookup", "public-key", "ssh-public-key", "certificate", "malformed-token"):
        assert kind in kinds, kind
    # every format the issue names is represented
    names = [rel for rel, _ in files]
    for suffix in (".env", ".yaml", ".yml", ".json", ".ini", ".toml", ".py", ".js", ".ts", ".go", ".java", ".rb",
                   ".php", ".sh", ".bash_history", ".ipynb", ".tf", ".xml", "Dockerfile", ".properties"):
        assert any(n.endswith(suffix) for n in names), suffix


def test_labels_are_distinct_and_never_placeholders(corpus):
    _, built = corpus
    keys = [(lb.path, lb.line, lb.value) for lb in built.labels]
    assert len(keys) == len(set(keys))
    leftover = re.compile(rb"@@(?:SEC|NEG)\d{5}@@")
    for label in built.labels:
        assert "example" not in label.value.lower(), label.path
    assert [path for path, data in built.files.items() if leftover.search(data)] == []


def test_score_counts_wrong_family_as_both():
    labels = [
        {"path": "a", "line": 1, "family": "github", "kind": "secret", "value_sha256": "h1"},
        {"path": "a", "line": 2, "family": "slack", "kind": "secret", "value_sha256": "h2"},
        {"path": "b", "line": 3, "family": "aws", "kind": "secret", "value_sha256": "h3"},
    ]
    findings = [
        {"path": "a", "line": 1, "family": "github", "secret_sha256": "h1", "rule_id": "gh"},
        {"path": "a", "line": 1, "family": "github", "secret_sha256": "h1", "rule_id": "gh2"},  # duplicate
        {"path": "a", "line": 2, "family": "generic", "secret_sha256": "h2", "rule_id": "generic-token"},
        {"path": "c", "line": 9, "family": "aws", "secret_sha256": "zz", "rule_id": "aws-key"},
    ]
    table = accuracy.score(findings, labels)
    assert table["github"] == {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    assert table["slack"]["fn"] == 1 and table["slack"]["recall"] == 0.0
    assert table["generic"]["fp"] == 1 and table["generic"]["precision"] == 0.0
    assert table["aws"] == {"tp": 0, "fp": 1, "fn": 1, "precision": 0.0, "recall": 0.0}
    assert accuracy.totals(table) == {"tp": 1, "fp": 2, "fn": 2, "precision": 1 / 3, "recall": 1 / 3}


# ------------------------------------------------------------------------------------ the scanner on it


@pytest.fixture(scope="session")
def scored(corpus, engine):
    root, built = corpus
    labels = accuracy.load_labels(root / "labels.json")
    outcome = accuracy.evaluate(_scan(engine, root), labels)
    table = accuracy.score_outcome(outcome, labels)
    negatives = json.loads((root / "negatives.json").read_text())
    print()
    print(f"corpus: {len(built.files)} files, {len(labels)} secrets, {len(negatives)} hard negatives, "
          f"{len(engine.ruleset.rules)} rules")
    print(accuracy.format_table(table, THRESHOLD))
    print(accuracy.format_misses(outcome, negatives, limit=200))
    return table, outcome


def test_precision_and_recall_per_family(scored):
    table, _ = scored
    low = {
        family: (round(row["precision"], 3), round(row["recall"], 3))
        for family, row in table.items()
        if row["precision"] < THRESHOLD or row["recall"] < THRESHOLD
    }
    assert low == {}, f"families below {THRESHOLD} (precision, recall): {low}"
    for family in corpus_gen.FAMILIES:
        assert family in table, f"no row for {family}"


def test_precision_and_recall_overall(scored):
    table, _ = scored
    overall = accuracy.totals(table)
    assert overall["precision"] >= THRESHOLD, overall
    assert overall["recall"] >= THRESHOLD, overall
