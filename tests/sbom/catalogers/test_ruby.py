"""The Ruby cataloger on real Bundler lockfiles and real installed gemspecs (Debian's and RubyGems').

Debian's files are not kept in the repository: the tests that need them copy them at test time from the
Debian packages installed on this machine (ruby-rack, ruby-nokogiri and libruby3.1, which ``make system-deps``
installs) into a root filesystem under tmp_path, with those packages' dpkg database entries, and derive what
they expect from the copied files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from packageurl import PackageURL

from tests.conftest import catalog_dir
from tests.plugins.debian_rootfs import unavailable
from threatstryker.model import Package, Sbom
from threatstryker.sbom.catalogers.ruby import read_gemspec, split_platform

DATA = Path(__file__).parent / "data" / "ruby"
DPKG_ADMIN = Path("/var/lib/dpkg")
# Debian packages whose gemspecs (and one Gemfile.lock) the tests read; apt installs them on the host
DEBIAN_GEM_PACKAGES = ("ruby-rack", "ruby-nokogiri", "libruby3.1")
# the packages whose dpkg database entries go into the test root filesystem (libruby3.1 deliberately not)
DPKG_LISTED = ("ruby-rack", "ruby-nokogiri")


def by_name(sbom: Sbom) -> dict[str, list[Package]]:
    out: dict[str, list[Package]] = {}
    for pkg in sbom.packages:
        out.setdefault(pkg.name, []).append(pkg)
    return out


def write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# -- Debian's gems, copied from this machine at test time ----------------------------------------------


@dataclass(frozen=True)
class DebianRuby:
    """A root filesystem holding real files of Debian's Ruby packages; the paths are the same as on the host."""

    root: Path
    rack: str  # rack's gemspec (ruby-rack)
    nokogiri: str  # nokogiri's gemspec (ruby-nokogiri)
    rake: str  # rake's gemspec (libruby3.1, a bundled gem)
    openssl: str  # openssl's gemspec (libruby3.1, a default gem)
    typeprof_lock: str  # typeprof's Gemfile.lock (libruby3.1)
    versions: dict[str, str]  # Debian package name -> installed version


def dpkg_query(*args: str) -> str | None:
    """stdout of ``dpkg-query ARGS`` (None when dpkg-query is missing or fails)."""
    tool = shutil.which("dpkg-query")
    if tool is None:
        return None
    proc = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    return proc.stdout if proc.returncode == 0 else None


def installed_version(package: str) -> str | None:
    out = dpkg_query("-W", "-f", "${Status}\t${Version}", package)
    if out is None:
        return None
    status, _, version = out.partition("\t")
    return version if status == "install ok installed" and version else None


def owned_file(package: str, pattern: str) -> str:
    """The one regular file of Debian ``package`` (per ``dpkg-query -L``) whose path matches ``pattern``."""
    found = [line for line in (dpkg_query("-L", package) or "").splitlines()
             if re.search(pattern, line) and Path(line).is_file()]
    if len(found) != 1:
        unavailable(f"expected one file matching {pattern!r} in Debian package {package}, found {found}")
    return found[0]


def status_paragraphs(packages: tuple[str, ...]) -> str:
    """The paragraphs of the host's /var/lib/dpkg/status that describe ``packages``."""
    text = (DPKG_ADMIN / "status").read_text(encoding="utf-8")
    kept: dict[str, str] = {}
    for para in text.split("\n\n"):
        m = re.search(r"^Package: (\S+)$", para, re.MULTILINE)
        if m and m.group(1) in packages:
            kept[m.group(1)] = para.strip("\n")
    missing = [p for p in packages if p not in kept]
    if missing:
        unavailable(f"{DPKG_ADMIN / 'status'} has no paragraph for {missing}")
    return "\n\n".join(kept[p] for p in packages) + "\n"


def copy_in(root: Path, host_path: str | Path) -> None:
    dest = root / str(host_path).lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(host_path, dest)


