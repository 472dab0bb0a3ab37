"""CVSS vectors scored as the FIRST specification documents' examples say, and vendor words mapped."""

from __future__ import annotations

import random
import re

import pytest

from threatstryker.model.finding import SEVERITIES, Cvss
from threatstryker.vulndb.advisory import Severity
from threatstryker.vulndb.cvss import MAX_VECTOR_LENGTH, CvssError, from_severity, normalise_word, parse_vector

# (vector, version, base score, severity, exploitability, impact)
SPEC_EXAMPLES = [
    # CVSS v3.1 specification, severity table / examples: network, no privileges, total loss -> 9.8
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", 9.8, "critical", 3.9, 5.9),
    # CVSS v3.1 examples: phpMyAdmin reflected XSS (CVE-2013-1937), scope changed
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "3.1", 6.1, "medium", 2.8, 2.7),
    # CVSS v3.0/v3.1 examples: OpenSSL Heartbleed (CVE-2014-0160)
    ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "3.0", 7.5, "high", 3.9, 3.6),
    # no impact at all scores 0.0, CVSS's "None" rating
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "3.1", 0.0, "negligible", 3.9, 0.0),
    # CVSS v2 guide examples: CVE-2002-0392 (Apache chunked encoding), CVE-2003-0818 (ASN.1),
    # CVE-2003-0062 (NOD32 local), and the common AV:N/.../C:P/I:P/A:P
    ("AV:N/AC:L/Au:N/C:N/I:N/A:C", "2.0", 7.8, "high", 10.0, 6.9),
    ("AV:N/AC:L/Au:N/C:C/I:C/A:C", "2.0", 10.0, "high", 10.0, 10.0),
    ("AV:L/AC:H/Au:N/C:C/I:C/A:C", "2.0", 6.2, "medium", 1.9, 10.0),
    ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5, "high", 10.0, 6.4),
    ("AV:L/AC:L/Au:N/C:P/I:N/A:N", "2.0", 2.1, "low", 3.9, 2.9),
    # CVSS v4.0: network, no requirements, high impact on the vulnerable system only -> 9.3;
    # v4.0 examples: a local, low-privilege flaw with high impact -> 8.5
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 9.3, "critical", None, None),
    ("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 8.5, "high", None, None),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", "4.0", 0.0, "negligible", None, None),
]


@pytest.mark.parametrize(("vector", "version", "score", "severity", "exploitability", "impact"), SPEC_EXAMPLES)
def test_spec_examples(
    vector: str, version: str, score: float, severity: str, exploitability: float | None, impact: float | None
) -> None:
    assert parse_vector(vector, "nvd") == Cvss(version, vector, score, severity, exploitability, impact, "nvd")


def test_v2_forms_and_white_space() -> None:
    bare = parse_vector("AV:N/AC:L/Au:N/C:P/I:P/A:P")
    for form in (
        "(AV:N/AC:L/Au:N/C:P/I:P/A:P)",
        "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "  AV:N/AC:L/Au:N/C:P/I:P/A:P\n",
    ):
        got = parse_vector(form)
        assert (got.version, got.base_score, got.severity, got.exploitability, got.impact) == (
            "2.0",
            7.5,
            "high",
            10.0,
            6.4,
        )
        assert got.vector == form.strip()
    assert bare.vector == "AV:N/AC:L/Au:N/C:P/I:P/A:P"
    # v2 has no rating of its own: NVD's ranges (4.0 is medium, 7.0 high, no critical)
    assert parse_vector("AV:N/AC:L/Au:N/C:C/I:C/A:C").severity == "high"


def test_metric_order_and_optional_metrics() -> None:
    shuffled = parse_vector("CVSS:3.1/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/S:U")
    assert shuffled.base_score == 9.8
    # temporal metrics do not change the base score
    assert parse_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U").base_score == 9.8


