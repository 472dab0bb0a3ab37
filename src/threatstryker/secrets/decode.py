"""Bounded decoding: base64 (standard and URL-safe) and hex runs in a buffer that decode to printable text,
under a per-file budget of decoded bytes, so the engine can re-scan what they hide."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_DECODED_BYTES", "MIN_RUN", "DecodeBudget", "EncodedRun", "encoded_runs", "printable"]

#: Smallest encoded run looked at (characters); shorter base64 rarely hides a whole credential.
MIN_RUN = 20
#: Default cap on the bytes decoded from one file, across every level.
DEFAULT_MAX_DECODED_BYTES = 1024 * 1024
#: Share of printable characters a decoded run needs to be re-scanned.
PRINTABLE_SHARE = 0.95

# Runs are found with bytes.translate and bytes.find (C speed, ~8x a regex): every byte of the base64 and
# hex alphabets maps to "a", every other byte (padding "=" too: "key=dGVzdA" is two runs) to " ".
_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_RUN_MAP = bytes(0x61 if i in _ALPHABET else 0x20 for i in range(256))
_RUN_SEED = b"a" * MIN_RUN
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_HEX = re.compile(rb"(?:[0-9a-fA-F]{2})+")
_B64_STD = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_B64_URL = re.compile(rb"[A-Za-z0-9_-]+={0,2}")


@dataclass(slots=True)
class DecodeBudget:
    """Decoded bytes still allowed for one file; shared by every level of decoding."""

    remaining: int = DEFAULT_MAX_DECODED_BYTES

    def take(self, size: int) -> bool:
        """Spends ``size`` bytes if that many remain."""
        if size > self.remaining:
            return False
        self.remaining -= size
        return True


@dataclass(frozen=True, slots=True)
class EncodedRun:
    """An encoded run at ``data[start:end]`` and the printable bytes it decodes to (``kind`` base64 or hex)."""

    start: int
    end: int
    kind: str
    decoded: bytes


def printable(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 text with at least 95% printable characters (tab, CR and LF count)."""
    if not data:
        return False
    if data.isascii():
        return len(data.translate(None, _PRINTABLE_ASCII)) <= (1.0 - PRINTABLE_SHARE) * len(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not text:
        return False
    good = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n")
    return good >= PRINTABLE_SHARE * len(text)


def _decode(run: bytes) -> tuple[str, bytes] | None:
    if len(run) % 2 == 0 and _HEX.fullmatch(run):
        try:
            return "hex", binascii.unhexlify(run)
        except binascii.Error:
            return None
    body = run.rstrip(b"=")
    if len(body) % 4 == 1:
        return None
    padded = body + b"=" * (-len(body) % 4)
    try:
        if _B64_STD.fullmatch(run):
            return "base64", base64.b64decode(padded, validate=True)
        if _B64_URL.fullmatch(run):
            return "base64", base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        return None
    return None


def encoded_runs(data: bytes, budget: DecodeBudget) -> Iterator[EncodedRun]:
    """The encoded runs of ``data`` that decode to printable text, in order, while ``budget`` lasts.

    A run mixing the two base64 alphabets (``+``/``/`` and ``-``/``_``) is not base64; a run of hex
    digits is read as hex. Only runs whose decoded text is kept are charged to the budget; a run that
    could decode to more than what remains is not decoded at all, so memory stays bounded.
    """
    if budget.remaining <= 0:
        return
    mapped = data.translate(_RUN_MAP)
    start = mapped.find(_RUN_SEED)
    while start >= 0:
        end = mapped.find(b" ", start + MIN_RUN)
        end = len(mapped) if end < 0 else end
        end += 2 if data.startswith(b"==", end) else 1 if data.startswith(b"=", end) else 0
        run = data[start:end]
        decoded = _decode(run) if len(run) // 4 * 3 <= budget.remaining else None
        if decoded is not None and printable(decoded[1]):
            if not budget.take(len(decoded[1])):
                return
            yield EncodedRun(start=start, end=end, kind=decoded[0], decoded=decoded[1])
        start = mapped.find(_RUN_SEED, end)
