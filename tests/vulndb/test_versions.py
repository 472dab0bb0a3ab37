"""Version ordering per scheme: the specs' own examples, tricky cases, hostile input, and
cross-checks against the real tools (dpkg, rpm, Maven, RubyGems, node-semver, PHP) when present."""

from __future__ import annotations

import glob
import itertools
import json
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import TypeVar

import pytest

from threatstryker.vulndb.versions import (
    MAX_LENGTH,
    SCHEMES,
    InvalidVersion,
    Version,
    compare,
    is_valid,
    parse,
    scheme_for,
)

T = TypeVar("T")

# Each chain is in strictly increasing order.
CHAINS: dict[str, list[list[str]]] = {
    "deb": [
        ["1.0~rc1", "1.0", "1.0-1", "1.0-1+b1", "1.0+b1", "1.0.1", "1:0.9", "2:0.1"],
        ["2.0", "1:0.9"],
        ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+", "1.0.1"],
        ["1.0-1~bpo11+1", "1.0-1", "1.0-1ubuntu0.1", "1.0-1ubuntu1", "1.0-2"],
        ["2.36-9+deb12u3", "2.36-9+deb12u4", "2.36-9+deb12u10"],
        ["1.2.3", "1.2.10", "1.10"],
        ["0.9", "0.09a"],
    ],
    "rpm": [
        ["1.0~rc1", "1.0", "1.0^git1", "1.0.1"],
        ["1.0~~", "1.0~", "1.0", "1.0^", "1.0^1", "1.0a", "1.0.1"],
        ["1.0-1.el8", "1.0-1.el8_2", "1.0-2.el8", "1.0-10.el8"],
        ["4.18.0-513.5.1.el8_9", "4.18.0-513.9.1.el8_9", "4.18.0-553.el8_10"],
        ["1.0-1", "1:0.5-1", "2:0.1-1"],
        ["a", "1"],
        ["1.0", "1.0-1"],
        ["2.0.1", "2.0.01a"],
    ],
    "apk": [
        [
            "1.2_alpha",
            "1.2_beta",
            "1.2_pre",
            "1.2_rc1",
            "1.2",
            "1.2-r1",
            "1.2_cvs",
            "1.2_svn",
            "1.2_git",
            "1.2_hg",
            "1.2_p1",
            "1.2a",
            "1.2.1",
        ],
        ["1.2_rc1", "1.2_rc2", "1.2_rc10", "1.2"],
        ["1.2_p1", "1.2_p1-r1", "1.2_p2"],
        ["1.2", "1.2-r0", "1.2-r2", "1.2~abc", "1.2~abc-r1", "1.2~abd"],
        ["1.001", "1.01", "1.1"],
        ["1.2.3-r0", "1.2.3-r9", "1.2.3-r10"],
        ["2.4.58-r0", "2.4.58-r1", "2.4.59-r0"],
    ],
    "pep440": [
        [
            "1.0.dev0",
            "1.0a1.dev1",
            "1.0a1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+local",
            "1.0+local.2",
            "1.0.post1.dev1",
            "1.0.post1",
            "1.1",
        ],
        ["1.0", "1!0.5"],
    ],
    "npm": [
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ],
        ["1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-a"],
        ["0.9.9", "1.0.0", "1.0.1", "1.1.0", "2.0.0"],
    ],
    "semver": [
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ],
    ],
    "go": [
        ["v0.0.0-20191109021931-daa7c04131f5", "v0.0.0-20200101000000-aaaaaaaaaaaa", "v0.0.1", "v0.1.0"],
        ["v1.2.3", "v1.2.4-0.20200101000000-abcdefabcdef", "v1.2.4"],
        ["v1.2.3-pre", "v1.2.3-pre.0.20200101000000-abcdefabcdef", "v1.2.3"],
        ["v2.0.0+incompatible", "v2.0.1+incompatible", "v3.0.0"],
        [
            "go1.9beta2",
            "go1.9rc1",
            "go1.9",
            "go1.9.1",
            "go1.20",
            "go1.20.1",
            "go1.21",
            "go1.21rc1",
            "go1.21.0",
            "go1.22rc1",
            "go1.22.0",
            "go1.22.2",
        ],
        ["1.21.0-rc.1", "1.21.0", "1.22.2", "v1.22.3"],
    ],
    "maven": [
        [
            "1.0-alpha",
            "1.0-alpha-1",
            "1.0-beta",
            "1.0-milestone-1",
            "1.0-rc1",
            "1.0-SNAPSHOT",
            "1.0",
            "1.0-sp",
            "1.0-foo",
            "1.0.1",
        ],
        ["1.0-alpha1", "1.0-alpha2", "1.0-alpha10", "1.0-beta1"],
        ["1-1", "1.1"],
        ["1.0", "1.0-1", "1.0.1"],
        ["5.3.9.RELEASE", "5.3.10.RELEASE", "5.3.10.1"],
        ["2.12.7", "2.12.7.1", "2.13.0"],
    ],
    "gem": [
        ["1.0.a", "1.0.b", "1.0.b1", "1.0", "1.0.1"],
        ["1.0.0.rc1", "1.0.0.rc2", "1.0.0"],
        ["1.a", "1.0"],
        ["2.0.0-pre", "2.0.0"],
        ["1.9", "1.10"],
    ],
    "nuget": [
        ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0", "1.0.0.1", "1.0.1"],
        ["1.0.0-2", "1.0.0-10", "1.0.0-a"],
        ["4.0.0", "4.0.0.1", "4.0.1"],
    ],
    "composer": [
        ["1.0.0-dev", "1.0.0-alpha1", "1.0.0-beta1", "1.0.0-beta2", "1.0.0-RC1", "1.0.0", "1.0.0-patch1", "1.0.1"],
        ["1.0.0-beta2", "1.0.0-RC1", "1.0.0"],
        ["v1.2.3", "1.2.4"],
        ["1.0.0", "1.0.1-dev", "1.0.1"],
        ["2.0.0", "2.x-dev"],
        ["20200101", "20200102"],
    ],
}

