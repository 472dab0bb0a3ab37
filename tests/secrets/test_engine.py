"""The secret engine and its rule loader, on real files: the test rules in fixtures/rules, sample files in
fixtures/samples, and files written here with token values generated from a seeded random source (no
credential-shaped value is stored in the repository)."""

from __future__ import annotations

import base64
import json
import multiprocessing
import random
import string
from pathlib import Path

import pytest

from threatstryker.secrets import engine as engine_module
from threatstryker.secrets.allowlist import is_placeholder, is_public_test_key
from threatstryker.secrets.engine import SecretEngine, SecretMatch
from threatstryker.secrets.entropy import shannon_entropy
from threatstryker.secrets.multipattern import required_literal_length
from threatstryker.secrets.ruleset import RuleError, RuleSet, load_ruleset

FIXTURES = Path(__file__).parent / "fixtures"
RULES = FIXTURES / "rules"
ALNUM = string.ascii_letters + string.digits


def token(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset([RULES], replace_builtin=True)


@pytest.fixture(scope="module")
def engine(ruleset: RuleSet, tmp_path_factory: pytest.TempPathFactory) -> SecretEngine:
    return SecretEngine(ruleset, cache_dir=tmp_path_factory.mktemp("hs-cache"))


@pytest.fixture
def rng() -> random.Random:
    return random.Random(4242)


def scan_file(engine: SecretEngine, path: Path, as_path: str) -> list[SecretMatch]:
    return engine.scan(path.read_bytes(), as_path)


def ids(matches: list[SecretMatch]) -> list[str]:
    return [m.rule_id for m in matches]


# ---------------------------------------------------------------- extraction


def test_token_found_with_line_column_and_offsets(engine: SecretEngine, rng: random.Random, tmp_path: Path) -> None:
    pat = "ghp_" + token(rng, 36)
    text = f"# settings\nname = 'Zoë'\nclient = Client(tökén='{pat}')\n"
    path = tmp_path / "settings.py"
    path.write_text(text, encoding="utf-8")
    data = path.read_bytes()

    matches = [m for m in scan_file(engine, path, "app/settings.py") if m.rule_id == "github-pat-classic"]

    assert len(matches) == 1
    m = matches[0]
    assert m.secret == pat
    assert (m.family, m.severity, m.confidence) == ("vcs", "high", "high")
    assert m.line == 3
    # columns count characters: "tökén" is 5 characters but 7 bytes
    assert m.column == text.splitlines()[2].index(pat) + 1
    assert data[m.start : m.end] == pat.encode()
    assert m.decoded_from is None


def test_every_occurrence_and_rule_reported_in_order(engine: SecretEngine, rng: random.Random,
                                                     tmp_path: Path) -> None:
    gitlab = "glpat-" + token(rng, 20)
    npm = "npm_" + token(rng, 36)
    slack = f"xoxb-{token(rng, 11, string.digits)}-{token(rng, 24)}"
    lines = [f"GITLAB={gitlab}", "", f"NPM_TOKEN={npm}", f"SLACK_BOT={slack}", f"GITLAB_AGAIN={gitlab}"]
    path = tmp_path / "ci.env"
    path.write_text("\n".join(lines) + "\n")

    matches = scan_file(engine, path, "ci.env")

    assert [(m.rule_id, m.line) for m in matches] == [
        ("gitlab-pat", 1), ("npm-token", 3), ("slack-token", 4), ("gitlab-pat", 5)]
    assert [m.start for m in matches] == sorted(m.start for m in matches)


def test_private_key_block_spans_lines(engine: SecretEngine, rng: random.Random, tmp_path: Path) -> None:
    body = base64.b64encode(rng.randbytes(600)).decode()
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64)) \
        + "\n-----END RSA PRIVATE KEY-----"
    path = tmp_path / "deploy.sh"
    path.write_text(f"#!/bin/sh\ncat > key.pem <<EOF\n{pem}\nEOF\n")

    matches = scan_file(engine, path, "deploy.sh")

    assert ids(matches) == ["private-key"]
    assert matches[0].line == 3 and matches[0].column == 1
    assert matches[0].secret == pem


