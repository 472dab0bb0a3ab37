"""Gitleaks-format TOML configs: RE2 translation, every config feature the loader reads, and the engine
scanning with the loaded rules (fixtures/gitleaks/*.toml, written for these tests)."""

from __future__ import annotations

import random
import re
import string
from pathlib import Path

import pytest

from threatstryker.secrets.engine import SecretEngine
from threatstryker.secrets.gitleaks import parse_gitleaks_config, translate_re2
from threatstryker.secrets.ruleset import RuleError, RuleSet, load_ruleset

CONFIGS = Path(__file__).parent / "fixtures" / "gitleaks"
RULES = Path(__file__).parent / "fixtures" / "rules"


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset([CONFIGS / "custom.toml"], replace_builtin=True)


@pytest.fixture(scope="module")
def engine(ruleset: RuleSet) -> SecretEngine:
    return SecretEngine(ruleset, cache=False)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(77)


def token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------- RE2 -> Python


@pytest.mark.parametrize(("re2", "python"), [
    (r"(?i)abc", r"(?i)abc"),
    (r"a(?i)b", r"a(?i:b)"),
    (r"a(?i)b|c", r"a(?i:b)|(?i:c)"),
    (r"(x(?i)y|z)w", r"(x(?i:y)|(?i:z))w"),
    (r"(?i-s)x.", r"(?i-s:x.)"),
    (r"end\z", r"end\Z"),
    (r"[[:alpha:][:digit:]_]+", r"[A-Za-z0-9_]+"),
    (r"[^[:space:]]", r"[^\t\n\v\f\r ]"),
    (r"\Qa.b*c\E+", r"a\x2eb\x2ac+"),
    (r"\x{41}\x7a", r"\x41\x7a"),
    (r"\101\0", r"\x41\x00"),
    (r"(?<name>a)(?P<other>b)", r"(?P<name>a)(?P<other>b)"),
    (r"a{,3}", r"a\{,3}"),
    (r"[a[&~|]", r"[a\[\&\~\|]"),
    (r"[]a]", r"[\]a]"),
])
def test_translate_re2(re2: str, python: str) -> None:
    assert translate_re2(re2) == python
    re.compile(python.encode())