EQUAL: list[tuple[str, str, str]] = [
    ("deb", "1.0", "0:1.0"),
    ("deb", "1.0", "1.00"),
    ("deb", "1.0", "1.0-0"),
    ("rpm", "1.0a", "1.0.a"),
    ("rpm", "1.01", "1.1"),
    ("rpm", "0:1.0-1", "1.0-1"),
    ("rpm", "1_0", "1.0"),
    ("apk", "1.2-r01", "1.2-r1"),
    ("pep440", "1.0", "1.0.0"),
    ("pep440", "1.0a1", "1.0.alpha1"),
    ("pep440", "1.0.post1", "1.0-1"),
    ("npm", "1.0.0", "v1.0.0"),
    ("npm", "1.0.0+build.1", "1.0.0+build.2"),
    ("semver", "1.0.0+x", "1.0.0"),
    ("go", "v1.2.3+incompatible", "v1.2.3"),
    ("go", "v1", "v1.0.0"),
    ("go", "v1.2", "1.2.0"),
    ("go", "go1.20", "1.20.0"),
    ("go", "go1.22rc1", "v1.22.0-rc.1"),
    ("go", "go1.22.2", "v1.22.2"),
    ("maven", "1.0.RELEASE", "1.0"),
    ("maven", "1.0-ga", "1"),
    ("maven", "1.0.0.0", "1"),
    ("maven", "1.0-final", "1.0"),
    ("maven", "1.0-a1", "1.0-alpha-1"),
    ("maven", "1.0.CR1", "1.0-rc1"),
    ("maven", "1.0-ALPHA", "1.0-alpha"),
    ("gem", "1.0", "1.0.0"),
    ("gem", "1.0.a", "1.0.0.a"),
    ("gem", "2.0.0-1", "2.0.0.pre.1"),
    ("nuget", "1.0", "1.0.0.0"),
    ("nuget", "1.0.0-ALPHA", "1.0.0-alpha"),
    ("nuget", "1.0.0+abc", "1.0.0"),
    ("composer", "v1.0.0", "1.0.0"),
    ("composer", "1.0", "1.0.0.0"),
    ("composer", "1.0.0-b2", "1.0.0-beta2"),
    ("composer", "1.0.0-rc1", "1.0.0-RC1"),
    ("composer", "1.0.0-pl1", "1.0.0-patch1"),
    ("composer", "1.0.0+build", "1.0.0"),
    ("composer", "1.0.0@dev", "1.0.0"),
    ("composer", "1.0.0-stable", "1.0.0"),
]

