"""CVSS vectors to :class:`~threatstryker.model.finding.Cvss` scores, and vendor severity words to ours.

:func:`parse_vector` reads CVSS v2 (bare ``AV:N/AC:L/Au:N/C:P/I:P/A:P``, also in parentheses or
with a ``CVSS:2.0/`` prefix), v3.0/v3.1 (``CVSS:3.x/...``) and v4.0 (``CVSS:4.0/...``) vectors with
Red Hat's ``cvss`` library, which computes the scores as the FIRST specifications define them.
The severity word is the library's qualitative rating for v3/v4 (``None`` becomes
``negligible``) and the NVD ranges for v2 (which has no rating of its own: low below 4.0, medium
below 7.0, high from 7.0). The exploitability and impact sub-scores of v2/v3 are rounded to one
decimal as NVD shows them; v4 has none.

:func:`from_severity` does the same for an OSV ``severity`` entry, and :func:`normalise_word`
maps the words distributions and advisory databases use (GitHub, Ubuntu, Debian, Red Hat, SUSE)
to :data:`~threatstryker.model.finding.SEVERITIES`.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

from ..model.finding import SEVERITIES, Cvss
from .advisory import Severity

__all__ = [
    "MAX_VECTOR_LENGTH",
    "OSV_CVSS_TYPES",
    "CvssError",
    "from_severity",
    "normalise_word",
    "parse_vector",
    "v2_severity",
]

#: Longest vector accepted; a v4.0 vector with every metric set is about 250 characters.
MAX_VECTOR_LENGTH = 512
#: The OSV severity types that hold a CVSS vector.
OSV_CVSS_TYPES: tuple[str, ...] = ("CVSS_V2", "CVSS_V3", "CVSS_V4")

# What the library raises for a bad vector besides its own CVSSError (it indexes tables with
# the metric values and does Decimal arithmetic on them).
_LIBRARY_ERRORS = (
    CVSSError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    ArithmeticError,
    RuntimeError,
    AssertionError,
)
_SHOWN = 80  # characters of a bad vector quoted in an error message

# Vendor words -> SEVERITIES. Keys are lower case with runs of white space, "_" and "-" as one space.
_WORDS: dict[str, str] = {
    "critical": "critical",
    "urgent": "critical",
    "high": "high",
    "important": "high",
    "medium": "medium",
    "moderate": "medium",
    "low": "low",
    "negligible": "negligible",
    "unimportant": "negligible",
    "none": "negligible",
    "unknown": "unknown",
    "not yet assigned": "unknown",
    "end of life": "unknown",
    "untriaged": "unknown",
}


class CvssError(ValueError):
    """A vector that cannot be read; the message is one line naming the vector."""


def parse_vector(vector: str, source: str = "") -> Cvss:
    """The :class:`Cvss` of a v2, v3.0, v3.1 or v4.0 vector; ``source`` says who gave it.

    ``vector`` is kept as given (surrounding white space removed). Raises :class:`CvssError`
    for anything that is not a valid vector of those versions, or is longer than
    :data:`MAX_VECTOR_LENGTH`.
    """
    if not isinstance(vector, str):
        raise CvssError(f"CVSS vector is a {type(vector).__name__}, not a string")
    text = vector.strip()
    if not text:
        raise CvssError("CVSS vector is empty")
    if len(text) > MAX_VECTOR_LENGTH:
        raise CvssError(f"CVSS vector {_show(text)} is {len(text)} characters, over the {MAX_VECTOR_LENGTH} cap")
    result = _score(text)
    return replace(result, source=source) if source else result


@lru_cache(maxsize=8192)
def _score(text: str) -> Cvss:
    """The scores of a stripped vector of at most MAX_VECTOR_LENGTH characters (a feed repeats a few
    thousand distinct vectors over and over, and the library takes a fraction of a millisecond each)."""
    body = text[1:-1].strip() if text.startswith("(") and text.endswith(")") else text
    try:
        if body.startswith("CVSS:4.0/"):
            v4 = CVSS4(body)
            return Cvss("4.0", text, float(v4.base_score), _rating(str(v4.severity)))
        if body.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            v3 = CVSS3(body)
            return Cvss(
                body[5:8],
                text,
                float(v3.base_score),
                _rating(str(v3.severities()[0])),
                exploitability=_one_decimal(v3.esc),
                impact=_one_decimal(max(v3.isc, Decimal(0))),
            )
        if body.startswith("CVSS:2.0/"):
            body = body[len("CVSS:2.0/") :]
        elif body.startswith("CVSS:"):
            raise CvssError(f"CVSS vector {_show(text)} has an unsupported version (2.0, 3.0, 3.1 and 4.0 are)")
        v2 = CVSS2(body)
        score = float(v2.base_score)
        exploitability = Decimal(20) * v2.get_value("AV") * v2.get_value("AC") * v2.get_value("Au")
        return Cvss(
            "2.0",
            text,
            score,
            v2_severity(score),
            exploitability=_one_decimal(exploitability),
            impact=_one_decimal(v2.impact_equation()),
        )
    except CvssError:
        raise
    except _LIBRARY_ERRORS as exc:
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise CvssError(f"invalid CVSS vector {_show(text)}: {reason}") from None


def v2_severity(score: float) -> str:
    """NVD's rating of a CVSS v2 base score (v2 defines none): low below 4.0, medium below 7.0, else high."""
    return "high" if score >= 7.0 else "medium" if score >= 4.0 else "low"


def from_severity(sev: Severity, source: str) -> Cvss | None:
    """The :class:`Cvss` of an OSV severity of type ``CVSS_V2``/``CVSS_V3``/``CVSS_V4`` (``None``
    for any other type, e.g. ``Ubuntu`` words). Raises :class:`CvssError` for a bad vector."""
    if sev.type.upper() not in OSV_CVSS_TYPES:
        return None
    return parse_vector(sev.score, source)


def normalise_word(word: str) -> str:
    """A vendor severity word as one of :data:`SEVERITIES`, ``unknown`` when not recognised.

    GitHub ``LOW``/``MODERATE``/``HIGH``/``CRITICAL``, Ubuntu priorities (``negligible`` ...
    ``critical``), Debian urgencies (``unimportant`` is negligible, ``not yet assigned`` and
    ``end-of-life`` unknown; a trailing ``*`` is ignored), Red Hat and SUSE ratings
    (``Low``/``Moderate``/``Important``/``Critical``) and the CVSS rating ``None`` (negligible).
    """
    if not isinstance(word, str):
        return "unknown"
    key = " ".join(word.lower().replace("_", " ").replace("-", " ").split()).rstrip("*").strip()
    result = _WORDS.get(key, "unknown")
    assert result in SEVERITIES
    return result


def _rating(word: str) -> str:
    """The library's v3/v4 rating (``None``/``Low``/.../``Critical``) as a severity word."""
    return normalise_word(word)


def _one_decimal(value: Decimal) -> float:
    return float(Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _show(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _SHOWN else flat[:_SHOWN] + "...")