@pytest.fixture
def debian_ruby(tmp_path: Path) -> DebianRuby:
    """A root filesystem in tmp_path with Debian's gem files and the dpkg entries of ruby-rack and ruby-nokogiri."""
    if shutil.which("dpkg-query") is None:
        unavailable("dpkg-query not found: the Debian Ruby packages' files cannot be located on this machine")
    versions = {p: installed_version(p) for p in DEBIAN_GEM_PACKAGES}
    missing = [p for p, v in versions.items() if v is None]
    if missing:
        unavailable(f"Debian packages {' '.join(missing)} are not installed here (`make system-deps` installs them)")
    root = tmp_path / "rootfs"
    spec = r"/specifications/{}-[^/]+\.gemspec$"
    found = DebianRuby(
        root=root,
        rack=owned_file("ruby-rack", spec.format("rack")),
        nokogiri=owned_file("ruby-nokogiri", spec.format("nokogiri")),
        rake=owned_file("libruby3.1", spec.format("rake")),
        openssl=owned_file("libruby3.1", spec.format("default/openssl")),
        typeprof_lock=owned_file("libruby3.1", r"/gems/typeprof-[^/]+/Gemfile\.lock$"),
        versions={p: v for p, v in versions.items() if v is not None},
    )
    for path in (found.rack, found.nokogiri, found.rake, found.openssl, found.typeprof_lock):
        copy_in(root, path)
    write(root, "var/lib/dpkg/status", status_paragraphs(DPKG_LISTED))
    for package in DPKG_LISTED:
        lists = sorted((DPKG_ADMIN / "info").glob(f"{package}.list")) + sorted(
            (DPKG_ADMIN / "info").glob(f"{package}:*.list"))
        if not lists:
            unavailable(f"no {DPKG_ADMIN / 'info'}/{package}.list on this machine")
        for path in lists:
            copy_in(root, path)
    return found


def gemspec_version(path: str, name: str) -> str:
    """The version in an installed gemspec's file name (NAME-VERSION.gemspec), as RubyGems writes it."""
    return Path(path).name.removeprefix(f"{name}-").removesuffix(".gemspec")


def read_lockfile_naively(text: str) -> tuple[dict[str, dict[str, object]], set[str]]:
    """What a simple Gemfile.lock says, read line by line: each locked gem, and the direct dependencies."""
    gems: dict[str, dict[str, object]] = {}
    direct: set[str] = set()
    section = remote = ""
    current: list[str] | None = None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section, current = line.strip(), None
        elif m := re.fullmatch(r"  remote: (\S+)", line):
            remote = m.group(1)
        elif section in ("GEM", "PATH") and (m := re.fullmatch(r"    (\S+) \((\S+)\)", line)):
            current = []
            gems[m.group(1)] = {"version": m.group(2), "section": section, "remote": remote, "deps": current}
        elif current is not None and (m := re.fullmatch(r"      (\S+)(?: \(.*\))?", line)):
            current.append(m.group(1))
        elif section == "DEPENDENCIES" and (m := re.fullmatch(r"  ([^\s!]+)!?(?: \(.*\))?", line)):
            direct.add(m.group(1))
    return gems, direct


# -- Gemfile.lock ------------------------------------------------------------------------------------


def test_gemfile_lock_written_by_bundler() -> None:
    """bundler 2.3.15 (Debian) wrote this lockfile: GIT, PATH and GEM sections, dependency lines below."""
    sbom = catalog_dir(DATA / "bundler", "ruby")
    got = {(p.name, p.version) for p in sbom.packages}
    assert got == {
        ("gitlib", "0.3.0"), ("mylib", "1.0.0"), ("mini_portile2", "2.8.1"), ("nokogiri", "1.13.10"),
        ("racc", "1.6.2"), ("rack", "2.2.22"), ("rake", "13.0.6"), ("webrick", "1.8.1"),
    }
    assert sbom.warnings == []
    pkgs = {p.name: p for p in sbom.packages}
    git = pkgs["gitlib"]
    assert git.metadata["source"] == "git"
    assert git.metadata["revision"] == "12dca971b5392670e6533d496865056131044ff3"
    assert git.metadata["direct"] is True
    assert pkgs["mylib"].metadata["source"] == "path"
    assert pkgs["mylib"].metadata["remote"] == "mylib"
    noko = pkgs["nokogiri"]
    assert noko.ecosystem == "gem"
    assert noko.purl == "pkg:gem/nokogiri@1.13.10"
    assert noko.found_by == "gemfile-lock"
    assert noko.locations[0].path == "/Gemfile.lock"
    assert noko.metadata["source"] == "rubygems"
    assert noko.metadata["remote"] == "https://rubygems.org/"
    assert noko.metadata["dependencies"] == ["mini_portile2", "racc"]
    assert noko.metadata["direct"] is True
    assert pkgs["racc"].metadata["direct"] is False
    assert "platform" not in noko.metadata