INVALID: dict[str, list[str]] = {
    "deb": ["", "a1.0", "1.0-", ":1.0", "x:1.0", "1:", "1.0 1", "1.0_1", "1.0-a_b", "99999999999:1"],
    "rpm": ["", "1.0-", "x:1.0", "1.0-1-2", "1.0/1", "-1"],
    "apk": [
        "",
        "a1",
        "1.2_foo",
        "1.2-1",
        "1.2ab",
        "1.2a1",
        "1.2-r",
        "1.2_p1.1",
        "1..2",
        "1.2-r1-r2",
        "1.2~",
        "1.2 "[:3] + "x!",
    ],
    "pep440": ["", "1.0-foo-bar", "a.b", "1.0+", "1..0"],
    "npm": ["", "1.0", "1.0.0.0", "01.0.0", "1.0.0-01", "1.0.0-", "=1.0.0", "1.0.0-a..b", "9007199254740992.0.0"],
    "semver": ["v1.0.0", "1.0", "1.0.0-alpha_1"],
    "go": ["", "v1.2-pre", "v01.0.0", "go1.21.0rc1", "go", "gox", "v1.0.0.0"],
    "maven": ["", "1.0 beta", "1.0\n1", "1.0\u00e9"],
    "gem": ["", "a", "1.0 2", "1..0", "1.0-"],
    "nuget": ["", "v1.0.0", "1.0.0.0.0", "1.0.0-", "1.0.0-a_b", "2147483648.0.0"],
    "composer": ["", "dev-master", "dev-feature/foo", "master", "1.0.0-foo", "a.b"],
}


def _chain_pairs():
    for scheme, chains in CHAINS.items():
        for chain in chains:
            for a, b in itertools.pairwise(chain):
                yield pytest.param(scheme, a, b, id=f"{scheme}:{a}<{b}")


@pytest.mark.parametrize(("scheme", "a", "b"), list(_chain_pairs()))
def test_ordered_pairs(scheme: str, a: str, b: str) -> None:
    assert compare(scheme, a, b) == -1
    assert compare(scheme, b, a) == 1
    assert parse(scheme, a) < parse(scheme, b)


@pytest.mark.parametrize("scheme", sorted(CHAINS))
def test_chains_sort(scheme: str) -> None:
    for chain in CHAINS[scheme]:
        shuffled = list(reversed(chain))
        random.Random(1).shuffle(shuffled)
        assert [str(v) for v in sorted(parse(scheme, x) for x in shuffled)] == chain


@pytest.mark.parametrize(("scheme", "a", "b"), EQUAL, ids=[f"{s}:{a}={b}" for s, a, b in EQUAL])
def test_equal_pairs(scheme: str, a: str, b: str) -> None:
    assert compare(scheme, a, b) == 0
    assert compare(scheme, b, a) == 0
    assert parse(scheme, a) == parse(scheme, b)
    assert hash(parse(scheme, a)) == hash(parse(scheme, b))


@pytest.mark.parametrize(
    ("scheme", "v"),
    [(s, v) for s, vs in INVALID.items() for v in vs],
    ids=[f"{s}:{v!r}" for s, vs in INVALID.items() for v in vs],
)
def test_invalid(scheme: str, v: str) -> None:
    assert not is_valid(scheme, v)
    with pytest.raises(InvalidVersion) as info:
        parse(scheme, v)
    assert isinstance(info.value, ValueError)
    assert scheme in str(info.value)
    assert repr(v.strip())[:20] in str(info.value) or repr(v)[:20] in str(info.value)
    with pytest.raises(ValueError, match=scheme):
        compare(scheme, v, "1.0.0")


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_chain_member_is_valid(scheme: str) -> None:
    for chain in CHAINS[scheme]:
        for v in chain:
            assert is_valid(scheme, v), v