def test_columns_along_one_long_line(engine: SecretEngine, rng: random.Random, tmp_path: Path) -> None:
    pats = ["npm_" + token(rng, 36) for _ in range(5)]
    line = "var a=1;" + "".join(f"k{i}=\"{p}\";/* é€😀 */" + "x" * 5000 for i, p in enumerate(pats))
    path = tmp_path / "bundle.min.js"
    path.write_text("// header\n" + line + "\n", encoding="utf-8")

    matches = scan_file(engine, path, "bundle.min.js")

    assert [(m.line, m.column) for m in matches] == [(2, line.index(p) + 1) for p in pats]


def test_non_utf8_bytes_do_not_break_columns(engine: SecretEngine, rng: random.Random, tmp_path: Path) -> None:
    pat = "ghp_" + token(rng, 36)
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\xff\xfe header\n\xc3\x28\x80 token=" + pat.encode() + b" \xff\n")

    matches = scan_file(engine, path, "blob.bin")

    assert [(m.rule_id, m.line, m.column) for m in matches] == [("github-pat-classic", 2, 11)]
    assert matches[0].secret == pat


def test_empty_input_and_no_candidates(engine: SecretEngine) -> None:
    assert engine.scan(b"") == []
    assert engine.scan(b"just some text without anything interesting\n" * 1000) == []


def test_repr_never_shows_the_secret(engine: SecretEngine, rng: random.Random) -> None:
    pat = "ghp_" + token(rng, 36)
    (m,) = [m for m in engine.scan(f"t={pat}\n".encode()) if m.rule_id == "github-pat-classic"]
    assert pat not in repr(m) and pat not in str(m)
    assert "github-pat-classic" in repr(m)


# ---------------------------------------------------------------- candidates: keywords, entropy


def test_keywords_gate_a_rule(engine: SecretEngine, rng: random.Random) -> None:
    bot = f"{token(rng, 9, string.digits)}:AA{token(rng, 33, ALNUM + '_-')}"
    # the telegram rule's regex matches, but neither keyword ("telegram", "bot") is in the buffer
    assert "telegram-bot-token" not in ids(engine.scan(f"value: {bot}\n".encode()))
    # a keyword anywhere in the buffer makes the rule a candidate (case-insensitive)
    assert "telegram-bot-token" in ids(engine.scan(f"# Telegram\nvalue: {bot}\n".encode()))


def test_entropy_threshold(engine: SecretEngine) -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abab") == pytest.approx(1.0)
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    low = b'password = "aabbaabbccaabbcc"\n'   # entropy 1.5 < 3.2
    high = b'password = "q8Jk2LmN4pQr6StU"\n'
    assert engine.scan(low, "a.cfg") == []
    assert ids(engine.scan(high, "a.cfg")) == ["generic-password"]


# ---------------------------------------------------------------- allowlists


@pytest.mark.parametrize("name", ["placeholders.env", "env_lookups.py", "env_lookups.js"])
def test_placeholders_and_references_not_reported(engine: SecretEngine, name: str) -> None:
    path = FIXTURES / "samples" / name
    assert scan_file(engine, path, f"app/{name}") == []


def test_positive_controls_for_the_placeholder_files(engine: SecretEngine, rng: random.Random) -> None:
    # the same shapes with real-looking values are reported, so the files above test the allowlists
    secret = token(rng, 16)
    data = f'api_key = "{secret}"\npassword = {secret}\nurl = "postgres://app:{secret}@db:5432/x"\n'.encode()
    assert sorted(ids(engine.scan(data, "app/x.cfg"))) == [
        "generic-password", "generic-unquoted-assignment", "url-credentials"]