def test_gemfile_lock_platforms_and_checksums() -> None:
    sbom = catalog_dir(DATA / "platforms", "ruby")
    names = by_name(sbom)
    assert sbom.warnings == []
    nokogiri = sorted(names["nokogiri"], key=lambda p: p.metadata["platform"])
    assert [p.version for p in nokogiri] == ["1.16.7", "1.16.7"]
    assert [p.metadata["platform"] for p in nokogiri] == ["aarch64-linux", "x86_64-linux"]
    assert nokogiri[1].purl == "pkg:gem/nokogiri@1.16.7?platform=x86_64-linux"
    assert nokogiri[1].metadata["checksum"].startswith("sha256=9c9c7d0c")
    sqlite = names["sqlite3"][0]
    assert (sqlite.version, sqlite.metadata["platform"]) == ("2.1.0", "x86_64-linux-gnu")
    assert names["rails-html-sanitizer"][0].version == "1.6.0.rc1"
    rails = names["activesupport"][0]
    assert rails.metadata["branch"] == "7-1-stable"
    assert "checksum" not in rails.metadata  # git gems have none
    assert names["pg"][0].metadata["direct"] is True
    assert names["i18n"][0].metadata["direct"] is False


def test_gemfile_lock_shipped_by_debian(debian_ruby: DebianRuby) -> None:
    """libruby3.1 installs typeprof's own Gemfile.lock (written by bundler): a PATH gem and a GEM section."""
    gems, direct = read_lockfile_naively(Path(debian_ruby.typeprof_lock).read_text(encoding="utf-8"))
    assert gems["typeprof"]["section"] == "PATH"  # what the file is known to hold, so the test is not vacuous
    assert any(g["deps"] for g in gems.values()) and set(gems) - direct
    sbom = catalog_dir(debian_ruby.root, "ruby")
    locked = {p.name: p for p in sbom.packages if p.found_by == "gemfile-lock"}
    assert {n: p.version for n, p in locked.items()} == {n: g["version"] for n, g in gems.items()}
    for name, gem in gems.items():
        meta = locked[name].metadata
        assert meta["source"] == {"GEM": "rubygems", "PATH": "path"}[str(gem["section"])], name
        assert meta["remote"] == gem["remote"], name
        assert meta.get("dependencies", []) == gem["deps"], name
        assert meta["direct"] is (name in direct), name
        assert locked[name].locations[0].path == debian_ruby.typeprof_lock
    assert locked["typeprof"].metadata["remote"] == "."


def test_gems_locked_is_read_like_gemfile_lock(tmp_path: Path) -> None:
    write(tmp_path, "gems.locked", "GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (3.1.8)\n")
    sbom = catalog_dir(tmp_path, "ruby")
    assert [(p.name, p.version) for p in sbom.packages] == [("rack", "3.1.8")]


def test_split_platform() -> None:
    assert split_platform("1.15.4-x86_64-linux") == ("1.15.4", "x86_64-linux")
    assert split_platform("9.4.3.0-java") == ("9.4.3.0", "java")
    assert split_platform("2.2.4") == ("2.2.4", "")


def test_empty_gemfile_lock(tmp_path: Path) -> None:
    write(tmp_path, "Gemfile.lock", "")
    write(tmp_path, "sub/Gemfile.lock", "\n\n")
    sbom = catalog_dir(tmp_path, "ruby")
    assert sbom.packages == []
    assert sbom.warnings == []