HOSTILE = [
    "1" * 100_000,
    "1." * 50_000 + "1",
    "1.0-" + "a." * 50_000,
    "~" * 100_000,
    "9" * (MAX_LENGTH - 10),
    "1." + "9" * 400,
    "1.0-" + "-" * 400,
    "1.0" + "a1" * 200,
    "1" + "-1" * 200,
    "1.0.0-" + "0." * 200 + "0",
    "v" + "1" * 300 + ".0.0",
    "1.0" + "\x00" * 10,
    "\u0661.\u0662.\u0663",  # Arabic-Indic digits are not ASCII digits
]


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_hostile_input_is_fast_and_only_raises_invalid_version(scheme: str) -> None:
    start = time.perf_counter()
    for v in HOSTILE:
        try:
            a = parse(scheme, v)
        except InvalidVersion as e:
            assert scheme in str(e)
            assert len(str(e)) < 400
            continue
        assert a == parse(scheme, v)
        assert compare(scheme, v, v) == 0
    assert time.perf_counter() - start < 2


def test_too_long_names_the_scheme_and_a_shortened_version() -> None:
    with pytest.raises(InvalidVersion, match=r"invalid deb version '1111.*\(100000 characters\): longer than"):
        parse("deb", "1" * 100_000)


def test_non_string_and_unknown_scheme() -> None:
    with pytest.raises(InvalidVersion):
        parse("deb", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown version scheme 'nope'"):
        compare("nope", "1", "2")
    with pytest.raises(ValueError, match="unknown version scheme"):
        is_valid("nope", "1")


def test_cross_scheme_comparison_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _ = parse("deb", "1.0") < parse("rpm", "1.0")
    assert parse("deb", "1.0") != parse("rpm", "1.0")
    assert isinstance(parse("npm", " 1.0.0 "), Version)
    assert str(parse("npm", " 1.0.0 ")) == "1.0.0"


@pytest.mark.parametrize(
    ("ecosystem", "scheme"),
    [
        ("deb", "deb"),
        ("rpm", "rpm"),
        ("apk", "apk"),
        ("pypi", "pep440"),
        ("npm", "npm"),
        ("golang", "go"),
        ("maven", "maven"),
        ("gem", "gem"),
        ("composer", "composer"),
        ("nuget", "nuget"),
        ("cargo", "semver"),
        ("Debian", "deb"),
        ("Debian:12", "deb"),
        ("Ubuntu", "deb"),
        ("Ubuntu:22.04:LTS", "deb"),
        ("Alpine", "apk"),
        ("Alpine:v3.19", "apk"),
        ("Red Hat", "rpm"),
        ("Red Hat:enterprise_linux:9::appstream", "rpm"),
        ("Rocky Linux", "rpm"),
        ("AlmaLinux:8", "rpm"),
        ("SUSE", "rpm"),
        ("openSUSE", "rpm"),
        ("Wolfi", "apk"),
        ("Chainguard", "apk"),
        ("PyPI", "pep440"),
        ("Go", "go"),
        ("Maven", "maven"),
        ("RubyGems", "gem"),
        ("Packagist", "composer"),
        ("NuGet", "nuget"),
        ("crates.io", "semver"),
    ],
)
def test_scheme_for(ecosystem: str, scheme: str) -> None:
    assert scheme_for(ecosystem) == scheme


def test_scheme_for_unknown() -> None:
    with pytest.raises(ValueError, match="'Hex'"):
        scheme_for("Hex")


# ---- cross-checks against the real tools -------------------------------------------------


def _random_versions(rng: random.Random, pieces: list[str], n: int, max_pieces: int = 5) -> list[str]:
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, max_pieces))) for _ in range(n)]


def _pairs(versions: list[T], rng: random.Random, n: int) -> list[tuple[T, T]]:
    pairs = [(rng.choice(versions), rng.choice(versions)) for _ in range(n)]
    return [(a, b) for a, b in pairs if a != b]


def test_deb_against_dpkg() -> None:
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg not installed")
    rng = random.Random(5612)
    uppers = [
        f"{d}{rest}"
        for d, rest in zip(
            _random_versions(rng, ["0", "1", "2", "10", "01"], 200, 2),
            _random_versions(
                rng, ["", ".", ".0", ".1", "~", "~rc", "+", "+b1", "a", "b", "~~", ".10", "+dfsg", "~1"], 200, 4
            ),
            strict=True,
        )
    ]
    epochs = ["", "", "1:", "0:", "2:"]
    revisions = ["", "", "-1", "-0", "-1~bpo1", "-1+deb12u1", "-2ubuntu0.1", "-1a"]
    versions = [f"{rng.choice(epochs)}{u}{rng.choice(revisions)}" for u in uppers]
    pairs = _pairs(versions, rng, 400)
    mismatches = []
    for a, b in pairs:
        dpkg_lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0
        dpkg_eq = (
            subprocess.run(["dpkg", "--compare-versions", a, "eq", b], check=False).returncode == 0
            if not dpkg_lt
            else False
        )
        expected = -1 if dpkg_lt else 0 if dpkg_eq else 1
        if compare("deb", a, b) != expected:
            mismatches.append((a, b, expected))
    assert len(pairs) > 300
    assert mismatches == []