def test_builtin_allowlist_facts() -> None:
    assert is_placeholder("AKIAIOSFODNN7EXAMPLE")
    assert is_placeholder("${GITHUB_TOKEN}") and is_placeholder("{{ .Values.token }}")
    assert is_placeholder("<token>") and is_placeholder("%(password)s") and is_placeholder("$DB_PASSWORD")
    assert is_placeholder("ghp_" + "x" * 36) and is_placeholder("********")
    assert is_placeholder("password") and is_placeholder("abababababab") and is_placeholder("1234567890123")
    assert is_placeholder("os.environ[") and is_placeholder("process.env.API_KEY") and is_placeholder("getenv(")
    assert not is_placeholder("q8Jk2LmN4pQr6StU")
    # build-time filter tokens and translations (seen in Maven poms and Java resource bundles in jars)
    assert is_placeholder("\\$BUILD_TIME\\$") and is_placeholder("$VERSION$") and is_placeholder("@project.version@")
    assert is_placeholder("Contraseña") and is_placeholder("暗号化キー") and is_placeholder("Mot de passe oublié")
    assert not is_placeholder("Contraseña9x") and not is_placeholder("pässwörd#2024") and not is_placeholder("Passwort")
    # jwt.io's default token, recognised by its payload whatever the signature
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(
        json.dumps({"sub": "1234567890", "name": "John Doe", "iat": 1516239022}).encode()).rstrip(b"=").decode()
    assert is_public_test_key(f"{header}.{payload}.c2lnbmF0dXJlLXZhbHVl")
    other = base64.urlsafe_b64encode(b'{"sub":"42"}').rstrip(b"=").decode()
    assert not is_public_test_key(f"{header}.{other}.c2lnbmF0dXJlLXZhbHVl")
    # Stripe's documented test key (assembled here so no key-shaped literal sits in the source)
    assert is_public_test_key("sk_" + "test_" + "4eC39HqLyjWDarjtT1zdp7dc")


def test_inline_allow_suppresses_only_its_line(engine: SecretEngine, rng: random.Random, tmp_path: Path) -> None:
    pats = ["ghp_" + token(rng, 36) for _ in range(4)]
    path = tmp_path / "mixed.txt"
    path.write_text(
        f"a = '{pats[0]}'  # threatstryker:allow\n"
        f"b = '{pats[1]}'  // threatstryker:allow reviewed\n"
        f"<!-- threatstryker:allow --> {pats[2]}\n"
        f"d = '{pats[3]}'\n")

    matches = [m for m in scan_file(engine, path, "mixed.txt") if m.rule_id == "github-pat-classic"]

    assert [(m.line, m.secret) for m in matches] == [(4, pats[3])]


def test_rule_stopwords_regexes_and_paths(engine: SecretEngine, rng: random.Random) -> None:
    secret = token(rng, 14)
    # stopword (case-insensitive substring of the secret) and rule allowlist regex (snake_case words)
    assert engine.scan(b'password = "NotASecret-1234"\n', "a.cfg") == []
    assert engine.scan(b'password = "some_config_value_name"\n', "a.cfg") == []
    # url-credentials is allowlisted under docs/ only
    data = f"see https://deploy:{secret}@ci.internal.net/hook\n".encode()
    assert engine.scan(data, "docs/setup.md") == []
    assert ids(engine.scan(data, "src/setup.md")) == ["url-credentials"]


def test_fixture_paths_skipped_unless_asked(ruleset: RuleSet, engine: SecretEngine, rng: random.Random) -> None:
    data = f"TOKEN=npm_{token(rng, 36)}\n".encode()
    assert engine.scan(data, "pkg/tests/fixtures/.npmrc") == []
    assert engine.scan(data, "pkg/testdata/.npmrc") == []
    assert ids(engine.scan(data, "pkg/tests/.npmrc")) == ["npm-token"]
    everything = SecretEngine(ruleset, skip_fixture_paths=False, cache=False)
    assert ids(everything.scan(data, "pkg/tests/fixtures/.npmrc")) == ["npm-token"]


def test_requires_proximity(engine: SecretEngine, rng: random.Random) -> None:
    key_id = "AKIA" + token(rng, 16, string.ascii_uppercase + "234567")
    secret = token(rng, 40, ALNUM + "/+")
    near = f"aws_access_key_id = {key_id}\nregion = eu-west-1\naws_secret_access_key = {secret}\n"
    far = f"aws_access_key_id = {key_id}\n" + "#\n" * 10 + f"aws_secret_access_key = {secret}\n"
    alone = f"aws_secret_access_key = {secret}\n"

    assert sorted(ids(engine.scan(near.encode(), "creds"))) == ["aws-access-key-id", "aws-secret-access-key"]
    assert ids(engine.scan(far.encode(), "creds")) == ["aws-access-key-id"]
    assert ids(engine.scan(alone.encode(), "creds")) == []
    (m,) = [m for m in engine.scan(near.encode(), "creds") if m.rule_id == "aws-secret-access-key"]
    assert (m.line, m.secret) == (3, secret)


