"""Maven versions, ordered like Maven 3.9's ComparableVersion.

The lower-cased version splits on ``.`` and ``-`` and at every digit/letter transition; a
``-`` or a transition opens a nested list (a letters-then-digit item such as ``.rc1`` is
nested as if written ``-rc1``). Numbers compare numerically; qualifiers by
alpha < beta < milestone < rc < snapshot < "" (= ga = final = release) < sp < others
(lexically); ``a1``/``b1``/``m1`` mean alpha/beta/milestone; ``cr`` means rc. Trailing
"null" items (0, "", empty lists) are dropped before any later list.
"""

from __future__ import annotations

from ._base import ASCII_DIGITS, Reject, cmp

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE = str(_QUALIFIERS.index(""))

# Items: (0, int) a number; (1, comparable qualifier string); (2, tuple of items) a list.
Item = tuple[int, object]
Key = tuple[Item, ...]


def _string_item(value: str, followed_by_digit: bool) -> Item:
    if followed_by_digit and len(value) == 1:
        value = {"a": "alpha", "b": "beta", "m": "milestone"}.get(value, value)
    value = _ALIASES.get(value, value)
    if value in _QUALIFIERS:
        return (1, str(_QUALIFIERS.index(value)))
    return (1, f"{len(_QUALIFIERS)}-{value}")


def _item(is_digit: bool, s: str, followed_by_digit: bool = False) -> Item:
    return (0, int(s)) if is_digit else _string_item(s, followed_by_digit)


def _is_null(item: Item) -> bool:
    kind, value = item
    if kind == 0:
        return value == 0
    if kind == 1:
        return value == _RELEASE
    return not value


def _normalize(items: list[object]) -> Key:
    # The Java code normalises innermost lists first; this is called on each list as it closes.
    for i in range(len(items) - 1, -1, -1):
        it = items[i]
        assert isinstance(it, tuple)
        if _is_null(it):
            del items[i]
        elif it[0] != 2:
            break
    return tuple(items)  # type: ignore[arg-type]


def parse(v: str) -> Key:
    if not v.isascii() or not v.isprintable() or " " in v:
        raise Reject("only printable ASCII without spaces is allowed")
    s = v.lower()
    # A stack of open lists; a nested list is added to its parent when it is closed.
    stack: list[list[object]] = [[]]
    is_digit = False
    start = 0

    def add(item: Item) -> None:
        stack[-1].append(item)

    def open_list() -> None:
        stack.append([])

    for i, c in enumerate(s):
        if c in ".-":
            add((0, 0) if i == start else _item(is_digit, s[start:i]))
            start = i + 1
            if c == "-":
                open_list()
        elif c in ASCII_DIGITS:
            if not is_digit and i > start:
                if stack[-1]:  # Maven 3.9: "1.0.cr1" nests like "1.0-cr1"
                    open_list()
                add(_string_item(s[start:i], True))
                start = i
                open_list()
            is_digit = True
        else:
            if is_digit and i > start:
                add(_item(True, s[start:i]))
                start = i
                open_list()
            is_digit = False
    if len(s) > start:
        if not is_digit and stack[-1]:  # Maven 3.9: a trailing qualifier is nested ("1.0.rc" ~ "1.0-rc")
            open_list()
        add(_item(is_digit, s[start:]))
    while len(stack) > 1:
        inner = _normalize(stack.pop())
        stack[-1].append((2, inner))
    return _normalize(stack[0])


def _cmp_item(a: Item | None, b: Item | None) -> int:
    """Item.compareTo, with None for a missing item (only ``a`` may be None when b is not)."""
    if a is None:
        return 0 if b is None else -_cmp_item(b, None)
    kind, value = a
    if b is None:
        if kind == 0:
            return 0 if value == 0 else 1
        if kind == 1:
            return cmp(value, _RELEASE)
        assert isinstance(value, tuple)
        return _cmp_item(value[0], None) if value else 0
    bkind, bvalue = b
    if kind != bkind:
        # number > list > qualifier
        order = {0: 2, 2: 1, 1: 0}
        return cmp(order[kind], order[bkind])
    if kind == 2:
        assert isinstance(value, tuple) and isinstance(bvalue, tuple)
        return compare(value, bvalue)
    return cmp(value, bvalue)


def compare(a: Key, b: Key) -> int:
    for i in range(max(len(a), len(b))):
        r = _cmp_item(a[i] if i < len(a) else None, b[i] if i < len(b) else None)
        if r:
            return r
    return 0


def hash_key(key: Key) -> int:
    """A hash that agrees with ``compare``: equal versions share their first item."""
    return hash(key[0]) if key else 0
