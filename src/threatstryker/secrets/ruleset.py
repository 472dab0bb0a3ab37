"""Secret rules: the YAML rule-file schema, its validation, and the merged rule set the engine compiles.

A rule file (``rules/<family>.yaml``)::

    family: github
    rules:
      - id: github-pat-classic            # unique
        description: GitHub personal access token (classic)
        severity: high                    # critical | high | medium | low
        confidence: high                  # high | medium | low
        keywords: [ghp_]                  # literals, matched case-insensitively; [] = always a candidate
        regex: '\\b(ghp_[A-Za-z0-9]{36})\\b'   # Python ``re`` syntax, ASCII; may start with (?i)
        secret_group: 1                   # optional: default 1, or 0 when the regex has no group
        entropy: 3.5                      # optional minimum Shannon entropy (bits/char) of the secret
        allowlist: {regexes: [], stopwords: [], paths: []}   # optional; regexes are searched in the secret,
                                          # stopwords are case-insensitive substrings of the secret,
                                          # paths are regexes searched in the file path
        requires: {rule: other-id, within_lines: 5}   # optional: reported only near a match of that rule
        overlaps: []; references: []; examples: {}    # documentation and tests; the engine ignores them

and ``sensitive_files.yaml``::

    files:
      - id: ssh-private-key-file
        description: ...
        severity: high
        confidence: medium
        paths: ["**/id_rsa"]              # globs: * ? [..] within a directory, ** across directories;
                                          # a glob without a leading / matches at any depth
        content: '-----BEGIN'             # optional regex searched in the first 64 KiB
        exclude: ["**/test/**"]           # optional globs

Regexes run on bytes (``re`` bytes patterns: ``\\w``, ``\\s``, ``\\b`` and ``(?i)`` are ASCII), so they
must be ASCII (write other bytes as ``\\xNN``). :func:`load_ruleset` reads the built-in ``rules/``
directory, then user files and directories (``.yaml``/``.yml`` in this schema, ``.toml`` as gitleaks
configs); a user rule with a built-in id replaces it. Every problem is a one-line :class:`RuleError`
``FILE[:LINE]: rule ID: what is wrong``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CONFIDENCES",
    "SEVERITIES",
    "Allowlist",
    "Requirement",
    "Rule",
    "RuleError",
    "RuleSet",
    "RuleSource",
    "SensitiveFileRule",
    "compile_rule_regex",
    "load_ruleset",
    "parse_rule_file",
]

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
CONFIDENCES: tuple[str, ...] = ("high", "medium", "low")
#: Rule files larger than this are refused.
MAX_RULE_FILE_BYTES = 16 * 1024 * 1024
RULE_KEYS: tuple[str, ...] = ("id", "description", "severity", "confidence", "keywords", "regex", "secret_group",
                              "entropy", "allowlist", "requires", "overlaps", "references", "examples", "scope")
#: Where a rule's regex runs: ``file`` (the whole content) or ``line`` (only the lines holding one of its
#: keywords — much faster for broad single-line rules; the regex then never sees two lines at once).
SCOPES: tuple[str, ...] = ("file", "line")
FILE_KEYS: tuple[str, ...] = ("id", "description", "severity", "confidence", "paths", "content", "exclude")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RULE_SUFFIXES = (".yaml", ".yml", ".toml")
# libyaml's parser when PyYAML was built with it (about 10x faster on the built-in rules), else PyYAML's own.
_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RuleError(ValueError):
    """A rule file or rule that cannot be used; one line: ``FILE[:LINE]: [rule ID: ]what is wrong``."""

    def __init__(self, message: str, *, file: str, line: int | None = None, rule: str | None = None) -> None:
        self.file = file
        self.line = line
        self.rule = rule
        where = f"{file}:{line}" if line is not None else file
        what = f"rule {rule}: {message}" if rule else message
        super().__init__(" ".join(f"{where}: {what}".split()))


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Conditions under which a match is not reported.

    ``regexes`` are searched in the ``target`` (``secret``, the whole ``match``, or its ``line``);
    ``stopwords`` are case-insensitive substrings of the secret; ``paths`` are regexes searched in the
    file path. With ``condition`` ``or`` any one list that matches allows the match, with ``and``
    every non-empty list must match.
    """

    regexes: tuple[str, ...] = ()
    stopwords: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    target: str = "secret"
    condition: str = "or"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Allowlist:
        return cls(regexes=tuple(d.get("regexes", ())), stopwords=tuple(d.get("stopwords", ())),
                   paths=tuple(d.get("paths", ())), target=str(d.get("target", "secret")),
                   condition=str(d.get("condition", "or")))

    @property
    def empty(self) -> bool:
        return not (self.regexes or self.stopwords or self.paths)


