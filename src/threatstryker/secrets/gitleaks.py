"""Gitleaks-format TOML configs read into our rule model, with Go RE2 regexes translated to Python ``re``.

Read: ``[[rules]]`` (``id``, ``description``, ``regex``, ``secretGroup``, ``entropy``, ``keywords``, ``path``,
``[rules.allowlist]`` or ``[[rules.allowlists]]``, ``[[rules.required]]``, ``skipReport``; ``severity`` and
``confidence`` when present, else medium), the global ``[allowlist]``/``[[allowlists]]`` (``targetRules``
attaches one to rules of the same file), and ``[extend]`` (``path`` loads a base config first,
``disabledRules`` drops rules, ``useDefault`` is what loading on top of the built-in rules already does).
A rule with ``path`` but no ``regex`` becomes a sensitive-file rule. Allowlist ``commits`` do not apply to
file scans and are ignored. A rule or allowlist that cannot be translated is skipped and reported in the
returned warnings; the others load.

RE2 differences handled: flags mid-pattern (``a(?i)b`` becomes ``a(?i:b)``, per alternative), a leading
flag group with ``-``, ``\\z``, ``\\Q...\\E``, ``\\x{HH}``, octal ``\\123``, POSIX classes ``[[:alpha:]]``,
``(?<name>...)``, a literal ``{,n}``, and ``[``, ``&``, ``~``, ``|`` inside classes (Python warns on
them). Unicode classes (``\\pL``), ``\\C``, ungreedy ``(?U)``, negated POSIX classes and non-ASCII
patterns cannot be translated.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from .ruleset import (
    CONFIDENCES,
    SEVERITIES,
    Allowlist,
    Requirement,
    Rule,
    RuleError,
    RuleSource,
    SensitiveFileRule,
    check_allowlist,
    check_file_rule,
    check_rule,
)

__all__ = ["parse_gitleaks_config", "translate_re2"]

FAMILY = "custom"
MAX_EXTEND_DEPTH = 3

# POSIX classes as RE2 defines them (ASCII), written as class contents.
_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": r"\x00-\x7f", "blank": r"\t ", "cntrl": r"\x00-\x1f\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": r"!-/:-@\[-`{-~",
    "space": r"\t\n\v\f\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_NAMED = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")
_OPEN_REPEAT = re.compile(r"\{,\d*\}")
_HEX_BRACED = re.compile(r"\\x\{([0-9A-Fa-f]{1,8})\}")


class _Untranslatable(ValueError):
    pass


def _escape_char(code: int) -> str:
    if code > 0x7F:
        raise _Untranslatable(f"character U+{code:04X} is not ASCII")
    return f"\\x{code:02x}"


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """The Python form of the escape at ``pattern[i]`` (a backslash) and the index after it."""
    if i + 1 >= len(pattern):
        raise _Untranslatable("trailing backslash")
    c = pattern[i + 1]
    if c == "z" and not in_class:
        return r"\Z", i + 2
    if c in "pP":
        raise _Untranslatable(f"Unicode class \\{c} has no Python re equivalent")
    if c == "C":
        raise _Untranslatable("\\C (any byte) has no Python re equivalent")
    if c == "Q":
        end = pattern.find(r"\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        if in_class:
            raise _Untranslatable("\\Q...\\E inside a character class")
        return "".join(_escape_char(ord(ch)) if not ch.isalnum() else ch for ch in literal), \
            (len(pattern) if end < 0 else end + 2)
    m = _HEX_BRACED.match(pattern, i)
    if m:
        return _escape_char(int(m.group(1), 16)), m.end()
    if c in "01234567":
        j = i + 1
        while j < len(pattern) and j < i + 4 and pattern[j] in "01234567":
            j += 1
        if c != "0" and j == i + 2:
            raise _Untranslatable(f"backreference \\{c} is not RE2")
        return _escape_char(int(pattern[i + 1 : j], 8)), j
    return pattern[i : i + 2], i + 2


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The Python form of the character class starting at ``pattern[i]`` (``[``) and the index after it."""
    out = ["["]
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        out.append("^")
        j += 1
    first = True
    while j < len(pattern):
        c = pattern[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "\\":
            text, j = _escape(pattern, j, in_class=True)
            out.append(text)
        elif pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            name = pattern[j + 2 : end] if end > 0 else ""
            if name.startswith("^"):
                raise _Untranslatable(f"negated POSIX class [:{name}:]")
            if name not in _POSIX:
                raise _Untranslatable(f"unknown POSIX class [:{name}:]")
            out.append(_POSIX[name])
            j = end + 2
        elif c == "]":
            out.append(r"\]")
            j += 1
        elif c in "[&~|":
            out.append("\\" + c)
            j += 1
        else:
            out.append(c)
            j += 1
    raise _Untranslatable("unterminated character class")


def translate_re2(pattern: str) -> str:
    """``pattern`` (Go RE2 syntax) in Python ``re`` syntax; ValueError naming what cannot be translated."""
    if not pattern.isascii():
        raise ValueError("pattern is not ASCII")
    out: list[str] = []
    # per open group: the scoped flag groups opened mid-group, reopened after each '|'
    stack: list[list[str]] = [[]]
    i = 0
    n = len(pattern)
    try:
        while i < n:
            c = pattern[i]
            if c == "\\":
                text, i = _escape(pattern, i, in_class=False)
                out.append(text)
            elif c == "[":
                text, i = _class(pattern, i)
                out.append(text)
            elif c == "(":
                flags = _FLAGS.match(pattern, i)
                named = _NAMED.match(pattern, i)
                if flags and flags.group(3) == ")":
                    on, off = flags.group(1), flags.group(2) or ""
                    if set(on + off) - set("ims"):
                        raise _Untranslatable(f"flag group (?{flags.group(0)[2:-1]}) has flags Python lacks")
                    if i == 0 and not off:
                        out.append(f"(?{on})")
                    else:
                        spec = on + (f"-{off}" if off else "")
                        out.append(f"(?{spec}:")
                        stack[-1].append(spec)
                    i = flags.end()
                elif flags and flags.group(3) == ":":
                    if set(flags.group(1) + (flags.group(2) or "")) - set("ims"):
                        raise _Untranslatable(f"flag group {flags.group(0)} has flags Python lacks")
                    out.append(flags.group(0))
                    stack.append([])
                    i = flags.end()
                elif named:
                    out.append(f"(?P<{named.group(1)}>")
                    stack.append([])
                    i = named.end()
                elif pattern.startswith("(?", i):
                    raise _Untranslatable(f"group syntax {pattern[i:i + 4]!r} is not RE2")
                else:
                    out.append("(")
                    stack.append([])
                    i += 1
            elif c == ")":
                if len(stack) < 2:
                    raise _Untranslatable("unbalanced ')'")
                out.append(")" * len(stack.pop()) + ")")
                i += 1
            elif c == "|":
                scoped = stack[-1]
                out.append(")" * len(scoped) + "|" + "".join(f"(?{spec}:" for spec in scoped))
                i += 1
            elif c == "{" and _OPEN_REPEAT.match(pattern, i):
                out.append(r"\{")  # RE2 reads {,n} literally, Python as {0,n}
                i += 1
            else:
                out.append(c)
                i += 1
    except _Untranslatable as exc:
        raise ValueError(str(exc)) from None
    if len(stack) != 1:
        raise ValueError("unbalanced '('")
    return "".join(out) + ")" * len(stack[0])


# ---------------------------------------------------------------- the config


def _line_of(text: str, rule_id: str) -> int | None:
    m = re.search(r"^\s*id\s*=\s*(?:'''|\"\"\"|'|\")" + re.escape(rule_id), text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _list(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return tuple(value)


def _allowlist(d: Any) -> Allowlist | None:
    """Our form of one gitleaks allowlist table; None when only ``commits`` remain (no use on files)."""
    if not isinstance(d, dict):
        raise ValueError("allowlist must be a table")
    target = str(d.get("regexTarget", "secret")).lower() or "secret"
    condition = str(d.get("condition", "or")).lower() or "or"
    allow = Allowlist(regexes=tuple(translate_re2(r) for r in _list(d.get("regexes"), "regexes")),
                      stopwords=tuple(w.lower() for w in _list(d.get("stopwords"), "stopwords")),
                      paths=tuple(translate_re2(p) for p in _list(d.get("paths"), "paths")),
                      target=target, condition=condition)
    check_allowlist(allow)
    return None if allow.empty else allow


def _rule_allowlists(d: dict[str, Any]) -> tuple[Allowlist, ...]:
    tables: list[Any] = []
    if "allowlist" in d:
        tables.append(d["allowlist"])
    extra = d.get("allowlists", [])
    tables.extend(extra if isinstance(extra, list) else [extra])
    return tuple(a for a in (_allowlist(t) for t in tables) if a is not None)


def _requirements(d: dict[str, Any]) -> tuple[Requirement, ...]:
    out = []
    required = d.get("required", [])
    if not isinstance(required, list):
        raise ValueError("required must be an array of tables ([[rules.required]])")
    for item in required:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ValueError("required entries need an 'id'")
        lines = item.get("withinLines", 0)
        columns = item.get("withinColumns")
        if not isinstance(lines, int) or (columns is not None and not isinstance(columns, int)):
            raise ValueError("withinLines/withinColumns must be whole numbers")
        out.append(Requirement(rule=item["id"], within_lines=lines, within_columns=columns))
    return tuple(out)


def _level(d: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = str(d.get(key, "medium")).lower()
    if value not in allowed:
        raise ValueError(f"{key} {value!r} is not one of {', '.join(allowed)}")
    return value


def _rule(d: dict[str, Any], origin: str) -> Rule | SensitiveFileRule:
    """One ``[[rules]]`` table as a rule (or a sensitive-file rule when it has a path and no regex)."""
    rule_id = d["id"]
    severity = _level(d, "severity", SEVERITIES)
    confidence = _level(d, "confidence", CONFIDENCES)
    description = str(d.get("description") or rule_id)
    path = translate_re2(d["path"]) if isinstance(d.get("path"), str) and d["path"] else None
    regex = d.get("regex")
    if not regex:
        if path is None:
            raise ValueError("has neither regex nor path")
        file_rule = SensitiveFileRule(id=rule_id, description=description, severity=severity, confidence=confidence,
                                      path_regexes=(path,), origin=origin)
        check_file_rule(file_rule)
        return file_rule
    if not isinstance(regex, str):
        raise ValueError("regex must be a string")
    translated = translate_re2(regex)
    group = d.get("secretGroup", 0)
    entropy = d.get("entropy")
    if not isinstance(group, int) or isinstance(group, bool):
        raise ValueError("secretGroup must be a whole number")
    if entropy is not None and (not isinstance(entropy, int | float) or isinstance(entropy, bool)):
        raise ValueError("entropy must be a number")
    rule = Rule(id=rule_id, family=FAMILY, description=description, severity=severity, confidence=confidence,
                regex=translated, keywords=tuple(k.lower() for k in _list(d.get("keywords"), "keywords")),
                secret_group=group or None, entropy=float(entropy) if entropy else None,
                allowlists=_rule_allowlists(d), requires=_requirements(d), path=path,
                report=not bool(d.get("skipReport", False)), origin=origin)
    check_rule(rule)
    return rule


def _decode(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise RuleError(f"invalid TOML: {exc}", file=file, line=int(m.group(1)) if m else None) from None


def parse_gitleaks_config(text: str, file: str, *, _depth: int = 0) -> RuleSource:
    """The rules of a gitleaks TOML config; RuleError only when the file as a whole is unusable."""
    data = _decode(text, file)
    warnings: list[str] = []
    rules: dict[str, Rule] = {}
    files: dict[str, SensitiveFileRule] = {}
    allowlists: list[Allowlist] = []
    disabled: list[str] = []
    extend = data.get("extend") or {}
    if not isinstance(extend, dict):
        raise RuleError("[extend] must be a table", file=file)
    if extend.get("url"):
        warnings.append(f"{file}: [extend] url is not fetched; extend a local path instead")
    if isinstance(extend.get("path"), str) and extend["path"]:
        base_path = Path(file).parent / extend["path"]
        if _depth >= MAX_EXTEND_DEPTH:
            raise RuleError(f"[extend] chain deeper than {MAX_EXTEND_DEPTH}", file=file)
        try:
            base_text = base_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"[extend] path {extend['path']!r} cannot be read: {exc}", file=file) from None
        base = parse_gitleaks_config(base_text, str(base_path), _depth=_depth + 1)
        rules.update((r.id, r) for r in base.rules)
        files.update((f.id, f) for f in base.files)
        allowlists.extend(base.allowlists)
        warnings.extend(base.warnings)
        disabled.extend(base.disabled)
    try:
        disabled.extend(_list(extend.get("disabledRules"), "[extend] disabledRules"))
    except ValueError as exc:
        raise RuleError(str(exc), file=file) from None

    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RuleError("'rules' must be an array of tables ([[rules]])", file=file)
    for index, d in enumerate(raw_rules, 1):
        if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not d["id"]:
            warnings.append(f"{file}: rule #{index}: skipped: no 'id'")
            continue
        line = _line_of(text, d["id"])
        origin = f"{file}:{line}" if line else file
        try:
            item = _rule(d, origin)
        except (ValueError, TypeError) as exc:
            warnings.append(f"{origin}: rule {d['id']}: skipped: {exc}")
            continue
        if isinstance(item, Rule):
            rules[item.id] = item
            files.pop(item.id, None)
        else:
            files[item.id] = item
            rules.pop(item.id, None)

    globals_: list[Any] = []
    if "allowlist" in data:
        globals_.append(data["allowlist"])
    extra = data.get("allowlists", [])
    globals_.extend(extra if isinstance(extra, list) else [extra])
    for index, table in enumerate(globals_, 1):
        try:
            allow = _allowlist(table)
        except (ValueError, TypeError) as exc:
            warnings.append(f"{file}: global allowlist #{index}: skipped: {exc}")
            continue
        if allow is None:
            continue
        try:
            targets = _list(table.get("targetRules"), "targetRules") if isinstance(table, dict) else ()
        except ValueError as exc:
            warnings.append(f"{file}: global allowlist #{index}: skipped: {exc}")
            continue
        if not targets:
            allowlists.append(allow)
        for target in targets:
            if target in rules:
                rules[target] = replace(rules[target], allowlists=(*rules[target].allowlists, allow))
            else:
                warnings.append(f"{file}: global allowlist #{index}: targetRules names unknown rule {target!r}")
    return RuleSource(rules=tuple(rules.values()), files=tuple(files.values()), allowlists=tuple(allowlists),
                      warnings=tuple(warnings), disabled=tuple(disabled))