# ---------------------------------------------------------------- Hyperscan modes, fallbacks


def test_prefilter_and_python_fallback_rules_still_match(tmp_path: Path, rng: random.Random) -> None:
    rules = tmp_path / "modes.yaml"
    rules.write_text(
        "family: modes\n"
        "rules:\n"
        "  - {id: lookbehind, description: d, severity: low, confidence: low, keywords: [lbk_],\n"
        "     regex: '(?<=key=)(lbk_[a-z0-9]{16})'}\n"
        "  - {id: scoped-ascii-flag, description: d, severity: low, confidence: low, keywords: [tsk_],\n"
        "     regex: '\\b(tsk_(?a:[A-Za-z0-9]{24}))\\b'}\n"
        "  - {id: plain, description: d, severity: low, confidence: low, keywords: [],\n"
        "     regex: '\\b(pln_[a-f0-9]{20})\\b'}\n")
    engine = SecretEngine(load_ruleset([rules], replace_builtin=True), cache=False)

    assert engine.prefilter_rules == ("lookbehind",)
    assert engine.fallback_rules == ("scoped-ascii-flag",)
    lbk = "lbk_" + token(rng, 16, string.ascii_lowercase + string.digits)
    tsk = "tsk_" + token(rng, 24)
    pln = "pln_" + token(rng, 20, "0123456789abcdef")
    data = f"key={lbk}\nother={lbk}\n{tsk}\n{pln}\n".encode()
    assert [(m.rule_id, m.line) for m in engine.scan(data)] == [
        ("lookbehind", 1), ("scoped-ascii-flag", 3), ("plain", 4)]
    # a fallback rule with keywords runs only where one of them occurs
    assert engine.scan(tsk.replace("tsk_", "tsx_").encode()) == []


def test_class_only_rule_with_keywords_is_gated(tmp_path: Path, rng: random.Random) -> None:
    assert required_literal_length(r"\b(ghp_[A-Za-z0-9]{36})\b") == 4
    assert required_literal_length(r"(?:abc|xyz)q|zzzz") == 3
    assert required_literal_length(r"(?:^|[^A-Za-z0-9+/])([A-Za-z0-9/+]{40})") == 0
    rules = tmp_path / "gated.yaml"
    rules.write_text(
        "family: g\nrules:\n"
        "  - {id: near-keyword, description: d, severity: low, confidence: low, keywords: [vault_secret],\n"
        "     regex: '(?:^|[^A-Za-z0-9+/])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9+/]|$)', entropy: 4.0}\n"
        "  - {id: anchored, description: d, severity: low, confidence: low, keywords: [anc_],\n"
        "     regex: '\\b(anc_[a-z]{12})\\b'}\n")
    engine = SecretEngine(load_ruleset([rules], replace_builtin=True), cache=False)
    assert engine.gated_rules == ("near-keyword",)
    value = token(rng, 40, ALNUM + "/+")
    assert engine.scan(f"value = {value}\n".encode()) == []
    with_keyword = f"# VAULT_SECRET\nvalue = {value}\n".encode()
    assert [(m.rule_id, m.line, m.secret) for m in engine.scan(with_keyword)] == [("near-keyword", 2, value)]
    rebuilt = SecretEngine.from_serialized(engine.serialize())
    assert rebuilt.gated_rules == ("near-keyword",)
    assert rebuilt.scan(with_keyword) == engine.scan(with_keyword)


def test_open_repeat_means_the_same_in_hyperscan(tmp_path: Path) -> None:
    # Python reads {,3} as {0,3}; PCRE (Hyperscan) would read it literally and miss the match
    rules = tmp_path / "r.yaml"
    rules.write_text("family: f\nrules:\n  - {id: r, description: d, severity: low, confidence: low,\n"
                     "     regex: 'id-[0-9]{,3}-(k[a-z]{12})'}\n")
    engine = SecretEngine(load_ruleset([rules], replace_builtin=True), cache=False)
    assert [m.secret for m in engine.scan(b"id-12-kqwertzuiopas\n")] == ["kqwertzuiopas"]


# ---------------------------------------------------------------- serialization and cache


def _scan_in_child(blob: bytes, data: bytes) -> list[tuple[str, int, int]]:
    engine = SecretEngine.from_serialized(blob)
    return [(m.rule_id, m.line, m.column) for m in engine.scan(data, "x.env")]