@dataclass(frozen=True, slots=True)
class Requirement:
    """A rule that must also match near the match: within ``within_lines`` lines (and, when given,
    ``within_columns`` columns)."""

    rule: str
    within_lines: int
    within_columns: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One secret rule. ``secret_group`` None means the first capture group that matched, else the whole
    match (gitleaks' default); ``path`` restricts the rule to files whose path the regex finds (gitleaks
    ``path``); ``report`` False keeps a rule only as a requirement of others; ``origin`` is ``FILE:LINE``."""

    id: str
    family: str
    description: str
    severity: str
    confidence: str
    regex: str
    keywords: tuple[str, ...] = ()
    secret_group: int | None = 1
    entropy: float | None = None
    allowlists: tuple[Allowlist, ...] = ()
    requires: tuple[Requirement, ...] = ()
    path: str | None = None
    report: bool = True
    scope: str = "file"
    origin: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rule:
        return cls(
            id=d["id"], family=d["family"], description=d["description"], severity=d["severity"],
            confidence=d["confidence"], regex=d["regex"], keywords=tuple(d.get("keywords", ())),
            secret_group=d.get("secret_group"), entropy=d.get("entropy"),
            allowlists=tuple(Allowlist.from_dict(a) for a in d.get("allowlists", ())),
            requires=tuple(Requirement(**r) for r in d.get("requires", ())), path=d.get("path"),
            report=bool(d.get("report", True)), scope=str(d.get("scope", "file")), origin=str(d.get("origin", "")),
        )


@dataclass(frozen=True, slots=True)
class SensitiveFileRule:
    """A file that is sensitive by its path (globs, or regexes from gitleaks path-only rules) and
    optionally by a regex found in its first 64 KiB."""

    id: str
    description: str
    severity: str
    confidence: str
    paths: tuple[str, ...] = ()
    content: str | None = None
    exclude: tuple[str, ...] = ()
    path_regexes: tuple[str, ...] = ()
    origin: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SensitiveFileRule:
        return cls(id=d["id"], description=d["description"], severity=d["severity"], confidence=d["confidence"],
                   paths=tuple(d.get("paths", ())), content=d.get("content"), exclude=tuple(d.get("exclude", ())),
                   path_regexes=tuple(d.get("path_regexes", ())), origin=str(d.get("origin", "")))


@dataclass(frozen=True)
class RuleSource:
    """What one rule file holds: rules, sensitive-file rules, global allowlists, warnings about parts that
    were skipped, and rule ids it disables (gitleaks ``[extend] disabledRules``)."""

    rules: tuple[Rule, ...] = ()
    files: tuple[SensitiveFileRule, ...] = ()
    allowlists: tuple[Allowlist, ...] = ()
    warnings: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """The merged rules the engine compiles; ``hash`` identifies their detection-relevant content."""

    rules: tuple[Rule, ...] = ()
    files: tuple[SensitiveFileRule, ...] = ()
    allowlists: tuple[Allowlist, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rules": [r.to_dict() for r in self.rules], "files": [f.to_dict() for f in self.files],
                "allowlists": [asdict(a) for a in self.allowlists], "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RuleSet:
        return cls(rules=tuple(Rule.from_dict(r) for r in d.get("rules", ())),
                   files=tuple(SensitiveFileRule.from_dict(f) for f in d.get("files", ())),
                   allowlists=tuple(Allowlist.from_dict(a) for a in d.get("allowlists", ())),
                   warnings=tuple(d.get("warnings", ())))

    @cached_property
    def hash(self) -> str:
        """SHA-256 (hex) of every rule, file rule and allowlist, without origins and warnings."""
        d = self.to_dict()
        d.pop("warnings")
        for item in (*d["rules"], *d["files"]):
            item.pop("origin")
        return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with that id, if any."""
        return next((r for r in self.rules if r.id == rule_id), None)