def test_gemfile_lock_without_gems(tmp_path: Path) -> None:
    write(tmp_path, "Gemfile.lock", "PLATFORMS\n  ruby\n\nDEPENDENCIES\n\nBUNDLED WITH\n   2.5.22\n")
    sbom = catalog_dir(tmp_path, "ruby")
    assert sbom.packages == []
    assert sbom.warnings == []


def test_gemfile_lock_not_a_lockfile(tmp_path: Path) -> None:
    write(tmp_path, "Gemfile.lock", "source 'https://rubygems.org'\ngem 'rails'\n")
    sbom = catalog_dir(tmp_path, "ruby")
    assert sbom.packages == []
    assert len(sbom.warnings) == 1
    assert sbom.warnings[0].path == "/Gemfile.lock"
    assert "gemfile-lock: malformed (ParseError" in sbom.warnings[0].reason


def test_gemfile_lock_merge_conflict_keeps_what_parsed(tmp_path: Path) -> None:
    write(tmp_path, "Gemfile.lock", (
        "GEM\n  remote: https://rubygems.org/\n  specs:\n"
        "<<<<<<< HEAD\n    rack (2.2.8)\n=======\n    rack (3.0.9)\n>>>>>>> feature\n"
        "    rake 13.0.6\n    puma (6.4.2)\n"
    ))
    sbom = catalog_dir(tmp_path, "ruby")
    assert {(p.name, p.version) for p in sbom.packages} == {("rack", "2.2.8"), ("rack", "3.0.9"), ("puma", "6.4.2")}
    assert len(sbom.warnings) == 1
    assert "4 unreadable line(s)" in sbom.warnings[0].reason
    assert "line 4, 6, 8, 9" in sbom.warnings[0].reason


# -- installed gemspecs ------------------------------------------------------------------------------


def test_debian_installed_gemspecs(debian_ruby: DebianRuby) -> None:
    """Gemspecs from Debian's ruby-rack, ruby-nokogiri and libruby3.1 (a bundled gem and a default gem)."""
    sbom = catalog_dir(debian_ruby.root, "ruby")
    pkgs = {p.name: p for p in sbom.packages if p.found_by == "gemspec"}
    assert set(pkgs) == {"rack", "nokogiri", "rake", "openssl"}
    assert sbom.warnings == []
    rack = pkgs["rack"]
    rack_version = gemspec_version(debian_ruby.rack, "rack")
    assert (rack.version, rack.licenses, rack.found_by) == (rack_version, ["MIT"], "gemspec")
    assert rack.purl == f"pkg:gem/rack@{rack_version}"
    assert rack.locations[0].path == debian_ruby.rack
    assert rack.metadata["homepage"] == "https://github.com/rack/rack"
    assert pkgs["nokogiri"].version == gemspec_version(debian_ruby.nokogiri, "nokogiri")
    assert pkgs["nokogiri"].locations[0].path == debian_ruby.nokogiri
    assert pkgs["rake"].version == gemspec_version(debian_ruby.rake, "rake")
    assert "default_gem" not in pkgs["rake"].metadata
    openssl = pkgs["openssl"]
    assert (openssl.version, openssl.licenses) == (gemspec_version(debian_ruby.openssl, "openssl"), ["Ruby"])
    assert openssl.metadata["default_gem"] is True


def test_dpkg_owns_debian_gemspecs(debian_ruby: DebianRuby) -> None:
    """With the dpkg cataloger, gems whose gemspec a Debian package installed name that package as owner."""
    sbom = catalog_dir(debian_ruby.root, "dpkg", "ruby")
    gems = {p.name: p for p in sbom.packages if p.ecosystem == "gem"}
    for gem, deb in (("rack", "ruby-rack"), ("nokogiri", "ruby-nokogiri")):
        owner = gems[gem].owner
        assert owner is not None, gem
        expected = PackageURL(type="deb", namespace="debian", name=deb, version=debian_ruby.versions[deb])
        assert owner.partition("?")[0] == expected.to_string()
    assert gems["rake"].owner is None  # libruby3.1 is not in this status file


