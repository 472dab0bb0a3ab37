"""The built-in secret rule files, checked with nothing but ``re``, PyYAML and Hyperscan.

Every rule file in ``src/threatstryker/secrets/rules``: schema, unique ids, every regex compiles with Python
``re`` (as bytes, the way the engine runs it) and in Hyperscan (exactly or as a prefilter), has the secret in a
capture group, and its examples behave: each positive example yields the expected secret (after entropy,
stopwords, allowlist regexes and ``requires``), no negative example yields anything, and no positive example
of one rule is also reported by another high-confidence rule unless the rule lists it in ``overlaps``.
``sensitive_files.yaml`` is checked for its schema and against a table of paths.

The matching here is a small re-implementation of what the engine does with a rule, on purpose independent
of it: these tests hold the rule data to its documented meaning.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import hyperscan
import pytest
import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "src" / "threatstryker" / "secrets" / "rules"
SENSITIVE_FILE = "sensitive_files.yaml"
MIN_RULES = 150

SEVERITIES = {"critical", "high", "medium", "low"}
CONFIDENCES = {"high", "medium", "low"}
RULE_KEYS = {"id", "description", "severity", "confidence", "keywords", "regex", "secret_group", "entropy",
             "allowlist", "requires", "overlaps", "references", "examples", "scope"}
REQUIRED_RULE_KEYS = {"id", "description", "severity", "confidence", "keywords", "regex", "examples"}
ALLOWLIST_KEYS = {"regexes", "stopwords", "paths"}
FILE_KEYS = {"id", "description", "severity", "confidence", "paths", "content", "exclude"}
ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

#: Families the issue names (``family:`` values; the accuracy corpus labels secrets with the same names).
REQUIRED_FAMILIES = {
    "aws", "gcp", "azure", "github", "gitlab", "bitbucket", "slack", "discord", "telegram", "stripe", "square",
    "paypal", "twilio", "sendgrid", "mailgun", "mailchimp", "shopify", "atlassian", "npm", "pypi", "dockerhub",
    "hashicorp", "heroku", "digitalocean", "openai", "anthropic", "huggingface", "datadog", "newrelic", "sentry",
    "private-key", "jwt", "database", "generic",
}
#: Formats the issue names one by one.
REQUIRED_RULES = {
    "aws-access-key-id", "aws-secret-access-key", "aws-secret-key-near-id", "aws-session-token",
    "gcp-service-account-private-key", "gcp-api-key",
    "azure-storage-connection-string", "azure-storage-account-key", "azure-sas-token", "azure-ad-client-secret",
    "github-pat-classic", "github-pat-fine-grained", "github-oauth-token", "github-app-user-token",
    "github-app-installation-token", "github-refresh-token",
    "slack-bot-token", "slack-user-token", "slack-webhook-url",
    "private-key-rsa", "private-key-ec", "private-key-dsa", "private-key-openssh", "private-key-openssh-encrypted",
    "private-key-pgp", "private-key-pkcs8", "private-key-pkcs8-encrypted", "private-key-pem-encrypted",
    "jwt", "postgres-uri", "mysql-uri", "mongodb-uri", "redis-uri", "amqp-uri", "generic-url-password",
    "generic-password-assignment", "generic-secret-assignment", "hashicorp-vault-token", "terraform-cloud-token",
    "ldap-bind-password", "htpasswd-apr1", "htpasswd-bcrypt", "age-secret-key", "kubernetes-service-account-token",
}
REQUIRED_SENSITIVE_FILES = {
    "private-key-file", "ssh-private-key-file", "pkcs12-file", "pgpass-file", "netrc-file", "git-credentials-file",
    "aws-credentials-file", "kubeconfig-file", "npmrc-auth-file", "docker-config-auth-file", "dotenv-file",
}

# Generic rules must stay quiet on each of these, whatever the rule (run through every rule of the family).
GENERIC_NEGATIVES = [
    'password = os.environ["DB_PASSWORD"]',
    "password = os.getenv('DB_PASSWORD', None)",
    "DB_PASSWORD=${DB_PASSWORD}",
    "password: ${DB_PASSWORD}",
    'api_token: "<token>"',
    "api_token: <token>",
    'password: "{{ .Values.db.password }}"',
    "password: {{ .Values.db.password }}",
    "const apiToken = process.env.API_TOKEN;",
    "API_TOKEN = process.env.API_TOKEN",
    'password = "changeme"',
    "PASSWORD=changeme",
    'password = "xxxxxxxxxx"',
    "secret_key: xxxxxxxxxxxxxxxx",
    'password = "********"',
    "PASSWORD=********",
    '"integrity": "sha512-2Qw8MaUeaIk1Ox0ZOp4nUjXqfWAnJv0kNQ5b3gZTk4m1sQ0aFzS0E7d3WcG2mTt8nO5pQ0rS1tU2vW3xY4zA5bB=="',
    'checksum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"',
    "client_secret_id: 3f2b8c1e-5a7d-4e9f-b6c2-8d1a0e3f7b45",
    'token = "3f2b8c1e-5a7d-4e9f-b6c2-8d1a0e3f7b45"',
    "token = get_token()",
    "password = vault.read('secret/db')",
    'secret = load_secret("billing")',
    "api_key = settings.API_KEY",
    "SECRET_KEY = config.secret_key",
    'password: "!vault |"',
    "password_reset_url = 'https://example.org/reset'",
    "TOKEN_FILE=/run/secrets/token",
]


# ---------------------------------------------------------------- loading


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _rule_files() -> list[Path]:
    return sorted(p for p in RULES_DIR.glob("*.yaml") if p.name != SENSITIVE_FILE)


def _all_rules() -> list[tuple[str, str, dict[str, Any]]]:
    out: list[tuple[str, str, dict[str, Any]]] = []
    for path in _rule_files():
        doc = _load(path)
        family = str(doc.get("family")) if isinstance(doc, dict) else ""
        for rule in (doc.get("rules") or []) if isinstance(doc, dict) else []:
            out.append((path.name, family, rule))
    return out


RULES = _all_rules()
BY_ID = {rule["id"]: rule for _, _, rule in RULES if isinstance(rule, dict) and "id" in rule}
HIGH = [rule for rule in BY_ID.values() if rule.get("confidence") == "high"]


def _ids(rules: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [str(rule.get("id")) for _, _, rule in rules]


# ---------------------------------------------------------------- a tiny matcher (what the engine does with a rule)


def shannon(text: str) -> float:
    n = len(text)
    if n < 2:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


@cache
def _compiled(regex: str) -> re.Pattern[bytes]:
    return re.compile(regex.encode("ascii"))


def _dropped(rule: dict[str, Any], secret: str) -> bool:
    """Whether entropy or the allowlist drops ``secret``."""
    entropy = rule.get("entropy")
    if entropy is not None and shannon(secret) < entropy:
        return True
    allow = rule.get("allowlist") or {}
    if any(re.search(r, secret) for r in allow.get("regexes") or ()):
        return True
    folded = secret.lower()
    return any(w.lower() in folded for w in allow.get("stopwords") or ())


def _windows(rule: dict[str, Any], data: bytes) -> list[tuple[int, bytes]]:
    """(offset, bytes) the regex runs on: the whole content, or for a ``scope: line`` rule each run of lines
    holding one of its keywords, from the newline before the run (so ``(?:^|\\n)`` anchors still match)."""
    if rule.get("scope", "file") != "line":
        return [(0, data)]
    keywords = [k.encode() for k in rule.get("keywords") or []]
    out: list[tuple[int, bytes]] = []
    runs: list[tuple[int, bytes]] = []
    pos = 0
    for line in data.splitlines(keepends=True):
        if any(k in line.lower() for k in keywords):
            if runs and runs[-1][0] + len(runs[-1][1]) == pos:
                runs[-1] = (runs[-1][0], runs[-1][1] + line)
            else:
                runs.append((pos, line))
        pos += len(line)
    for start, run in runs:
        out.append((start - 1, b"\n" + run) if start else (0, run))
    return out


def findings(rule: dict[str, Any], text: str) -> list[tuple[str, int]]:
    """(secret, line) of every match of ``rule`` in ``text`` that the rule reports."""
    keywords = rule.get("keywords") or []
    if keywords and not any(k in text.lower() for k in keywords):
        return []
    data = text.encode("utf-8")
    group = rule.get("secret_group", 1)
    out = []
    for offset, window in _windows(rule, data):
        for m in _compiled(rule["regex"]).finditer(window):
            if m.start(group) < 0 or m.start(group) == m.end(group):
                continue
            secret = m.group(group).decode("utf-8")
            if not _dropped(rule, secret):
                out.append((secret, data.count(b"\n", 0, offset + m.start(group))))
    need = rule.get("requires")
    if need and out:
        near = [line for _, line in findings(BY_ID[need["rule"]], text)]
        out = [(s, line) for s, line in out if any(abs(line - other) <= need["within_lines"] for other in near)]
    return out


@cache
def _hs_database(regex: str) -> hyperscan.Database:
    """The regex compiled the way the engine compiles it (leading ``(?i)`` as a flag, single match)."""
    flags = hyperscan.HS_FLAG_SINGLEMATCH
    if regex.startswith("(?i)"):
        flags |= hyperscan.HS_FLAG_CASELESS
        regex = regex[4:]
    if re.search(r"\(\?<?[=!]", regex):
        flags |= hyperscan.HS_FLAG_PREFILTER
    db = hyperscan.Database()
    expression = regex.encode("ascii")
    try:
        db.compile(expressions=[expression], ids=[0], elements=1, flags=[flags])
    except hyperscan.error:
        db.compile(expressions=[expression], ids=[0], elements=1, flags=[flags | hyperscan.HS_FLAG_PREFILTER])
    return db


def hyperscan_hits(regex: str, data: bytes) -> bool:
    hits: list[int] = []
    _hs_database(regex).scan(data, match_event_handler=lambda *args: hits.append(1))
    return bool(hits)


def _camel(key: str) -> str:
    words = [w for w in re.split(r"[_.-]", key) if w]
    return (words[0].lower() + "".join(w.title() for w in words[1:])) if words else key


def key_variants(text: str, secret: str) -> set[str]:
    """``text`` with the key names before the secret written other ways (DD_API_KEY: DDAPIKEY, ddApiKey...)."""
    head, tail = text[: text.index(secret)], text[text.index(secret) :]
    return {
        text,
        re.sub(r"[_-]", "", head) + tail,
        re.sub(r"[A-Za-z0-9_.-]+(?=[\"']?[ \t]*[:=])", lambda m: _camel(m.group(0)), head) + tail,
        head.lower() + tail,
        head.upper() + tail,
    }


def hyperscan_mode(regex: str) -> str:
    """``exact`` or ``prefilter``: how Hyperscan compiles the regex (leading ``(?i)`` as a flag, like the
    engine); raises when it compiles neither way."""
    flags = hyperscan.HS_FLAG_SINGLEMATCH
    if regex.startswith("(?i)"):
        flags |= hyperscan.HS_FLAG_CASELESS
        regex = regex[4:]
    for mode, extra in (("exact", 0), ("prefilter", hyperscan.HS_FLAG_PREFILTER)):
        db = hyperscan.Database()
        try:
            db.compile(expressions=[regex.encode("ascii")], ids=[0], elements=1, flags=[flags | extra])
        except hyperscan.error as exc:
            error = exc
            continue
        return mode
    raise AssertionError(f"Hyperscan compiles the regex neither exactly nor as a prefilter: {error}")


# ---------------------------------------------------------------- the files


def test_rule_directory_holds_rule_files() -> None:
    assert RULES_DIR.is_dir(), RULES_DIR
    assert _rule_files(), "no rule files"
    assert (RULES_DIR / SENSITIVE_FILE).is_file()
    assert (RULES_DIR / "README.md").is_file()


@pytest.mark.parametrize("path", _rule_files(), ids=lambda p: p.name)
def test_rule_file_schema(path: Path) -> None:
    doc = _load(path)
    assert isinstance(doc, dict) and set(doc) == {"family", "rules"}, f"{path.name}: top level is family + rules"
    assert isinstance(doc["family"], str) and ID.fullmatch(doc["family"]), doc["family"]
    assert isinstance(doc["rules"], list) and doc["rules"], f"{path.name}: no rules"


def test_each_family_lives_in_one_file() -> None:
    files: dict[str, set[str]] = {}
    for name, family, _ in RULES:
        files.setdefault(family, set()).add(name)
    spread = {family: names for family, names in files.items() if len(names) > 1}
    assert not spread


def test_ids_unique() -> None:
    counts = Counter(_ids(RULES))
    assert not [rule_id for rule_id, n in counts.items() if n > 1]


def test_enough_rules_and_every_named_family_and_format() -> None:
    assert len(RULES) >= MIN_RULES, len(RULES)
    assert REQUIRED_FAMILIES - {family for _, family, _ in RULES} == set()
    assert REQUIRED_RULES - set(BY_ID) == set()


@pytest.mark.parametrize("rule", [r for _, _, r in RULES], ids=_ids(RULES))
def test_rule_schema(rule: dict[str, Any]) -> None:
    assert isinstance(rule, dict)
    assert REQUIRED_RULE_KEYS <= set(rule) <= RULE_KEYS, sorted(set(rule) ^ REQUIRED_RULE_KEYS)
    assert ID.fullmatch(rule["id"]), "ids are lowercase and dash-separated"
    assert isinstance(rule["description"], str) and rule["description"].strip()
    assert rule["severity"] in SEVERITIES
    assert rule["confidence"] in CONFIDENCES
    keywords = rule["keywords"]
    assert isinstance(keywords, list) and all(isinstance(k, str) and k and k == k.lower() and k.isascii()
                                              for k in keywords), "keywords are lowercase ASCII literals"
    assert len(set(keywords)) == len(keywords)
    assert isinstance(rule.get("secret_group", 1), int) and rule.get("secret_group", 1) >= 1
    assert rule.get("scope", "file") in ("file", "line")
    if rule.get("scope") == "line":
        assert keywords, "a line-scoped rule reads the lines holding its keywords: it needs keywords"
    if "entropy" in rule:
        assert isinstance(rule["entropy"], int | float) and 0 < rule["entropy"] <= 8
    allow = rule.get("allowlist")
    if allow is not None:
        assert isinstance(allow, dict) and allow and set(allow) <= ALLOWLIST_KEYS
        for key in ALLOWLIST_KEYS:
            values = allow.get(key, [])
            assert isinstance(values, list) and all(isinstance(v, str) and v for v in values), key
        for regex in [*allow.get("regexes", []), *allow.get("paths", [])]:
            re.compile(regex)
    need = rule.get("requires")
    if need is not None:
        assert set(need) == {"rule", "within_lines"}
        assert need["rule"] in BY_ID and need["rule"] != rule["id"]
        assert isinstance(need["within_lines"], int) and need["within_lines"] >= 0
    overlaps = rule.get("overlaps", [])
    assert isinstance(overlaps, list) and all(o in BY_ID and o != rule["id"] for o in overlaps)
    refs = rule.get("references", [])
    assert isinstance(refs, list) and all(isinstance(r, str) and r.startswith("https://") for r in refs)
    examples = rule["examples"]
    assert isinstance(examples, dict) and set(examples) == {"positive", "negative"}
    assert examples["positive"] and examples["negative"], "at least one positive and one negative example"
    for ex in examples["positive"]:
        assert isinstance(ex, dict) and set(ex) == {"text", "secret"}
        assert isinstance(ex["text"], str) and isinstance(ex["secret"], str) and ex["secret"] in ex["text"]
    assert all(isinstance(t, str) and t for t in examples["negative"])


def test_requires_form_no_cycle() -> None:
    for rule in BY_ID.values():
        seen = {rule["id"]}
        need = rule.get("requires")
        while need:
            assert need["rule"] not in seen, f"{rule['id']}: requires cycle"
            seen.add(need["rule"])
            need = BY_ID[need["rule"]].get("requires")


@pytest.mark.parametrize("rule", [r for _, _, r in RULES], ids=_ids(RULES))
def test_regex(rule: dict[str, Any]) -> None:
    regex = rule["regex"]
    assert regex.isascii(), "the engine runs regexes on bytes: write other bytes as \\xNN"
    body = regex[4:] if regex.startswith("(?i)") else regex
    assert not re.search(r"\(\?[aiLmsux-]+[:)]", body), "no inline flags except a leading (?i)"
    assert not re.search(r"(?<!\\)\\[1-9]|\(\?P=", body), "no backreferences"
    pattern = _compiled(regex)
    group = rule.get("secret_group", 1)
    assert pattern.groups >= group >= 1, "the secret is a capture group"
    assert pattern.search(b"") is None, "the regex matches the empty string"
    mode = hyperscan_mode(regex)
    if not re.search(r"\(\?<?[=!]", body):
        assert mode == "exact", "a regex without lookarounds compiles exactly in Hyperscan"


@pytest.mark.parametrize("rule", [r for _, _, r in RULES], ids=_ids(RULES))
def test_examples(rule: dict[str, Any]) -> None:
    keywords = rule.get("keywords") or []
    for ex in rule["examples"]["positive"]:
        text, secret = ex["text"], ex["secret"]
        if keywords:
            assert any(k in text.lower() for k in keywords), f"no keyword in positive {text!r}"
        found = [s for s, _ in findings(rule, text)]
        assert secret in found, f"positive {text!r}: expected {secret!r}, found {found!r}"
        twice = [s for s, _ in findings(rule, text + "\n" + text)]
        assert twice.count(secret) >= 2, f"positive {text!r} on two consecutive lines is found {twice.count(secret)}x"
    for text in rule["examples"]["negative"]:
        assert findings(rule, text) == [], f"negative {text!r} is reported"


@pytest.mark.parametrize("rule", [r for _, _, r in RULES], ids=_ids(RULES))
def test_hyperscan_finds_what_python_finds(rule: dict[str, Any]) -> None:
    """The engine runs a rule's Python regex only where Hyperscan reports a hit, so Hyperscan must never miss
    a match (some Hyperscan builds miss matches of alternations followed by bounded repeats past the first few
    dozen bytes: key names are varied and the examples moved further into the buffer to catch that)."""
    pattern = _compiled(rule["regex"])
    for ex in rule["examples"]["positive"]:
        for text in key_variants(ex["text"], ex["secret"]):
            for filler in ("", "#\n", "a" * 26 + "\n", "lorem ipsum dolor sit amet\n" * 4, "z" * 300 + "\n"):
                data = (filler + text).encode()
                if pattern.search(data):
                    assert hyperscan_hits(rule["regex"], data), f"Hyperscan misses {data[-120:]!r}"


@pytest.mark.parametrize("rule", [r for _, _, r in RULES], ids=_ids(RULES))
def test_no_unlisted_overlap_with_high_confidence_rules(rule: dict[str, Any]) -> None:
    allowed = set(rule.get("overlaps", []))
    used: set[str] = set()
    for ex in rule["examples"]["positive"]:
        for other in HIGH:
            if other["id"] == rule["id"] or not findings(other, ex["text"]):
                continue
            assert other["id"] in allowed, f"positive {ex['text']!r} is also reported by {other['id']}"
            used.add(other["id"])
    stale = {o for o in allowed - used
             if not any(findings(BY_ID[o], ex["text"]) for ex in rule["examples"]["positive"])}
    assert not stale, f"overlaps lists rules that match none of the positive examples: {sorted(stale)}"


@pytest.mark.parametrize("text", GENERIC_NEGATIVES)
def test_generic_rules_stay_quiet(text: str) -> None:
    noisy = [rule["id"] for _, family, rule in RULES if family == "generic" and findings(rule, text)]
    assert not noisy


# ---------------------------------------------------------------- sensitive files


def _glob(pattern: str) -> str:
    """A path glob as a regex for fullmatch: ``**/`` any number of directories, ``*`` and ``?`` within one,
    ``[..]`` a class; a glob that does not start with ``/`` or ``**`` matches at any depth."""
    if not pattern.startswith(("/", "**")):
        pattern = "**/" + pattern
    pattern = pattern.lstrip("/")
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            j = pattern.index("]", i + 1)
            body = pattern[i + 1 : j]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _file_rules() -> list[dict[str, Any]]:
    doc = _load(RULES_DIR / SENSITIVE_FILE)
    assert isinstance(doc, dict) and set(doc) == {"files"}
    return doc["files"]


def sensitive(path: str, content: str = "") -> set[str]:
    out = set()
    for f in _file_rules():
        if not any(re.fullmatch(_glob(g), path) for g in f["paths"]):
            continue
        if any(re.fullmatch(_glob(g), path) for g in f.get("exclude", [])):
            continue
        if f.get("content") and not re.search(f["content"].encode("ascii"), content.encode()[: 64 * 1024]):
            continue
        out.add(f["id"])
    return out


def test_sensitive_file_schema() -> None:
    rules = _file_rules()
    ids = [f.get("id") for f in rules]
    assert len(ids) == len(set(ids))
    assert not set(ids) & set(BY_ID), "sensitive-file ids differ from rule ids"
    assert not REQUIRED_SENSITIVE_FILES - set(ids), sorted(REQUIRED_SENSITIVE_FILES - set(ids))
    for f in rules:
        assert {"id", "description", "severity", "confidence", "paths"} <= set(f) <= FILE_KEYS, f.get("id")
        assert ID.fullmatch(f["id"]) and f["severity"] in SEVERITIES and f["confidence"] in CONFIDENCES
        assert isinstance(f["paths"], list) and f["paths"] and all(isinstance(g, str) and g for g in f["paths"])
        assert all(isinstance(g, str) and g for g in f.get("exclude", []))
        for g in (*f["paths"], *f.get("exclude", [])):
            assert "{" not in g, f"{f['id']}: brace expansion is not glob syntax here: {g}"
            re.compile(_glob(g))
        if "content" in f:
            assert f["content"].isascii()
            assert re.compile(f["content"].encode("ascii")).search(b"") is None


SENSITIVE_CASES = [
    ("home/alice/.ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", {"ssh-private-key-file"}),
    ("root/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n", {"ssh-private-key-file"}),
    ("id_ecdsa", "-----BEGIN EC PRIVATE KEY-----\n", {"ssh-private-key-file"}),
    ("home/alice/.ssh/id_rsa.pub", "ssh-rsa AAAAB3NzaC1yc2E alice@laptop\n", set()),
    ("etc/ssl/private/server.key", "-----BEGIN RSA PRIVATE KEY-----\n", {"private-key-file"}),
    ("certs/tls.pem", "-----BEGIN PRIVATE KEY-----\n", {"private-key-file"}),
    ("certs/ca.pem", "-----BEGIN CERTIFICATE-----\n", set()),
    ("deploy/keystore.p12", "", {"pkcs12-file"}),
    ("certs/client.pfx", "", {"pkcs12-file"}),
    ("home/bob/.pgpass", "db.internal:5432:app:app:s3cr3tPw\n", {"pgpass-file"}),
    ("home/bob/.netrc", "machine api.example.org login bob password hunter22\n", {"netrc-file"}),
    ("home/bob/.netrc", "machine api.example.org login bob\n", set()),
    ("home/bob/.git-credentials", "https://bob:ghp_abc@github.com\n", {"git-credentials-file"}),
    ("home/bob/.aws/credentials", "[default]\naws_secret_access_key = abc\n", {"aws-credentials-file"}),
    ("home/bob/.kube/config", "users:\n- name: x\n  user:\n    token: abc\n", {"kubeconfig-file"}),
    ("ops/prod.kubeconfig", "users:\n- name: x\n  user:\n    client-key-data: LS0t\n", {"kubeconfig-file"}),
    ("app/.npmrc", "//registry.npmjs.org/:_authToken=npm_abc\n", {"npmrc-auth-file"}),
    ("app/.npmrc", "registry=https://registry.npmjs.org/\n", set()),
    ("home/bob/.docker/config.json", '{"auths": {"ghcr.io": {"auth": "Ym9iOnNlY3JldA=="}}}',
     {"docker-config-auth-file"}),
    ("home/bob/.docker/config.json", '{"credsStore": "desktop"}', set()),
    (".env", "DB_PASSWORD=abc\n", {"dotenv-file"}),
    ("services/api/.env.production", "DB_PASSWORD=abc\n", {"dotenv-file"}),
    ("services/api/.env.example", "DB_PASSWORD=\n", set()),
    ("services/api/.env.sample", "DB_PASSWORD=\n", set()),
    ("src/environment.ts", "export const x = 1;\n", set()),
    ("README.md", "# readme\n", set()),
]


@pytest.mark.parametrize(("path", "content", "expected"), SENSITIVE_CASES, ids=[c[0] for c in SENSITIVE_CASES])
def test_sensitive_files_table(path: str, content: str, expected: set[str]) -> None:
    assert sensitive(path, content) == expected
