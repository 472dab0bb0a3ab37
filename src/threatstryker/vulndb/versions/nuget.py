"""NuGet versions (NuGet.Versioning): SemVer 2 with an optional fourth number.

``Major[.Minor[.Patch[.Revision]]][-prerelease][+metadata]``; missing numbers are 0, so
1.0 == 1.0.0 == 1.0.0.0; pre-release labels compare case-insensitively (numeric labels
numerically, before alphanumeric ones); metadata is ignored.
"""

from __future__ import annotations

import re

from ._base import Reject

_IDENT = r"[0-9A-Za-z-]+"
_DOTTED = rf"{_IDENT}(?:\.{_IDENT})*"
_PATTERN = re.compile(rf"([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-({_DOTTED}))?(?:\+({_DOTTED}))?")
_INT32_MAX = 2**31 - 1

Label = tuple[int, int, str]
Key = tuple[int, int, int, int, int, tuple[Label, ...]]


def parse(v: str) -> Key:
    m = _PATTERN.fullmatch(v)
    if m is None:
        raise Reject("not Major[.Minor[.Patch[.Revision]]][-prerelease][+metadata]")
    nums = [int(g) if g is not None else 0 for g in m.groups()[:4]]
    if max(nums) > _INT32_MAX:
        raise Reject("number larger than a 32-bit integer")
    pre = m.group(5)
    if pre is None:
        return (nums[0], nums[1], nums[2], nums[3], 1, ())
    labels = tuple((0, int(s), "") if s.isdigit() else (1, 0, s.lower()) for s in pre.split("."))
    return (nums[0], nums[1], nums[2], nums[3], 0, labels)