def test_rubygems_installed_platform_gem() -> None:
    """`gem install` of a platform gem wrote specifications/natgem-0.4.2-x86_64-linux.gemspec."""
    sbom = catalog_dir(DATA / "vendor", "ruby")
    [pkg] = sbom.packages
    assert (pkg.name, pkg.version, pkg.licenses) == ("natgem", "0.4.2", ["BSD-2-Clause"])
    assert pkg.metadata["platform"] == "x86_64-linux"
    assert pkg.purl == "pkg:gem/natgem@0.4.2?platform=x86_64-linux"


def test_yaml_gemspec() -> None:
    """The YAML serialisation `gem specification` prints (and old RubyGems stored)."""
    sbom = catalog_dir(DATA / "yaml", "ruby")
    [pkg] = sbom.packages
    assert (pkg.name, pkg.version, pkg.licenses) == ("natgem", "0.4.2", ["BSD-2-Clause"])
    assert pkg.metadata == {"platform": "x86_64-linux", "homepage": "https://example.org/natgem"}


@pytest.mark.parametrize(
    ("text", "name", "version", "licenses"),
    [
        ('Gem::Specification.new do |s|\n  s.name = %q{rack}\n  s.version = "1.1.0"\n  s.licenses = ["MIT"]\nend\n',
         "rack", "1.1.0", ["MIT"]),
        ("Gem::Specification.new do |spec|\n  spec.name = 'json'\n"
         "  spec.version = Gem::Version.new('2.7.1')\n  spec.license = 'Ruby'\nend\n", "json", "2.7.1", ["Ruby"]),
        ('Gem::Specification.new "thor", "1.3.0" do |s|\n  s.licenses = %w[MIT BSD-2-Clause]\nend\n', "thor", "1.3.0",
         ["MIT", "BSD-2-Clause"]),
        ('Gem::Specification.new do |s|\n  s.name = "x".freeze\n  s.rubygems_version = "3.3.7".freeze\n'
         '  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze)\nend\n', "x", "", []),
    ],
)
def test_read_gemspec_forms(text: str, name: str, version: str, licenses: list[str]) -> None:
    spec = read_gemspec(text)
    assert (spec.name, spec.version, spec.licenses) == (name, version, licenses)


def test_gemspec_with_computed_version_uses_file_name(tmp_path: Path) -> None:
    write(tmp_path, "gems/specifications/faraday-2.9.0.gemspec",
          'Gem::Specification.new do |spec|\n  spec.name = "faraday"\n  spec.version = Faraday::VERSION\nend\n')
    sbom = catalog_dir(tmp_path, "ruby")
    [pkg] = sbom.packages
    assert (pkg.name, pkg.version) == ("faraday", "2.9.0")
    assert len(sbom.warnings) == 1
    assert "taken from the file name" in sbom.warnings[0].reason


def test_empty_gemspec_falls_back_to_file_name(tmp_path: Path) -> None:
    write(tmp_path, "specifications/net-http-0.4.1.gemspec", "")
    sbom = catalog_dir(tmp_path, "ruby")
    assert [(p.name, p.version) for p in sbom.packages] == [("net-http", "0.4.1")]
    assert len(sbom.warnings) == 1


def test_malformed_gemspec(tmp_path: Path) -> None:
    write(tmp_path, "specifications/broken.gemspec", b"\x00\x01 not ruby \xff")
    write(tmp_path, "specifications/other-1.0.gemspec", 'Gem::Specification.new do |s|\n  s.name = "else"\nend\n')
    sbom = catalog_dir(tmp_path, "ruby")
    assert sbom.packages == []
    reasons = sorted(w.path + " " + w.reason for w in sbom.warnings)
    assert len(reasons) == 2
    assert reasons[0].startswith("/specifications/broken.gemspec gemspec: malformed (ParseError: no literal gem name")
    assert reasons[1].startswith("/specifications/other-1.0.gemspec gemspec: malformed (ParseError: no literal")


def test_gemspec_outside_specifications_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, "src/app.gemspec", 'Gem::Specification.new do |s|\n  s.name = "app"\n  s.version = "1"\nend\n')
    assert catalog_dir(tmp_path, "ruby").packages == []
