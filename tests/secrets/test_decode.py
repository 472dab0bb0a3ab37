"""Bounded decoding: base64 (standard, URL-safe) and hex runs re-scanned by the engine, with depth and size
limits; files are written here, token values generated from a seeded random source."""

from __future__ import annotations

import base64
import random
import string
from pathlib import Path

import pytest

from threatstryker.secrets.decode import DecodeBudget, encoded_runs, printable
from threatstryker.secrets.engine import SecretEngine
from threatstryker.secrets.ruleset import RuleSet, load_ruleset

RULES = Path(__file__).parent / "fixtures" / "rules"


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset([RULES], replace_builtin=True)


@pytest.fixture(scope="module")
def engines(ruleset: RuleSet) -> dict[int, SecretEngine]:
    return {depth: SecretEngine(ruleset, decode_depth=depth, cache=False) for depth in (0, 1, 2)}


@pytest.fixture
def pat() -> str:
    rng = random.Random(9)
    return "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_base64_hidden_token_found_at_the_encoded_run(engines: dict[int, SecretEngine], pat: str,
                                                      tmp_path: Path) -> None:
    encoded = b64(f"export GH_TOKEN={pat}\n")
    path = tmp_path / "values.yaml"
    path.write_text(f"# chart values\nbootstrap:\n  script: {encoded}\n")
    data = path.read_bytes()

    assert engines[0].scan(data, "values.yaml") == []
    (m,) = engines[1].scan(data, "values.yaml")

    assert (m.rule_id, m.secret, m.decoded_from) == ("github-pat-classic", pat, "base64")
    assert (m.line, m.column) == (3, len("  script: ") + 1)
    assert data[m.start : m.end] == encoded.encode()


def test_url_safe_base64_and_hex(engines: dict[int, SecretEngine], pat: str, tmp_path: Path) -> None:
    # "?>" encodes to "Pz4" with "/" or "_": the URL-safe run has "_" and no "+" or "/"
    urlsafe = base64.urlsafe_b64encode(f"?>?>?> token={pat}".encode()).decode()
    assert "_" in urlsafe and "/" not in urlsafe
    hexed = f"token={pat}".encode().hex()
    path = tmp_path / "dump.txt"
    path.write_text(f"a={urlsafe}\nb={hexed}\n")

    matches = engines[1].scan(path.read_bytes(), "dump.txt")

    assert [(m.line, m.decoded_from, m.secret) for m in matches] == [(1, "base64", pat), (2, "hex", pat)]


def test_depth_limits_nesting(engines: dict[int, SecretEngine], pat: str) -> None:
    nested = b64("payload " + f"token={pat}".encode().hex()).encode()
    assert engines[1].scan(nested) == []
    (m,) = engines[2].scan(nested)
    assert (m.decoded_from, m.secret, m.start, m.end) == ("base64/hex", pat, 0, len(nested))


def test_size_budget_bounds_decoding(ruleset: RuleSet, pat: str) -> None:
    filler = b64("x" * 3000)  # printable, decodes to 3000 bytes
    data = f"{filler}\n{b64(f'token={pat}')}\n".encode()
    assert [m.line for m in SecretEngine(ruleset, decode_depth=1, cache=False).scan(data)] == [2]
    small = SecretEngine(ruleset, decode_depth=1, max_decoded_bytes=1000, cache=False)
    assert [m.line for m in small.scan(data)] == [2]  # the big run is skipped, not the rest
    tiny = SecretEngine(ruleset, decode_depth=1, max_decoded_bytes=20, cache=False)
    assert tiny.scan(data) == []


def test_inline_allow_covers_the_encoded_line(engines: dict[int, SecretEngine], pat: str) -> None:
    data = f"{b64(f'token={pat}')}  # threatstryker:allow\n{b64(f'token={pat}')}\n".encode()
    assert [m.line for m in engines[1].scan(data)] == [2]


def test_encoded_runs_only_yield_printable_text() -> None:
    rng = random.Random(3)
    binary = base64.b64encode(rng.randbytes(300))
    text = base64.b64encode(b"just some harmless configuration text")
    data = b"blob: " + binary + b"\nkey=" + text + b"\nidentifier_that_is_long_enough_to_look_encoded\n"

    runs = list(encoded_runs(data, DecodeBudget()))

    assert [(r.kind, r.decoded) for r in runs] == [("base64", b"just some harmless configuration text")]
    assert data[runs[0].start : runs[0].end] == text  # the "key=" before it is not part of the run


def test_budget_is_shared_and_only_charged_for_kept_text() -> None:
    budget = DecodeBudget(100)
    first = base64.b64encode(b"a" * 60)
    second = base64.b64encode(b"b" * 60)
    runs = list(encoded_runs(first + b" " + second, budget))
    assert [len(r.decoded) for r in runs] == [60]
    assert budget.remaining == 40
    assert list(encoded_runs(first, DecodeBudget(0))) == []


def test_printable() -> None:
    assert printable(b"hello world\n\ttabbed")
    assert printable("caf\u00e9 na\u00efve text".encode())
    assert not printable(b"\x00\x01\x02binary\xff")
    assert not printable(b"")
    assert not printable(b"\x00" + b"a" * 10)  # 1 in 11 is not printable: below 95%