# ---------------------------------------------------------------- validation


def compile_rule_regex(regex: str) -> re.Pattern[bytes]:
    """``regex`` compiled as a bytes pattern; ValueError (one line) when it is not ASCII, does not compile,
    or matches the empty string."""
    if not regex:
        raise ValueError("regex is empty")
    if not regex.isascii():
        raise ValueError("regex is not ASCII (write other bytes as \\xNN)")
    try:
        pattern = re.compile(regex.encode("ascii"))
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"regex does not compile: {exc}") from None
    if pattern.search(b"") is not None:
        raise ValueError("regex matches the empty string")
    return pattern


def compile_text_regex(regex: str, what: str) -> re.Pattern[str]:
    """A str regex (allowlist regexes and paths); ValueError naming ``what`` when it does not compile."""
    try:
        return re.compile(regex)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"{what} {regex!r} does not compile: {exc}") from None


def check_rule(rule: Rule) -> None:
    """ValueError (one line) for anything in ``rule`` the engine cannot use."""
    if not _ID.fullmatch(rule.id):
        raise ValueError(f"id {rule.id!r} must be letters, digits, '.', '_' or '-'")
    if rule.severity not in SEVERITIES:
        raise ValueError(f"severity {rule.severity!r} is not one of {', '.join(SEVERITIES)}")
    if rule.confidence not in CONFIDENCES:
        raise ValueError(f"confidence {rule.confidence!r} is not one of {', '.join(CONFIDENCES)}")
    pattern = compile_rule_regex(rule.regex)
    if rule.secret_group is not None and not 0 <= rule.secret_group <= pattern.groups:
        raise ValueError(f"secret_group {rule.secret_group} but the regex has {pattern.groups} group(s)")
    if rule.scope not in SCOPES:
        raise ValueError(f"scope {rule.scope!r} is not one of {', '.join(SCOPES)}")
    if rule.scope == "line" and not rule.keywords:
        raise ValueError("scope line needs keywords (the lines to read are those holding one)")
    if rule.entropy is not None and not 0.0 <= rule.entropy <= 8.0:
        raise ValueError(f"entropy {rule.entropy} is outside 0-8 bits per character")
    for keyword in rule.keywords:
        if not keyword or not keyword.isascii() or keyword != keyword.lower():
            raise ValueError(f"keyword {keyword!r} must be a non-empty lowercase ASCII literal")
    if rule.path is not None:
        compile_text_regex(rule.path, "path")
    for allow in rule.allowlists:
        check_allowlist(allow)
    for need in rule.requires:
        if need.within_lines < 0 or (need.within_columns is not None and need.within_columns < 0):
            raise ValueError("requires: distances must not be negative")


def check_allowlist(allow: Allowlist) -> None:
    """ValueError (one line) for an allowlist regex or path that does not compile, or a bad target."""
    if allow.target not in ("secret", "match", "line"):
        raise ValueError(f"allowlist target {allow.target!r} is not secret, match or line")
    if allow.condition not in ("or", "and"):
        raise ValueError(f"allowlist condition {allow.condition!r} is not or/and")
    for regex in allow.regexes:
        compile_text_regex(regex, "allowlist regex")
    for regex in allow.paths:
        compile_text_regex(regex, "allowlist path")
    if any(not word for word in allow.stopwords):
        raise ValueError("allowlist stopword is empty")