def _rpm_vercmp_many(pairs: list[tuple[str, str]]) -> list[int]:
    # rpm.vercmp compares two plain version strings with rpmvercmp.
    body = "".join(f'print(rpm.vercmp({json.dumps(a)},{json.dumps(b)}))print("\\n")' for a, b in pairs)
    out = subprocess.run(["rpm", "--eval", "%{lua:" + body + "}"], capture_output=True, text=True, check=True).stdout
    return [int(x) for x in out.split()]


def test_rpm_against_rpmvercmp() -> None:
    if shutil.which("rpm") is None:
        pytest.skip("rpm not installed")
    rng = random.Random(418)
    versions = _random_versions(
        rng,
        ["0", "1", "2", "10", "01", ".", "_", "~", "^", "a", "b", "rc", "el8", "git", "+", ".1", "~rc1", "^1", "z"],
        300,
    )
    pairs = _pairs(versions, rng, 500)
    from threatstryker.vulndb.versions import rpm as rpm_scheme

    expected = _rpm_vercmp_many(pairs)
    assert len(expected) == len(pairs)
    got = [rpm_scheme.vercmp(rpm_scheme._tokens(a), rpm_scheme._tokens(b)) for a, b in pairs]
    assert [(p, e, g) for p, e, g in zip(pairs, expected, got, strict=True) if e != g] == []
    # and the whole-EVR path agrees when epoch and release are absent
    for (a, b), e in itertools.islice(zip(pairs, expected, strict=True), 100):
        if is_valid("rpm", a) and is_valid("rpm", b) and "-" not in a + b:
            assert compare("rpm", a, b) == e


def _maven_jar() -> str | None:
    jars = sorted(
        glob.glob(str(Path.home() / ".m2/repository/org/apache/maven/maven-artifact/3.9.*/maven-artifact-3.9.*.jar"))
    )
    return jars[-1] if jars else None


