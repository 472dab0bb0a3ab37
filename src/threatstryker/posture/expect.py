"""The ``expect`` operators of value probes: whether a value found (None: set nowhere) meets what a check
expects, and the expectation as text for the evidence."""

from __future__ import annotations

import json
import re
from typing import Any

OPERATORS = ("equals", "not_equals", "in", "not_in", "min", "max", "regex", "not_regex", "present", "absent",
             "contains", "not_contains", "subset_of")


class ExpectError(ValueError):
    """A check's ``expect`` is malformed (a data error, reported at load time)."""


def validate(expect: Any) -> None:
    if not isinstance(expect, dict) or len(expect) != 1 or next(iter(expect)) not in OPERATORS:
        raise ExpectError(f"expect must be one of {', '.join(OPERATORS)} (got {expect!r})")
    op, arg = next(iter(expect.items()))
    if op in ("in", "not_in", "subset_of") and not isinstance(arg, list):
        raise ExpectError(f"expect {op} needs a list")
    if op in ("min", "max") and not isinstance(arg, int | float):
        raise ExpectError(f"expect {op} needs a number")
    if op in ("regex", "not_regex"):
        try:
            re.compile(str(arg))
        except re.error as exc:
            raise ExpectError(f"expect {op} does not compile: {exc}") from None


def describe(expect: dict[str, Any]) -> str:
    op, arg = next(iter(expect.items()))
    words = {"equals": "= {}", "not_equals": "!= {}", "in": "one of {}", "not_in": "none of {}", "min": ">= {}",
             "max": "<= {}", "regex": "matches {}", "not_regex": "does not match {}", "present": "set",
             "absent": "not set", "contains": "includes {}", "not_contains": "does not include {}",
             "subset_of": "only of {}"}
    return words[op].format(", ".join(map(str, arg)) if isinstance(arg, list) else arg)


def as_text(value: Any) -> str:
    """A value from a JSON/YAML document as a check file writes it: ``true``/``false``, JSON for lists and maps."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def shown(expect: dict[str, Any]) -> str:
    """:func:`describe` with values as a check file writes them (``false``, ``""``) rather than as Python's."""
    def one(v: Any) -> Any:
        return as_text(v) if isinstance(v, bool) else ('""' if v == "" else v)

    op, arg = next(iter(expect.items()))
    return describe({op: [one(a) for a in arg] if isinstance(arg, list) else one(arg)})


def _norm(value: Any) -> str:
    text = str(value).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text.lower() if re.fullmatch(r"[A-Za-z_-]+", text) else text


def _number(text: str) -> float | None:
    """Decimal, ``0x`` hex, or octal with a leading zero (as modes and umasks are written: ``027``)."""
    try:
        if re.fullmatch(r"0[0-7]+", text):
            return float(int(text, 8))
        if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", text):
            return float(int(text, 16))
        return float(text)
    except ValueError:
        return None


def elements(value: str) -> list[str]:
    """The items of a list value: a JSON list, or comma-separated (``Node,RBAC``)."""
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
            if isinstance(items, list):
                return [str(i) for i in items]
        except ValueError:
            pass
    return [part.strip() for part in text.split(",") if part.strip()]


def _list_meets(value: str, op: str, arg: Any) -> tuple[bool, str]:
    """``contains`` / ``not_contains`` an item, or ``subset_of`` (every item one of) a list."""
    items = [_norm(i) for i in elements(value)]
    if op == "subset_of":
        if not items:
            return False, "is empty"
        allowed = {_norm(a) for a in arg}
        bad = [i for i, n in zip(elements(value), items, strict=True) if n not in allowed]
        return not bad, "" if not bad else f"includes {', '.join(bad)}"
    inside = _norm(arg) in items
    ok = inside if op == "contains" else not inside
    return ok, "" if ok else f"is {value!r}"


def meets(value: str | None, expect: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``value`` meets ``expect``, and why not (empty when it does)."""
    op, arg = next(iter(expect.items()))
    if op == "absent":
        return (value is None, "" if value is None else f"set to {value!r}")
    if value is None:
        return (op in ("not_equals", "not_in", "not_regex", "not_contains"), "not set")
    if op == "present":
        return True, ""
    if op in ("contains", "not_contains", "subset_of"):
        return _list_meets(value, op, arg)
    found = _norm(value)
    if op in ("equals", "not_equals"):
        same = found == _norm(arg)
        ok = same if op == "equals" else not same
        return ok, "" if ok else f"is {value!r}"
    if op in ("in", "not_in"):
        inside = found in {_norm(a) for a in arg}
        ok = inside if op == "in" else not inside
        return ok, "" if ok else f"is {value!r}"
    if op in ("min", "max"):
        number = _number(found)
        if number is None:
            return False, f"{value!r} is not a number"
        ok = number >= arg if op == "min" else number <= arg
        return ok, "" if ok else f"is {value}"
    ok = (re.fullmatch(str(arg), str(value).strip()) is not None) == (op == "regex")
    return ok, "" if ok else f"is {value!r}"


__all__ = ["OPERATORS", "ExpectError", "as_text", "describe", "meets", "shown", "validate"]