def check_file_rule(rule: SensitiveFileRule) -> None:
    """ValueError (one line) for anything in a sensitive-file rule the engine cannot use."""
    if not _ID.fullmatch(rule.id):
        raise ValueError(f"id {rule.id!r} must be letters, digits, '.', '_' or '-'")
    if rule.severity not in SEVERITIES:
        raise ValueError(f"severity {rule.severity!r} is not one of {', '.join(SEVERITIES)}")
    if rule.confidence not in CONFIDENCES:
        raise ValueError(f"confidence {rule.confidence!r} is not one of {', '.join(CONFIDENCES)}")
    if not rule.paths and not rule.path_regexes:
        raise ValueError("paths is empty")
    if any(not glob for glob in (*rule.paths, *rule.exclude)):
        raise ValueError("a path glob is empty")
    for regex in rule.path_regexes:
        compile_text_regex(regex, "path")
    if rule.content is not None:
        try:
            compile_rule_regex(rule.content)
        except ValueError as exc:
            raise ValueError(f"content {exc}") from None


# ---------------------------------------------------------------- the YAML schema


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


#: Rule keys for documentation and tests: kept as nodes, never constructed (``examples`` is most of a file).
_UNREAD = frozenset({"overlaps", "references", "examples"})


def _mapping(node: yaml.Node, what: str, file: str, rule: str | None = None,
             unread: frozenset[str] = _UNREAD) -> dict[str, tuple[yaml.Node, Any]]:
    """A mapping node's keys, each with its value node and constructed value (None for ``unread`` keys)."""
    if not isinstance(node, yaml.MappingNode):
        raise RuleError(f"{what} must be a mapping", file=file, line=_line(node), rule=rule)
    out: dict[str, tuple[yaml.Node, Any]] = {}
    constructor = yaml.SafeLoader("")
    try:
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
            if key in out:
                raise RuleError(f"key {key!r} given twice", file=file, line=_line(key_node), rule=rule)
            out[key] = (value_node, None if key in unread else constructor.construct_object(value_node, deep=True))
    except yaml.YAMLError as exc:
        raise RuleError(f"invalid YAML value: {exc}", file=file, line=_line(node), rule=rule) from None
    finally:
        constructor.dispose()
    return out