def test_serialized_engine_rebuilds_in_another_process(engine: SecretEngine, rng: random.Random) -> None:
    data = f"A=ghp_{token(rng, 36)}\nB=npm_{token(rng, 36)}\n".encode()
    blob = engine.serialize()
    expected = [(m.rule_id, m.line, m.column) for m in engine.scan(data, "x.env")]
    assert SecretEngine.from_serialized(blob).scan(data, "x.env") == engine.scan(data, "x.env")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_scan_in_child, (blob, data)) == expected
    with pytest.raises(ValueError, match="not a serialized"):
        SecretEngine.from_serialized(b"garbage")


def test_database_cache_written_and_reused(ruleset: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           rng: random.Random) -> None:
    monkeypatch.setattr(engine_module, "CACHE_THRESHOLD_SECONDS", 3600.0)
    first = SecretEngine(ruleset, cache_dir=tmp_path)
    assert first.database.build_seconds > 0
    assert list(tmp_path.iterdir()) == []  # compiled faster than the threshold: nothing cached

    monkeypatch.setattr(engine_module, "CACHE_THRESHOLD_SECONDS", 0.0)
    SecretEngine(ruleset, cache_dir=tmp_path)
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith("secrets-") and cached.suffix == ".hsdb"

    second = SecretEngine(ruleset, cache_dir=tmp_path)
    assert second.database.build_seconds == 0.0  # loaded, not compiled
    data = f"x=ghp_{token(rng, 36)}\n".encode()
    assert second.scan(data) == first.scan(data)

    cached.write_bytes(cached.read_bytes()[:-10] + b"0123456789")  # damaged: compiled again, not trusted
    third = SecretEngine(ruleset, cache_dir=tmp_path)
    assert third.database.build_seconds > 0
    assert third.scan(data) == first.scan(data)

    monkeypatch.setattr(engine_module, "CACHE_KEEP", 2)  # old databases are removed, the newest kept
    for i in range(3):
        other = write(tmp_path, f"r{i}.yaml", GOOD_RULE.replace("{10}", f"{{{10 + i}}}"))
        SecretEngine(load_ruleset([other], replace_builtin=True), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("secrets-*.hsdb"))) == 2


# ---------------------------------------------------------------- sensitive files


def test_sensitive_files(engine: SecretEngine) -> None:
    def found(path: str, head: bytes = b"") -> list[str]:
        return [m.rule_id for m in engine.match_sensitive_file(path, head)]

    assert found("/home/dev/.ssh/id_ed25519") == ["ssh-private-key-file"]
    assert found("id_rsa") == ["ssh-private-key-file"]
    assert found("/home/dev/.ssh/id_rsa.pub") == []
    assert found("srv/app/.env") == ["dotenv-file"]
    assert found("srv/app/.env.production") == ["dotenv-file"]
    assert found("srv/app/.env.example") == []
    assert found("/etc/shadow") == ["root-shadow"]
    assert found("/backup/etc/shadow") == []  # a glob with a leading / is anchored
    assert found("infra/prod/terraform.tfstate") == ["terraform-state"]
    assert found("/root/.netrc", b"machine example.org\n") == []
    (m,) = engine.match_sensitive_file("/root/.netrc", b"# hosts\nmachine git.host login me password s3cr3t\n")
    assert (m.rule_id, m.family, m.line, m.path) == ("netrc-with-password", "sensitive-file", 2, "/root/.netrc")
    assert found("pkg/tests/fixtures/id_rsa") == []


# ---------------------------------------------------------------- rule files


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD_RULE = ("family: f\nrules:\n  - id: r1\n    description: d\n    severity: high\n    confidence: high\n"
             "    regex: '\\b(abc_[a-z]{10})\\b'\n")


