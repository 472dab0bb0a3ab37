"""The catalog driver: glob matching, one walk, malformed files as warnings, owners, duplicates, timeout."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from threatstryker.model import Package, TargetInfo
from threatstryker.sbom.catalog import catalog_tree, merge_duplicates
from threatstryker.sbom.cataloger import Cataloger, ParseContext, ParseError, Parser, purl
from threatstryker.sources.dirtree import DirTree
from threatstryker.sources.filetree import FileInfo, PathMatcher, glob_to_regex


@pytest.mark.parametrize("glob,path,expected", [
    ("**/var/lib/dpkg/status", "/var/lib/dpkg/status", True),
    ("**/var/lib/dpkg/status", "/x/var/lib/dpkg/status", True),
    ("**/var/lib/dpkg/status", "/var/lib/dpkg/status-old", False),
    ("**/*.dist-info/METADATA", "/usr/lib/python3/dist-packages/rich-13.dist-info/METADATA", True),
    ("**/*.dist-info/METADATA", "/usr/lib/python3/dist-packages/rich-13.dist-info/sub/METADATA", False),
    ("**/requirements*.txt", "/app/requirements-dev.txt", True),
    ("**/requirements*.txt", "/app/requirements.txt.bak", False),
    ("**/*.jar", "/opt/app/lib/a.jar", True),
    ("**/status.d/*", "/var/lib/dpkg/status.d/base", True),
    ("**/status.d/*", "/var/lib/dpkg/status.d/x/y", False),
    ("**/node_modules/*/package.json", "/a/node_modules/left-pad/package.json", True),
    ("**/node_modules/*/package.json", "/a/node_modules/@s/left-pad/package.json", False),
    ("go.mod", "/src/go.mod", True),
    ("/etc/os-release", "/etc/os-release", True),
    ("/etc/os-release", "/x/etc/os-release", False),
    ("**/[Pp]ackages", "/var/lib/rpm/Packages", True),
    ("/tmp/**", "/tmp/a/b/c", True),
    ("/tmp/**", "/var/tmp/a", False),
])
def test_path_matcher_agrees_with_glob(glob: str, path: str, expected: bool) -> None:
    matcher = PathMatcher([(glob, "hit")])
    assert (matcher.match(path) == ["hit"]) is expected
    rx = re.compile(glob_to_regex(glob.lstrip("/") if glob.startswith("/") else "**/" + glob.removeprefix("**/"))
                    + r"\Z")
    assert bool(rx.match(path.lstrip("/"))) is expected
    if expected:
        parent = path.rsplit("/", 2)[-2]
        assert matcher.quick(path.rsplit("/", 1)[-1], parent)


def _pkg(ctx: ParseContext, info: FileInfo, name: str, version: str) -> Package:
    return Package("generic", name, version, purl("generic", name, version), "fake", [ctx.location(info)])


def parse_lines(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
    """name==version per line; 'BOOM' raises ParseError after yielding what came before."""
    for line in ctx.read_text(info).splitlines():
        if line == "BOOM":
            raise ParseError("a line says BOOM")
        name, _, version = line.partition("==")
        yield _pkg(ctx, info, name, version)


FAKE = Cataloger(name="fake", parsers=(Parser("**/pkgs.txt", parse_lines, "fake-lines"),))


def test_walk_hands_claimed_files_and_records_malformed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a/pkgs.txt").write_text("one==1\ntwo==2\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b/pkgs.txt").write_text("three==3\nBOOM\n")
    (tmp_path / "c").mkdir()
    (tmp_path / "c/other.txt").write_text("four==4\n")
    sbom = catalog_tree(DirTree(str(tmp_path)), TargetInfo("dir", str(tmp_path)), [FAKE])
    assert sorted(p.name for p in sbom.packages) == ["one", "two"]
    assert len(sbom.warnings) == 1
    w = sbom.warnings[0]
    assert w.path == "/b/pkgs.txt" and "fake-lines" in w.reason and "BOOM" in w.reason


def test_duplicates_merge_locations() -> None:
    a = Package("npm", "x", "1", "pkg:npm/x@1", "p", [])
    b = Package("npm", "x", "1", "pkg:npm/x@1", "p", [])
    from threatstryker.model import Location

    a.locations.append(Location("/1"))
    b.locations.append(Location("/2"))
    c = Package("npm", "x", "1", "pkg:npm/x@1", "other-parser", [Location("/3")])
    merged = merge_duplicates([a, b, c])
    assert len(merged) == 2
    assert [loc.path for loc in merged[0].locations] == ["/1", "/2"]


def test_owner_assignment_from_os_file_lists(tmp_path: Path) -> None:
    owned: list[str] = []

    def parse_os(ctx: ParseContext, info: FileInfo) -> Iterable[Package]:
        pkg = Package("deb", "python3-x", "1", "pkg:deb/debian/python3-x@1", "os", [ctx.location(info)])
        ctx.add_owned_files(pkg, lambda: iter(["/lib/pkgs.txt", "/elsewhere"]))
        owned.append(pkg.purl)
        yield pkg

    os_cat = Cataloger(name="os", os_packages=True, parsers=(Parser("**/osdb", parse_os, "os-db"),))
    (tmp_path / "osdb").write_text("")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/pkgs.txt").write_text("owned==1\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app/pkgs.txt").write_text("free==2\n")
    sbom = catalog_tree(DirTree(str(tmp_path)), TargetInfo("dir", str(tmp_path)), [os_cat, FAKE])
    by_name = {p.name: p for p in sbom.packages}
    assert by_name["owned"].owner == "pkg:deb/debian/python3-x@1"
    assert by_name["free"].owner is None
    assert by_name["python3-x"].owner is None


def test_timeout_marks_result_partial(tmp_path: Path) -> None:
    for i in range(30):
        d = tmp_path / f"d{i}"
        d.mkdir()
        (d / "pkgs.txt").write_text(f"p{i}=={i}\n")
    sbom = catalog_tree(DirTree(str(tmp_path)), TargetInfo("dir", str(tmp_path)), [FAKE], timeout=1e-9)
    assert sbom.partial
    assert any("timed out" in w.reason for w in sbom.warnings)
    assert len(sbom.packages) < 30


def test_progress_is_reported(tmp_path: Path) -> None:
    (tmp_path / "pkgs.txt").write_text("a==1\n")
    calls: list[int] = []
    target = TargetInfo("dir", str(tmp_path))
    catalog_tree(DirTree(str(tmp_path)), target, [FAKE], progress=lambda n, p: calls.append(n))
    assert calls and calls[-1] == 1


def test_timeout_stops_a_walk_that_finds_nothing(tmp_path: Path) -> None:
    # many directories, no claimed file: the walk itself must notice the deadline
    for i in range(200):
        (tmp_path / f"d{i}" / "sub").mkdir(parents=True)
        (tmp_path / f"d{i}" / "sub" / "other.dat").write_text("x")
    calls = {"n": 0}
    tree = DirTree(str(tmp_path))
    original = tree.select

    def counting_select(*args, **kwargs):  # type: ignore[no-untyped-def]
        stop = kwargs["stop"]

        def counted() -> bool:
            calls["n"] += 1
            return stop()

        kwargs["stop"] = counted
        return original(*args, **kwargs)

    tree.select = counting_select  # type: ignore[method-assign]
    sbom = catalog_tree(tree, TargetInfo("dir", str(tmp_path)), [FAKE], timeout=1e-9)
    assert sbom.partial and any("timed out" in w.reason for w in sbom.warnings)
    assert calls["n"] == 1  # stopped at the first directory, not after walking 400
