"""``scope: line`` rules: the regex runs only on keyword lines, and finds exactly what a whole-file run finds."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from threatstryker.secrets.engine import SecretEngine
from threatstryker.secrets.ruleset import RuleError, load_ruleset

RULE = """family: t
rules:
  - id: t-assign
    description: test assignment
    severity: high
    confidence: medium
    keywords: [secret]
    scope: {scope}
    regex: '(?i)(?:^|\\n)[ \\t]*[a-z_]*secret[a-z_]*[ \\t]*=[ \\t]*([A-Za-z0-9]{{16,}})[ \\t]*(?:\\r?\\n|$)'
"""


def engine(tmp_path: Path, scope: str) -> SecretEngine:
    rules = tmp_path / f"{scope}.yaml"
    rules.write_text(RULE.format(scope=scope))
    return SecretEngine(load_ruleset([rules], replace_builtin=True), cache=False)


def test_line_scope_finds_what_file_scope_finds(tmp_path: Path) -> None:
    rng = random.Random(7)

    def value() -> str:
        return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(20))

    lines = []
    for i in range(400):
        kind = i % 5
        if kind == 0:
            lines.append(f"APP_SECRET = {value()}")
        elif kind == 1:
            lines.append(f"# the secret is elsewhere {i}")
        else:
            lines.append(f"plain_line_{i} = {value()}")
    data = (f"client_secret={value()}\n" + "\n".join(lines) + f"\nLAST_SECRET={value()}").encode()
    whole = [(m.line, m.column, m.secret) for m in engine(tmp_path, "file").scan(data, "a.env")]
    by_line = [(m.line, m.column, m.secret) for m in engine(tmp_path, "line").scan(data, "a.env")]
    assert whole == by_line
    # the first line, 79 of the 80 APP_SECRET lines (the one right after the first line loses its newline to the
    # first match, in both modes alike) and the last line, which has no newline
    assert len(whole) == 81
    assert whole[0][0] == 1 and whole[-1][0] == 402


def test_line_scope_needs_keywords(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text(RULE.format(scope="line").replace("keywords: [secret]", "keywords: []"))
    with pytest.raises(RuleError, match="scope line needs keywords"):
        load_ruleset([rules], replace_builtin=True)
    rules.write_text(RULE.format(scope="page"))
    with pytest.raises(RuleError, match="scope 'page'"):
        load_ruleset([rules], replace_builtin=True)