@pytest.mark.parametrize(
    "vector",
    [
        "",
        "   ",
        "hello",
        "CVSS:3.1/AV:N",
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
        "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4.0/AV:N/AC:L",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:Q",
        "AV:N/AC:L/Au:N/C:P/I:P",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P/E:ZZ",
        "CVSS:1.0/AV:N",
        "9.8/CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P\nAV:N",
    ],
)
def test_invalid_vectors(vector: str) -> None:
    with pytest.raises(CvssError) as info:
        parse_vector(vector)
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, ValueError)
    if vector.strip():
        assert vector.strip().split("\n")[0][:30] in message  # names the vector


def test_length_cap_and_type() -> None:
    long = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" + "/E:X" * MAX_VECTOR_LENGTH
    with pytest.raises(CvssError, match="over the 512 cap"):
        parse_vector(long)
    with pytest.raises(CvssError, match="not a string"):
        parse_vector(7.5)  # type: ignore[arg-type]


def test_mutated_vectors_give_a_score_or_a_cvss_error() -> None:
    """The library raises several exception types; none but CvssError gets out."""
    rng = random.Random(20240601)
    bases = [example[0] for example in SPEC_EXAMPLES]
    alphabet = "AVNCLHPXUSRI:/()0123.4 *é"
    parsed = 0
    for _ in range(20000):
        chars = list(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars))
            action = rng.random()
            if action < 0.4:
                del chars[at]
            elif action < 0.8:
                chars.insert(at, rng.choice(alphabet))
            else:
                chars[at] = rng.choice(alphabet)
        try:
            result = parse_vector("".join(chars))
        except CvssError as exc:
            assert "\n" not in str(exc)
            continue
        parsed += 1
        assert 0.0 <= result.base_score <= 10.0 and result.severity in SEVERITIES
    assert parsed > 0  # some mutations (white space, a valid other value) still parse


def test_from_severity() -> None:
    v3 = from_severity(Severity("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), "osv:GHSA-jfh8-c2jp-5v3q")
    assert v3 is not None and (v3.version, v3.base_score, v3.source) == ("3.1", 9.8, "osv:GHSA-jfh8-c2jp-5v3q")
    v4 = from_severity(Severity("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"), "osv")
    assert v4 is not None and (v4.version, v4.base_score, v4.severity) == ("4.0", 9.3, "critical")
    v2 = from_severity(Severity("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"), "osv")
    assert v2 is not None and v2.base_score == 7.5
    assert from_severity(Severity("Ubuntu", "medium"), "osv") is None
    assert from_severity(Severity("DATABASE_SPECIFIC", "HIGH"), "osv") is None
    with pytest.raises(CvssError, match=re.escape("CVSS:3.1/AV:N")):
        from_severity(Severity("CVSS_V3", "CVSS:3.1/AV:N"), "osv")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # GitHub
        ("LOW", "low"),
        ("MODERATE", "medium"),
        ("HIGH", "high"),
        ("CRITICAL", "critical"),
        # Ubuntu priorities
        ("negligible", "negligible"),
        ("medium", "medium"),
        ("untriaged", "unknown"),
        # Debian urgencies
        ("unimportant", "negligible"),
        ("not yet assigned", "unknown"),
        ("end-of-life", "unknown"),
        ("low**", "low"),
        # Red Hat / SUSE
        ("Moderate", "medium"),
        ("Important", "high"),
        ("important", "high"),
        ("Critical", "critical"),
        # CVSS "None" and anything else
        ("None", "negligible"),
        ("  High  ", "high"),
        ("NOT_YET_ASSIGNED", "unknown"),
        ("severe", "unknown"),
        ("", "unknown"),
        ("9.8", "unknown"),
    ],
)
def test_normalise_word(word: str, expected: str) -> None:
    assert normalise_word(word) == expected


def test_normalise_word_not_a_string() -> None:
    assert normalise_word(None) == "unknown"  # type: ignore[arg-type]