def _string(value: Any, key: str, file: str, node: yaml.Node, rule: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{key!r} must be a non-empty string", file=file, line=_line(node), rule=rule)
    return value.strip() if key != "regex" and key != "content" else value


def _strings(value: Any, key: str, file: str, node: yaml.Node, rule: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{key!r} must be a list of strings", file=file, line=_line(node), rule=rule)
    return tuple(value)


def _yaml_allowlist(node: yaml.Node, value: Any, file: str, rule: str) -> Allowlist:
    fields = _mapping(node, "allowlist", file, rule)
    for key, (key_node, _) in fields.items():
        if key not in ("regexes", "stopwords", "paths"):
            raise RuleError(f"unknown allowlist key {key!r} (allowed: regexes, stopwords, paths)", file=file,
                            line=_line(key_node), rule=rule)
    lists = {key: _strings(v, f"allowlist.{key}", file, n, rule) for key, (n, v) in fields.items()}
    return Allowlist(regexes=lists.get("regexes", ()), stopwords=tuple(w.lower() for w in lists.get("stopwords", ())),
                     paths=lists.get("paths", ()))


def _yaml_requires(node: yaml.Node, file: str, rule: str) -> Requirement:
    fields = _mapping(node, "requires", file, rule)
    for key, (key_node, _) in fields.items():
        if key not in ("rule", "within_lines"):
            raise RuleError(f"unknown requires key {key!r} (allowed: rule, within_lines)", file=file,
                            line=_line(key_node), rule=rule)
    if "rule" not in fields:
        raise RuleError("requires has no 'rule'", file=file, line=_line(node), rule=rule)
    other = _string(fields["rule"][1], "requires.rule", file, fields["rule"][0], rule)
    within_node, within = fields.get("within_lines", (node, 0))
    if not isinstance(within, int) or isinstance(within, bool) or within < 0:
        raise RuleError("requires.within_lines must be a whole number >= 0", file=file, line=_line(within_node),
                        rule=rule)
    return Requirement(rule=other, within_lines=within)


def _yaml_rule(node: yaml.Node, family: str, file: str) -> Rule:
    line = _line(node)
    fields = _mapping(node, "a rule", file)
    rule_id = fields["id"][1] if "id" in fields and isinstance(fields["id"][1], str) else None
    if rule_id is None:
        raise RuleError("rule has no 'id' string", file=file, line=line)
    for key, (key_node, _) in fields.items():
        if key not in RULE_KEYS:
            raise RuleError(f"unknown key {key!r} (allowed: {', '.join(RULE_KEYS)})", file=file,
                            line=_line(key_node), rule=rule_id)
    for key in ("description", "severity", "confidence", "regex"):
        if key not in fields:
            raise RuleError(f"missing {key!r}", file=file, line=line, rule=rule_id)
    text = {key: _string(fields[key][1], key, file, fields[key][0], rule_id)
            for key in ("description", "severity", "confidence", "regex")}
    keywords_node, keywords_value = fields.get("keywords", (node, None))
    keywords = tuple(k.lower() for k in _strings(keywords_value, "keywords", file, keywords_node, rule_id))
    group_node, group = fields.get("secret_group", (node, None))
    if group is not None and (not isinstance(group, int) or isinstance(group, bool)):
        raise RuleError("secret_group must be a whole number", file=file, line=_line(group_node), rule=rule_id)
    entropy_node, entropy = fields.get("entropy", (node, None))
    if entropy is not None and (not isinstance(entropy, int | float) or isinstance(entropy, bool)):
        raise RuleError("entropy must be a number", file=file, line=_line(entropy_node), rule=rule_id)
    if group is None:
        try:
            group = 1 if compile_rule_regex(text["regex"]).groups else 0
        except ValueError as exc:
            raise RuleError(str(exc), file=file, line=_line(fields["regex"][0]), rule=rule_id) from None
    allowlists = (_yaml_allowlist(fields["allowlist"][0], fields["allowlist"][1], file, rule_id),) \
        if fields.get("allowlist", (None, None))[1] is not None else ()
    requires = (_yaml_requires(fields["requires"][0], file, rule_id),) \
        if fields.get("requires", (None, None))[1] is not None else ()
    rule = Rule(id=rule_id, family=family, description=text["description"], severity=text["severity"].lower(),
                confidence=text["confidence"].lower(), regex=text["regex"], keywords=keywords, secret_group=group,
                entropy=float(entropy) if entropy is not None else None, allowlists=allowlists, requires=requires,
                scope=_string(fields["scope"][1], "scope", file, fields["scope"][0], rule_id) if "scope" in fields
                else "file",
                origin=f"{file}:{line}")
    try:
        check_rule(rule)
    except ValueError as exc:
        message = str(exc)
        culprit = next((k for k in fields if message.startswith(k.rstrip("s"))), None)  # messages start with it
        where = _line(fields[culprit][0]) if culprit else line
        raise RuleError(str(exc), file=file, line=where, rule=rule_id) from None
    return rule


def _yaml_file_rule(node: yaml.Node, file: str) -> SensitiveFileRule:
    line = _line(node)
    fields = _mapping(node, "a file rule", file)
    rule_id = fields["id"][1] if "id" in fields and isinstance(fields["id"][1], str) else None
    if rule_id is None:
        raise RuleError("file rule has no 'id' string", file=file, line=line)
    for key, (key_node, _) in fields.items():
        if key not in FILE_KEYS:
            raise RuleError(f"unknown key {key!r} (allowed: {', '.join(FILE_KEYS)})", file=file,
                            line=_line(key_node), rule=rule_id)
    for key in ("description", "severity", "confidence", "paths"):
        if key not in fields:
            raise RuleError(f"missing {key!r}", file=file, line=line, rule=rule_id)
    text = {key: _string(fields[key][1], key, file, fields[key][0], rule_id)
            for key in ("description", "severity", "confidence")}
    content_node, content_value = fields.get("content", (node, None))
    exclude_node, exclude_value = fields.get("exclude", (node, None))
    rule = SensitiveFileRule(
        id=rule_id, description=text["description"], severity=text["severity"].lower(),
        confidence=text["confidence"].lower(),
        paths=_strings(fields["paths"][1], "paths", file, fields["paths"][0], rule_id),
        content=_string(content_value, "content", file, content_node, rule_id) if content_value is not None else None,
        exclude=_strings(exclude_value, "exclude", file, exclude_node, rule_id),
        origin=f"{file}:{line}")
    try:
        check_file_rule(rule)
    except ValueError as exc:
        raise RuleError(str(exc), file=file, line=line, rule=rule_id) from None
    return rule


def parse_rule_file(text: str, file: str) -> RuleSource:
    """The rules of one YAML rule file's text (``family`` + ``rules``, and/or ``files``)."""
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(f"invalid YAML: {problem}", file=file, line=mark.line + 1 if mark is not None else None) \
            from None
    if root is None:
        return RuleSource()
    top = _mapping(root, "a rule file", file, unread=frozenset({"rules", "files"}))
    for key, (key_node, _) in top.items():
        if key not in ("family", "rules", "files"):
            raise RuleError(f"unknown top-level key {key!r} (allowed: family, rules, files)", file=file,
                            line=_line(key_node))
    rules: list[Rule] = []
    files: list[SensitiveFileRule] = []
    if "rules" in top:
        if "family" not in top:
            raise RuleError("a file with 'rules' needs a 'family'", file=file, line=_line(root))
        family = _string(top["family"][1], "family", file, top["family"][0], None)
        rules_node = top["rules"][0]
        if not isinstance(rules_node, yaml.SequenceNode):
            raise RuleError("'rules' must be a list", file=file, line=_line(rules_node))
        rules = [_yaml_rule(item, family, file) for item in rules_node.value]
    if "files" in top:
        files_node = top["files"][0]
        if not isinstance(files_node, yaml.SequenceNode):
            raise RuleError("'files' must be a list", file=file, line=_line(files_node))
        files = [_yaml_file_rule(item, file) for item in files_node.value]
    return RuleSource(rules=tuple(rules), files=tuple(files))


# ---------------------------------------------------------------- loading and merging


def _read(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RuleError(f"not UTF-8 text (byte {exc.start})", file=file,
                        line=data[: exc.start].count(b"\n") + 1) from None


def _read_path(path: Path) -> str:
    file = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise RuleError("not a regular file", file=file)
        if info.st_size > MAX_RULE_FILE_BYTES:
            raise RuleError(f"file is {info.st_size} bytes, over the {MAX_RULE_FILE_BYTES}-byte cap", file=file)
        data = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror or exc}", file=file) from None
    return _read(data, file)


def parse_any(text: str, file: str) -> RuleSource:
    """A rule file's text, by its suffix: ``.toml`` as a gitleaks config, otherwise the YAML schema."""
    if file.endswith(".toml"):
        from .gitleaks import parse_gitleaks_config  # gitleaks builds on this module's types

        return parse_gitleaks_config(text, file)
    return parse_rule_file(text, file)


def _builtin_sources() -> list[RuleSource]:
    root: Traversable = resources.files("threatstryker.secrets") / "rules"
    if not root.is_dir():
        return []
    out = []
    for item in sorted(root.iterdir(), key=lambda t: t.name):
        if item.is_file() and item.name.endswith((".yaml", ".yml")):
            name = f"threatstryker/secrets/rules/{item.name}"
            out.append(parse_rule_file(_read(item.read_bytes(), name), name))
    return out


def _user_sources(paths: Iterable[str | os.PathLike[str]]) -> list[RuleSource]:
    out: list[RuleSource] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in _RULE_SUFFIXES and p.is_file())
            out.extend(parse_any(_read_path(p), str(p)) for p in found)
        elif path.exists():
            out.append(parse_any(_read_path(path), str(path)))
        else:
            raise RuleError("no such file or directory", file=str(path))
    return out


def _origin(origin: str) -> tuple[str, int | None]:
    file, _, line = origin.rpartition(":")
    return (file, int(line)) if line.isdigit() and file else (origin, None)


def _merge_layer(sources: Sequence[RuleSource], rules: dict[str, Rule], files: dict[str, SensitiveFileRule]) -> None:
    """Adds one layer's rules, replacing earlier layers' rules of the same id; an id twice in the layer is an error."""
    seen: dict[str, str] = {}

    def claim(kind: str, item_id: str, origin: str) -> None:
        key = f"{kind}:{item_id}"
        if key in seen:
            file, line = _origin(origin)
            raise RuleError(f"duplicate id (first defined at {seen[key]})", file=file, line=line, rule=item_id)
        seen[key] = origin

    for source in sources:
        for rule in source.rules:
            claim("rule", rule.id, rule.origin)
            rules[rule.id] = rule
        for file_rule in source.files:
            claim("file", file_rule.id, file_rule.origin)
            files[file_rule.id] = file_rule


def _check_requirements(rules: dict[str, Rule]) -> None:
    for rule in rules.values():
        for need in rule.requires:
            if need.rule not in rules:
                file, line = _origin(rule.origin)
                raise RuleError(f"requires unknown rule {need.rule!r}", file=file, line=line, rule=rule.id)
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(rule_id: str, chain: tuple[str, ...]) -> None:
        if state.get(rule_id) == 2:
            return
        if state.get(rule_id) == 1:
            file, line = _origin(rules[rule_id].origin)
            raise RuleError(f"requires form a cycle: {' -> '.join((*chain, rule_id))}", file=file, line=line,
                            rule=rule_id)
        state[rule_id] = 1
        for need in rules[rule_id].requires:
            visit(need.rule, (*chain, rule_id))
        state[rule_id] = 2

    for rule_id in rules:
        visit(rule_id, ())


def build_ruleset(layers: Sequence[Sequence[RuleSource]]) -> RuleSet:
    """Merges layers of rule sources (later layers replace earlier rules of the same id), drops disabled ids,
    and checks that every ``requires`` names a rule and that they form no cycle."""
    rules: dict[str, Rule] = {}
    files: dict[str, SensitiveFileRule] = {}
    allowlists: list[Allowlist] = []
    warnings: list[str] = []
    disabled: set[str] = set()
    for layer in layers:
        _merge_layer(layer, rules, files)
        for source in layer:
            allowlists.extend(source.allowlists)
            warnings.extend(source.warnings)
            disabled.update(source.disabled)
    for rule_id in disabled:
        rules.pop(rule_id, None)
        files.pop(rule_id, None)
    _check_requirements(rules)
    return RuleSet(rules=tuple(rules.values()), files=tuple(files.values()), allowlists=tuple(allowlists),
                   warnings=tuple(warnings))


def load_ruleset(paths: Iterable[str | os.PathLike[str]] | None = None, *, replace_builtin: bool = False) -> RuleSet:
    """The built-in rules plus the rules in ``paths`` (files or directories of ``.yaml``/``.yml``/``.toml``);
    with ``replace_builtin`` only the given files' rules. RuleError for any unusable file or rule."""
    user = _user_sources(paths or ())
    builtin = [] if replace_builtin and paths is not None else _builtin_sources()
    return build_ruleset([builtin, user])