@pytest.mark.parametrize(("re2", "why"), [
    (r"\pL+", "Unicode class"),
    (r"\p{Greek}", "Unicode class"),
    (r"(?U)a+", "flags Python lacks"),
    (r"[[:^alpha:]]", "negated POSIX class"),
    (r"[[:nope:]]", "unknown POSIX class"),
    (r"(a)\1", "backreference"),
    (r"\C", "any byte"),
    ("caf\u00e9", "not ASCII"),
    (r"(a", "unbalanced"),
    (r"a)", "unbalanced"),
    (r"[ab", "unterminated"),
])
def test_untranslatable_patterns_say_why(re2: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        translate_re2(re2)


def test_mid_pattern_flag_keeps_re2_meaning() -> None:
    # RE2: the flag covers the rest of the group, in every alternative after it, and nothing before it
    pattern = re.compile(translate_re2(r"key(?i)_id|name").encode())
    assert pattern.fullmatch(b"key_ID") and pattern.fullmatch(b"NAME")
    assert not pattern.fullmatch(b"KEY_id")


# ---------------------------------------------------------------- the config


def test_config_loads_translates_and_reports_what_it_skips(ruleset: RuleSet) -> None:
    assert {r.id for r in ruleset.rules} == {
        "acme-token", "internal-api-token", "billing-key", "session-secret", "session-id",
        "case-insensitive-flag-group"}
    assert [f.id for f in ruleset.files] == ["keystore-file"]
    (warning,) = ruleset.warnings
    assert re.fullmatch(r".*custom\.toml:\d+: rule unicode-name: skipped: Unicode class .*", warning)
    assert "\n" not in warning

    internal = ruleset.rule("internal-api-token")
    assert internal is not None
    assert internal.regex == r"""INTERNAL_(?i:(?:api_)?token\s*=\s*["']?(itk_[0-9A-Za-z]{32})\Z)"""
    assert (internal.secret_group, internal.entropy, internal.keywords) == (1, 3.0, ("itk_",))
    assert internal.allowlists[0].target == "line"
    assert internal.origin.endswith("custom.toml:11")
    billing = ruleset.rule("billing-key")
    assert billing is not None and billing.secret_group is None and billing.path == r"\.(?:env|ini|cfg)$"
    assert [a.condition for a in billing.allowlists] == ["and", "or"]  # its own, then the targeted global one
    assert ruleset.rule("session-id").report is False  # type: ignore[union-attr]
    assert [a.paths for a in ruleset.allowlists] == [(r"\.(?i:(?:png|jpe?g)$)", "(?:^|/)vendor/")]


def test_scanning_with_the_config(engine: SecretEngine, rng: random.Random) -> None:
    itk = "itk_" + token(rng, 32)
    data = f"INTERNAL_API_TOKEN = '{itk}".encode()
    (m,) = engine.scan(data, "app/settings.py")
    assert (m.rule_id, m.secret, m.family, m.severity, m.confidence) == (
        "internal-api-token", itk, "custom", "medium", "medium")
    # the case-insensitive part and \z: lower-case "token" matches, text after the token does not
    assert engine.scan(f"INTERNAL_Token={itk}".encode(), "a") != []
    assert engine.scan(f"internal_token={itk}".encode(), "a") == []
    assert engine.scan(f"INTERNAL_TOKEN={itk}\n# more".encode(), "a") == []
    # rule allowlist on the line
    assert engine.scan(f"INTERNAL_TOKEN={itk} # dummy".encode(), "a") == []
    # the extended base config's rule loads, the disabled one does not
    acme = "acme_" + token(rng, 24, string.ascii_lowercase + string.digits)
    legacy = "lgc_" + token(rng, 24, string.ascii_lowercase + string.digits)
    assert [m.rule_id for m in engine.scan(f"{acme}\n{legacy}\n".encode(), "a")] == ["acme-token"]
    hexed = "h" + token(rng, 16, "0123456789abcdef")
    assert [m.secret for m in engine.scan(f"HEX=={hexed}".encode(), "a")] == [hexed]


def test_rule_path_allowlists_and_global_allowlist(engine: SecretEngine, rng: random.Random) -> None:
    key = token(rng, 40, "0123456789ABCDEF").replace("0", "1")
    line = f"billing_key = {key}\n".encode()
    assert [m.secret for m in engine.scan(line, "conf/app.env")] == [key]
    assert engine.scan(line, "conf/app.yaml") == []  # the rule's path does not match
    assert engine.scan(line) == []  # nor does it apply without a path
    # condition AND: a path under staging/ alone does not allow it, with the stopword it does
    assert engine.scan(line, "staging/app.env") != []
    with_stopword = f"billing_key = {key[:20]}0000{key[24:]}\n".encode()
    assert engine.scan(with_stopword, "staging/app.env") == []
    assert engine.scan(with_stopword, "prod/app.env") != []
    # the global allowlist targeted at billing-key, on the whole match
    assert engine.scan(f"billing-key = {key[:30]}DEAD{key[34:]}\n".encode(), "conf/app.env") == []
    # global path allowlists skip files, whatever the rule; (?i) moved into a group still works
    itk = f"INTERNAL_TOKEN={'itk_' + token(rng, 32)}".encode()
    assert engine.scan(itk, "img/logo.PNG") == [] and engine.scan(itk, "lib/vendor/x.py") == []
    assert engine.scan(itk, "lib/x.py") != []


def test_required_rule_and_skip_report(engine: SecretEngine, rng: random.Random) -> None:
    secret = token(rng, 24)
    near = f"session_id = sid-12345678\n\nsession_secret = {secret}\n"
    far = f"session_id = sid-12345678\n\n\n\nsession_secret = {secret}\n"
    assert [(m.rule_id, m.line) for m in engine.scan(near.encode(), "a")] == [("session-secret", 3)]
    assert engine.scan(far.encode(), "a") == []


def test_path_only_rule_is_a_sensitive_file(engine: SecretEngine) -> None:
    assert [m.rule_id for m in engine.match_sensitive_file("opt/app/conf/server.KEYSTORE")] == ["keystore-file"]
    assert engine.match_sensitive_file("opt/app/conf/server.xml") == []


def test_toml_and_yaml_rules_load_together() -> None:
    merged = load_ruleset([RULES, CONFIGS / "custom.toml"], replace_builtin=True)
    ids = {r.id for r in merged.rules}
    assert {"github-pat-classic", "internal-api-token"} <= ids
    engine = SecretEngine(merged, cache=False)
    assert engine.scan(b"nothing here") == []


def test_broken_toml_is_one_line_error_with_line() -> None:
    with pytest.raises(RuleError, match=r"broken\.toml:4: invalid TOML") as info:
        load_ruleset([CONFIGS / "broken.toml"], replace_builtin=True)
    assert "\n" not in str(info.value)


def test_missing_extend_path_and_bad_shapes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[extend]\ndisabledRules = "one"\n')
    with pytest.raises(RuleError, match=r"bad\.toml: \[extend\] disabledRules must be a list of strings"):
        load_ruleset([bad], replace_builtin=True)
    config = tmp_path / "c.toml"
    config.write_text('[extend]\npath = "missing.toml"\n')
    with pytest.raises(RuleError, match=r"c\.toml: \[extend\] path 'missing.toml' cannot be read"):
        load_ruleset([config], replace_builtin=True)
    source = parse_gitleaks_config(
        '[[rules]]\ndescription = "no id"\nregex = "x"\n'
        '[[rules]]\nid = "no-regex-no-path"\n'
        '[[rules]]\nid = "empty-match"\nregex = "a*"\n'
        '[[rules]]\nid = "bad-group"\nregex = "(a)b"\nsecretGroup = 3\n'
        '[[rules]]\nid = "fine"\nregex = "fine_[0-9]{8}"\n'
        '[[rules]]\nid = "bad-required"\nregex = "r_[0-9]{8}"\nrequired = 5\n'
        '[[rules]]\nid = "commits-only"\nregex = "c_[0-9]{8}"\n[rules.allowlist]\ncommits = ["abc"]\n',
        "inline.toml")
    assert [r.id for r in source.rules] == ["fine", "commits-only"]
    assert source.rules[1].allowlists == ()  # commits do not apply to files
    assert [w.split(": ", 2)[1:] for w in source.warnings] == [
        ["rule #1", "skipped: no 'id'"],
        ["rule no-regex-no-path", "skipped: has neither regex nor path"],
        ["rule empty-match", "skipped: regex matches the empty string"],
        ["rule bad-group", "skipped: secret_group 3 but the regex has 1 group(s)"],
        ["rule bad-required", "skipped: required must be an array of tables ([[rules.required]])"],
    ]