def test_maven_against_comparable_version() -> None:
    jar = _maven_jar()
    if shutil.which("java") is None or jar is None:
        pytest.skip("java or maven-artifact 3.9 not available")
    rng = random.Random(39)
    versions = _random_versions(
        rng,
        [
            "1",
            "0",
            "2",
            "10",
            ".",
            "-",
            "alpha",
            "a",
            "b",
            "m",
            "rc",
            "cr",
            "SNAPSHOT",
            "sp",
            "ga",
            "final",
            "RELEASE",
            "foo",
            "x",
            ".0",
            "-1",
            "1",
            ".rc1",
            "-cr2",
            ".a1",
            "b2",
            ".RELEASE",
            "-SNAPSHOT",
            ".sp1",
            "x1",
        ],
        600,
        6,
    )
    versions = [v for v in versions if v.strip(".-")]
    # ComparableVersion's main() compares each argument with the one before it.
    out = subprocess.run(
        ["java", "-cp", jar, "org.apache.maven.artifact.versioning.ComparableVersion", *versions],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    results = [line.strip() for line in out.splitlines() if line.startswith("   ")]
    assert len(results) == len(versions) - 1
    mismatches = []
    for a, b, line in zip(versions, versions[1:], results, strict=False):
        op = line[len(a) + 1 : len(a) + 3].strip()
        expected = {"<": -1, "==": 0, ">": 1}[op]
        if compare("maven", a, b) != expected:
            mismatches.append((a, b, expected))
        if expected == 0:
            assert hash(parse("maven", a)) == hash(parse("maven", b))
    assert mismatches == []


def test_gem_against_rubygems() -> None:
    if shutil.which("ruby") is None:
        pytest.skip("ruby not installed")
    rng = random.Random(42)
    versions = [
        f"{d}{rest}"
        for d, rest in zip(
            _random_versions(rng, ["0", "1", "2", "10"], 250, 2),
            _random_versions(
                rng, ["", ".0", ".1", ".a", ".b", ".rc1", ".pre", "-1", "-beta", ".10", "a", "b1", ".A"], 250, 4
            ),
            strict=True,
        )
    ]
    versions = [v for v in versions if is_valid("gem", v)]
    pairs = _pairs(versions, rng, 400)
    script = "require 'json'; JSON.parse(STDIN.read).each { |a, b| puts(Gem::Version.new(a) <=> Gem::Version.new(b)) }"
    out = subprocess.run(
        ["ruby", "-e", script], input=json.dumps(pairs), capture_output=True, text=True, check=True
    ).stdout
    expected = [int(x) for x in out.split()]
    assert len(expected) == len(pairs) > 300
    assert [(p, e) for p, e in zip(pairs, expected, strict=True) if compare("gem", *p) != e] == []


def _node_semver() -> str | None:
    for path in ("/usr/lib/node_modules/npm/node_modules/semver", "/usr/share/nodejs/semver"):
        if Path(path, "package.json").is_file():
            return path
    return None


def test_npm_against_node_semver() -> None:
    semver_dir = _node_semver()
    if shutil.which("node") is None or semver_dir is None:
        pytest.skip("node or node-semver not available")
    rng = random.Random(2)
    versions = [
        f"{rng.choice(['', 'v'])}{rng.choice(['0', '1', '2', '10'])}"
        + f".{rng.choice(['0', '1', '10'])}.{rng.choice(['0', '1', '2'])}"
        + rng.choice(
            ["", "", "-alpha", "-alpha.1", "-alpha.beta", "-beta.2", "-beta.11", "-rc.1", "-1", "-10", "-2.a", "-0"]
        )
        + rng.choice(["", "", "+build.1", "+001"])
        for _ in range(300)
    ]
    candidates = [*versions, "1.0", "01.0.0", "1.0.0-01", "=1.0.0", "1.0.0.0", "1.2.3-a..b", "1.2.3-", "v1.2.3+"]
    pairs = _pairs(versions, rng, 400)
    script = (
        f"const semver = require({json.dumps(semver_dir)});"
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify({cmp: input.pairs.map(([a, b]) => semver.compare(a, b)),"
        " valid: input.valid.map(v => semver.valid(v) !== null)}));"
    )
    out = subprocess.run(
        ["node", "-e", script],
        input=json.dumps({"pairs": pairs, "valid": candidates}),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out)
    assert [(p, e) for p, e in zip(pairs, result["cmp"], strict=True) if compare("npm", *p) != e] == []
    assert [(v, e) for v, e in zip(candidates, result["valid"], strict=True) if is_valid("npm", v) != e] == []


def test_composer_ordering_against_php_version_compare() -> None:
    """Composer compares its normalised versions with PHP's version_compare; check ours against PHP's."""
    if shutil.which("php") is None:
        pytest.skip("php not installed")
    from threatstryker.vulndb.versions import composer

    rng = random.Random(7)
    versions = [
        f"{rng.choice(['', 'v'])}{rng.choice(['0', '1', '2', '10'])}"
        + "".join(rng.choice(["", ".0", ".1", ".10"]) for _ in range(rng.randint(0, 3)))
        + rng.choice(
            [
                "",
                "",
                "-dev",
                "-alpha",
                "-a2",
                "-beta1",
                "-b2",
                "-RC1",
                "-rc2",
                "-patch1",
                "-pl2",
                "-p1",
                "-beta1-dev",
                "-stable",
                "-RC1.2",
            ]
        )
        for _ in range(300)
    ]
    normalized = [composer.normalize(v) for v in versions]
    pairs = _pairs(list(range(len(versions))), rng, 400)
    data = [[normalized[i], normalized[j]] for i, j in pairs]
    script = 'foreach (json_decode(stream_get_contents(STDIN)) as $p) { echo version_compare($p[0], $p[1]), "\\n"; }'
    out = subprocess.run(
        ["php", "-r", script], input=json.dumps(data), capture_output=True, text=True, check=True
    ).stdout
    expected = [int(x) for x in out.split()]
    assert len(expected) == len(pairs)
    got = [compare("composer", versions[i], versions[j]) for i, j in pairs]
    assert [(versions[i], versions[j], e, g) for (i, j), e, g in zip(pairs, expected, got, strict=True) if e != g] == []
    # normalisation examples from Composer's own VersionParser tests
    assert composer.normalize("1.0.0-beta2") == "1.0.0.0-beta2"
    assert composer.normalize("v1.0.0") == "1.0.0.0"
    assert composer.normalize("1.0.0RC1dev") == "1.0.0.0-RC1-dev"
    assert composer.normalize("1.0-pl3") == "1.0.0.0-patch3"
    assert composer.normalize("2010-01-02") == "2010.01.02"
    assert composer.normalize("1.x-dev") == "1.9999999.9999999.9999999-dev"
    assert composer.normalize("1.0.0+foo@dev") == "1.0.0.0"


def test_composer_normalize_against_composer_semver() -> None:
    """Our normalisation against Composer's own VersionParser (Debian package php-composer-semver)."""
    autoload = Path("/usr/share/php/Composer/Semver/autoload.php")
    if shutil.which("php") is None or not autoload.is_file():
        pytest.skip("php or php-composer-semver not installed")
    from threatstryker.vulndb.versions import composer

    rng = random.Random(8)
    versions = [
        f"{rng.choice(['', 'v', 'V'])}{rng.choice(['0', '1', '2', '10', '2020', '20200101'])}"
        + "".join(rng.choice(["", ".0", ".1", ".10", ".x", "-01"]) for _ in range(rng.randint(0, 3)))
        + rng.choice(
            ["", "", "-dev", "dev", ".dev", "-alpha", "a2", "-a.2", "-beta1", "_b2", "RC1", "-rc.2", "-patch1"]
        )
        + rng.choice(["", "", "-pl2", "-p1", "-beta1-dev", "-stable", ".RC1.2", "+build", "@dev", "-foo"])
        for _ in range(400)
    ]
    script = (
        f"require {json.dumps(str(autoload))}; $p = new Composer\\Semver\\VersionParser();"
        " $out = []; foreach (json_decode(stream_get_contents(STDIN)) as $v) {"
        " try { $out[] = $p->normalize($v); } catch (Exception $e) { $out[] = null; } }"
        " echo json_encode($out);"
    )
    out = subprocess.run(["php", "-r", script], input=json.dumps(versions), capture_output=True, text=True, check=True)
    expected = json.loads(out.stdout)
    mismatches = []
    for v, e in zip(versions, expected, strict=True):
        try:
            got: str | None = composer.normalize(v)
        except ValueError:
            got = None
        if got != e and not (e is not None and e.startswith("dev-")):
            mismatches.append((v, e, got))
    assert mismatches == []


def test_rpm_evr_against_rpm_ver() -> None:
    """Whole epoch:version-release strings against rpm's own EVR objects (rpm.ver in rpm's Lua)."""
    if shutil.which("rpm") is None:
        pytest.skip("rpm not installed")
    rng = random.Random(4180)
    versions = [
        rng.choice(["", "", "0:", "1:", "2:"])
        + rng.choice(["0", "1", "2", "10"])
        + "".join(
            rng.choice(["1", "2", "10", ".0", ".1", "~rc1", "^git1", "a", ".el8"]) for _ in range(rng.randint(1, 3))
        )
        + rng.choice(["", "-1", "-2", "-1.el8", "-1.el8_2", "-10.el9", "-0.1~beta", "-1^p1"])
        for _ in range(300)
    ]
    versions = [v for v in versions if is_valid("rpm", v)]
    pairs = _pairs(versions, rng, 400)
    body = "".join(
        f"do local a, b = rpm.ver({json.dumps(a)}), rpm.ver({json.dumps(b)})"
        ' print(a < b and -1 or (a == b and 0 or 1)) print(" ") end '
        for a, b in pairs
    )
    run = subprocess.run(["rpm", "--eval", "%{lua:" + body + "}"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-500:]
    expected = [int(x) for x in run.stdout.split()]
    assert len(expected) == len(pairs) > 300
    assert [(p, e) for p, e in zip(pairs, expected, strict=True) if compare("rpm", *p) != e] == []
