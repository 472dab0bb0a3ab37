"""Shannon entropy of a candidate secret, in bits per character."""

from __future__ import annotations

import math
from collections import Counter


def shannon_entropy(text: str) -> float:
    """Shannon entropy of ``text`` over its characters (0.0 for an empty or one-symbol string).

    A random base64 string approaches 6 bits per character, a hex string 4, an English word about 2.5-3.
    """
    length = len(text)
    if length < 2:
        return 0.0
    entropy = 0.0
    for count in Counter(text).values():
        p = count / length
        entropy -= p * math.log2(p)
    return entropy