@pytest.mark.parametrize(("text", "where", "message"), [
    ("family: f\nrules:\n  - id: r1\n    description: d\n  severity: high\n", ":5:", "invalid YAML"),
    (GOOD_RULE + "    colour: red\n", ":8: rule r1: unknown key 'colour'", "colour"),
    (GOOD_RULE.replace("\\b(abc_[a-z]{10})\\b", "(abc"), ":7: rule r1: regex does not compile", "compile"),
    (GOOD_RULE.replace("\\b(abc_[a-z]{10})\\b", "a*"), ":7: rule r1", "matches the empty string"),
    (GOOD_RULE.replace("\\b(abc_[a-z]{10})\\b", "caf\u00e9_[a-z]+"), ":7: rule r1", "not ASCII"),
    (GOOD_RULE.replace("severity: high", "severity: urgent"), ":5: rule r1", "severity 'urgent'"),
    (GOOD_RULE + "    secret_group: 2\n", ":8: rule r1", "secret_group 2 but the regex has 1 group"),
    (GOOD_RULE + "    entropy: high\n", ":8: rule r1", "entropy must be a number"),
    (GOOD_RULE + "    keywords: abc\n", ":8: rule r1", "'keywords' must be a list"),
    (GOOD_RULE + "    requires: {rule: nowhere, within_lines: 2}\n", ":3: rule r1", "requires unknown rule 'nowhere'"),
    (GOOD_RULE + GOOD_RULE.split("rules:\n")[1], ":8: rule r1", "duplicate id (first defined at"),
    ("rules: []\n", "bad.yaml", "needs a 'family'"),
    ("files:\n  - {id: f1, description: d, severity: low, confidence: low, paths: []}\n", ":2: rule f1",
     "paths is empty"),
])
def test_rule_file_errors_are_one_line_and_name_the_place(tmp_path: Path, text: str, where: str,
                                                          message: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(RuleError) as info:
        load_ruleset([path], replace_builtin=True)
    text_of_error = str(info.value)
    assert "\n" not in text_of_error
    assert text_of_error.startswith(str(path))
    assert where in text_of_error and message in text_of_error


def test_requires_cycle_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cycle.yaml", GOOD_RULE + "    requires: {rule: r2, within_lines: 1}\n"
                 "  - {id: r2, description: d, severity: low, confidence: low, regex: 'x(y)z',\n"
                 "     requires: {rule: r1, within_lines: 1}}\n")
    with pytest.raises(RuleError, match="cycle: r1 -> r2 -> r1"):
        load_ruleset([path], replace_builtin=True)


def test_missing_path_and_non_utf8_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="no such file"):
        load_ruleset([tmp_path / "nope.yaml"])
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"family: f\n# caf\xe9\nrules: []\n")
    with pytest.raises(RuleError, match=r"latin1.yaml:2: not UTF-8"):
        load_ruleset([path])


def test_user_rules_add_to_and_replace_builtins(tmp_path: Path) -> None:
    builtin = load_ruleset()
    user = write(tmp_path, "mine.yaml", GOOD_RULE)
    merged = load_ruleset([user])
    assert {r.id for r in merged.rules} == {r.id for r in builtin.rules} | {"r1"}
    if builtin.rules:  # the built-in rules are written in parallel; replacing one by id needs one
        first = builtin.rules[0]
        override = write(tmp_path, "override.yaml", GOOD_RULE.replace("id: r1", f"id: {first.id}"))
        replaced = load_ruleset([override])
        (rule,) = [r for r in replaced.rules if r.id == first.id]
        assert rule.family == "f" and rule.origin.startswith(str(override))
    only = load_ruleset([user], replace_builtin=True)
    assert [r.id for r in only.rules] == ["r1"]


def test_ruleset_hash_tracks_content_not_origin(tmp_path: Path) -> None:
    a = load_ruleset([write(tmp_path, "a.yaml", GOOD_RULE)], replace_builtin=True)
    b = load_ruleset([write(tmp_path, "b.yaml", "# moved\n" + GOOD_RULE)], replace_builtin=True)
    c = load_ruleset([write(tmp_path, "c.yaml", GOOD_RULE.replace("{10}", "{11}"))], replace_builtin=True)
    assert a.rules[0].origin != b.rules[0].origin
    assert a.hash == b.hash != c.hash
    assert RuleSet.from_dict(a.to_dict()).hash == a.hash


def test_fixture_rule_defaults(ruleset: RuleSet) -> None:
    rule = ruleset.rule("github-pat-classic")
    assert rule is not None
    assert rule.secret_group == 1 and rule.keywords == ("ghp_",) and rule.entropy == 3.0
    assert rule.origin.endswith("vcs.yaml:4")
    assert {f.id for f in ruleset.files} >= {"ssh-private-key-file", "dotenv-file"}
