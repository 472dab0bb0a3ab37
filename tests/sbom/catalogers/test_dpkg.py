"""The dpkg cataloger: this host's real status database, a written status with every Status/Source case,
distroless status.d with .md5sums, DEP-5 licenses, file ownership, and empty and malformed input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import catalog_dir
from threatstryker.sbom.cataloger import ParseContext
from threatstryker.sbom.catalogers import dpkg, select_catalogers
from threatstryker.sources.dirtree import DirTree

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
HOST_ADMIN = Path("/var/lib/dpkg")

STATUS = """\
Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6077
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the
 Internet.
Homepage: https://www.openssl.org/

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12987
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: tzdata
Status: install ok installed
Priority: required
Section: localization
Installed-Size: 3497
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: all
Multi-Arch: foreign
Version: 2024a-0+deb12u1
Description: time zone and daylight-saving time data

Package: python3-yaml
Status: install ok installed
Priority: optional
Section: python
Installed-Size: 654
Maintainer: Debian Python Team <team+python@tracker.debian.org>
Architecture: amd64
Source: pyyaml
Version: 6.0-3+b2
Description: YAML parser and emitter for Python3

Package: oldpkg
Status: deinstall ok config-files
Priority: optional
Architecture: amd64
Version: 1.0-1
Description: removed, only its configuration files are left

Package: halfpkg
Status: install reinstreq half-installed
Architecture: amd64
Version: 2.0-1
Description: an interrupted installation

Package: noversion
Status: install ok installed
Architecture: amd64
Description: a paragraph without a version
"""

LISTS = {
    "libssl3:amd64.list": "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n"
                          "/usr/lib/x86_64-linux-gnu/libssl.so.3\n/usr/lib/x86_64-linux-gnu/libcrypto.so.3\n",
    "tzdata.list": "/.\n/usr/share/zoneinfo\n/usr/share/zoneinfo/UTC\n",
    "python3-yaml.list": "/.\n/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info\n"
                         "/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA\n"
                         "/usr/lib/python3/dist-packages/yaml/__init__.py\n",
}

DEP5 = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: OpenSSL
Source: https://www.openssl.org/source/

Files: *
Copyright: 1998-2023 The OpenSSL Project Authors
License: Apache-2.0

Files: debian/*
Copyright: 2011 Kurt Roeckx <kurt@roeckx.be>
License: Apache-2.0

Files: crypto/perlasm/*
Copyright: 2004-2020 Andy Polyakov
License: Artistic or GPL-1+

License: Apache-2.0
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
"""


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


def status_root(tmp_path: Path, status: str = STATUS, os_release: str = DEBIAN) -> Path:
    files: dict[str, str | bytes] = {"etc/os-release": os_release, "var/lib/dpkg/status": status}
    files.update({f"var/lib/dpkg/info/{n}": text for n, text in LISTS.items()})
    files["usr/share/doc/libssl3/copyright"] = DEP5
    files["usr/share/doc/tzdata/copyright"] = "This is the Debian prepackaged version of the Time Zone data.\n"
    return write(tmp_path / "root", files)


# -- this host's real database -----------------------------------------------------------------------------

@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    if not (HOST_ADMIN / "status").is_file() or not Path("/etc/os-release").is_file():
        pytest.skip("not a Debian-family host")
    root = tmp_path / "host"
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy(HOST_ADMIN / "status", root / "var/lib/dpkg/status")
    shutil.copy("/etc/os-release", root / "etc/os-release")
    for pattern in ("dpkg.list", "base-files.list", "libc6*.list"):
        for lst in (HOST_ADMIN / "info").glob(pattern):
            shutil.copy(lst, root / "var/lib/dpkg/info" / lst.name)
    for pkg in ("dpkg", "coreutils"):
        src = Path("/usr/share/doc") / pkg / "copyright"
        if src.is_file():
            (root / "usr/share/doc" / pkg).mkdir(parents=True)
            shutil.copy(src, root / "usr/share/doc" / pkg / "copyright")
    return root


def _installed_paragraphs(text: str) -> list[dict[str, str]]:
    out = []
    for para in text.split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Architecture|Status|Source): (.*)$", para, re.MULTILINE))
        if fields.get("Status", "").endswith(" installed") and "Version" in fields:
            out.append(fields)
    return out


def test_host_status_database(host_root: Path) -> None:
    paragraphs = _installed_paragraphs((host_root / "var/lib/dpkg/status").read_text())
    version_id = re.search(r'^VERSION_ID="?([^"\n]*)', (host_root / "etc/os-release").read_text(), re.MULTILINE)
    sbom = catalog_dir(host_root, "dpkg")
    assert sbom.warnings == []
    assert len(sbom.packages) == len({(p["Package"], p.get("Architecture")) for p in paragraphs}) > 50
    by_name = {p.name: p for p in sbom.packages}
    want = {p["Package"]: p for p in paragraphs}
    for name in ("dpkg", "base-files", "coreutils"):
        assert by_name[name].version == want[name]["Version"]
        assert by_name[name].arch == want[name]["Architecture"]
        assert by_name[name].found_by == "dpkg-status"
    if version_id:
        assert f"distro=debian-{version_id.group(1)}" in by_name["dpkg"].purl
    libc = by_name["libc6"]
    assert libc.source_name == "glibc" and "upstream=glibc" in libc.purl
    assert by_name["dpkg"].licenses[0] == "GPL-2+"
    assert len(set(by_name["dpkg"].licenses)) == len(by_name["dpkg"].licenses) > 1
    assert "GPL-3+" in by_name["coreutils"].licenses
    assert by_name["base-files"].licenses == []  # its copyright file was not copied


def test_host_file_lists_declare_ownership(host_root: Path) -> None:
    tree = DirTree(str(host_root))
    ctx = ParseContext(tree=tree)
    info = tree.stat("/var/lib/dpkg/status")
    assert info is not None
    list(dpkg.parse_status(ctx, info))
    owned = {pkg.name: set(files()) for pkg, files in ctx.owned_files}
    assert set(owned) >= {"dpkg", "base-files", "libc6"}
    assert "/usr/bin/dpkg" in owned["dpkg"]
    assert any(p.endswith("/libc.so.6") for p in owned["libc6"])  # read from the multi-arch libc6:ARCH.list


# -- a written status file ---------------------------------------------------------------------------------

def test_status_fields_sources_and_purls(tmp_path: Path) -> None:
    sbom = catalog_dir(status_root(tmp_path), "dpkg")
    assert sbom.warnings == []
    by_name = {p.name: p for p in sbom.packages}
    assert sorted(by_name) == ["libc6", "libssl3", "python3-yaml", "tzdata"]  # not installed / no version: out
    ssl = by_name["libssl3"]
    assert (ssl.source_name, ssl.source_version) == ("openssl", "3.0.11-1~deb12u2")
    assert ssl.purl == ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64&distro=debian-12"
                        "&upstream=openssl%403.0.11-1~deb12u2")
    assert ssl.metadata == {"installed_size_kib": 6077,
                            "maintainer": "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>"}
    libc = by_name["libc6"]
    assert (libc.source_name, libc.source_version) == ("glibc", "2.36-9+deb12u4")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    tz = by_name["tzdata"]
    assert (tz.source_name, tz.source_version, tz.arch) == ("tzdata", "2024a-0+deb12u1", "all")
    assert tz.purl == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"
    assert tz.locations[0].path == "/var/lib/dpkg/status"


def test_licenses_from_dep5_copyright(tmp_path: Path) -> None:
    sbom = catalog_dir(status_root(tmp_path), "dpkg")
    by_name = {p.name: p for p in sbom.packages}
    assert by_name["libssl3"].licenses == ["Apache-2.0", "Artistic or GPL-1+"]
    assert by_name["tzdata"].licenses == []  # a free-text copyright file names no license field


def test_ubuntu_namespace(tmp_path: Path) -> None:
    root = status_root(tmp_path, os_release="ID=ubuntu\nVERSION_ID=\"22.04\"\nID_LIKE=debian\n")
    sbom = catalog_dir(root, "dpkg")
    tz = next(p for p in sbom.packages if p.name == "tzdata")
    assert tz.purl == "pkg:deb/ubuntu/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=ubuntu-22.04"


def test_list_files_declare_ownership(tmp_path: Path) -> None:
    tree = DirTree(str(status_root(tmp_path)))
    ctx = ParseContext(tree=tree)
    info = tree.stat("/var/lib/dpkg/status")
    assert info is not None
    list(dpkg.parse_status(ctx, info))
    owned = {pkg.name: set(files()) for pkg, files in ctx.owned_files}
    assert "libc6" not in owned  # no list file was written for it
    assert "/usr/lib/x86_64-linux-gnu/libssl.so.3" in owned["libssl3"]  # libssl3:amd64.list
    assert "/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA" in owned["python3-yaml"]


def test_python_package_installed_by_dpkg_gets_owner(tmp_path: Path) -> None:
    if "python" not in {c.name for c in select_catalogers(None)}:
        pytest.skip("the python cataloger does not exist yet")
    root = status_root(tmp_path)
    write(root, {"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA":
                 "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0\n"})
    sbom = catalog_dir(root, "dpkg", "python")
    pyyaml = next(p for p in sbom.packages if p.ecosystem == "pypi")
    deb = next(p for p in sbom.packages if p.name == "python3-yaml")
    assert pyyaml.owner == deb.purl
    assert deb.owner is None


# -- distroless status.d -----------------------------------------------------------------------------------

def test_distroless_status_d(tmp_path: Path) -> None:
    libssl, tzdata, _ = STATUS.split("\n\n", 2)
    root = write(tmp_path / "root", {
        "etc/os-release": DEBIAN,
        "var/lib/dpkg/status.d/libssl3": libssl.replace("Status: install ok installed\n", "") + "\n",
        "var/lib/dpkg/status.d/libssl3.md5sums": "0f343b0931126a20f133d67c2b018a3b  usr/lib/x86_64-linux-gnu/"
                                                  "libssl.so.3\n",
        "var/lib/dpkg/status.d/libc6": tzdata + "\n",
        "usr/share/doc/libssl3/copyright": DEP5,
    })
    tree = DirTree(str(root))
    ctx = ParseContext(tree=tree)
    info = tree.stat("/var/lib/dpkg/status.d/libssl3")
    assert info is not None
    list(dpkg.parse_status_d(ctx, info))
    assert [set(files()) for _, files in ctx.owned_files] == [{"/usr/lib/x86_64-linux-gnu/libssl.so.3"}]
    sbom = catalog_dir(root, "dpkg")
    assert sbom.warnings == []
    by_name = {p.name: p for p in sbom.packages}
    assert sorted(by_name) == ["libc6", "libssl3"]  # the .md5sums file is not a package
    assert by_name["libssl3"].found_by == "dpkg-status.d"
    assert by_name["libssl3"].locations[0].path == "/var/lib/dpkg/status.d/libssl3"
    assert by_name["libssl3"].licenses == ["Apache-2.0", "Artistic or GPL-1+"]
    assert "upstream=openssl%403.0.11-1~deb12u2" in by_name["libssl3"].purl


# -- empty and malformed input -----------------------------------------------------------------------------

def test_empty_status(tmp_path: Path) -> None:
    sbom = catalog_dir(status_root(tmp_path, status=""), "dpkg")
    assert sbom.packages == [] and sbom.warnings == []


def test_status_d_with_only_md5sums(tmp_path: Path) -> None:
    root = write(tmp_path / "root", {"var/lib/dpkg/status.d/x.md5sums": "00  usr/bin/x\n"})
    sbom = catalog_dir(root, "dpkg")
    assert sbom.packages == [] and sbom.warnings == []


def test_malformed_line_is_a_warning_and_keeps_the_packages(tmp_path: Path) -> None:
    whole = catalog_dir(status_root(tmp_path / "a", status=STATUS), "dpkg")
    sbom = catalog_dir(status_root(tmp_path / "b", status=STATUS + "\nthis line is not a field\n"), "dpkg")
    assert whole.packages and [p.key for p in sbom.packages] == [p.key for p in whole.packages]
    assert [w.path for w in sbom.warnings] == ["/var/lib/dpkg/status"]
    assert "skipped 1 line(s)" in sbom.warnings[0].reason


def test_binary_status_is_a_warning(tmp_path: Path) -> None:
    root = write(tmp_path / "root", {"var/lib/dpkg/status": bytes(range(256)) * 8})
    sbom = catalog_dir(root, "dpkg")
    assert sbom.packages == []
    assert len(sbom.warnings) == 1 and "dpkg-status: malformed" in sbom.warnings[0].reason


def test_malformed_status_d_file_does_not_hide_the_others(tmp_path: Path) -> None:
    libssl = STATUS.split("\n\n", 1)[0]
    root = write(tmp_path / "root", {
        "var/lib/dpkg/status.d/libssl3": libssl + "\n",
        "var/lib/dpkg/status.d/broken": "Package: broken\nno colon on this line\n",
    })
    sbom = catalog_dir(root, "dpkg")
    assert [p.name for p in sbom.packages] == ["libssl3"]
    assert len(sbom.warnings) == 1
    assert sbom.warnings[0].path == "/var/lib/dpkg/status.d/broken"
    assert "skipped 1 line(s)" in sbom.warnings[0].reason


def test_nested_root_reads_its_own_copyright_and_file_lists(tmp_path: Path) -> None:
    inner = status_root(tmp_path / "inner")
    outer = tmp_path / "outer"
    (outer / "mnt").mkdir(parents=True)
    inner.rename(outer / "mnt" / "x")
    sbom = catalog_dir(outer, "dpkg")
    libssl = next(p for p in sbom.packages if p.name == "libssl3")
    assert libssl.locations[0].path == "/mnt/x/var/lib/dpkg/status"
    assert libssl.licenses == ["Apache-2.0", "Artistic or GPL-1+"]
    from threatstryker.sbom.cataloger import ParseContext
    from threatstryker.sbom.catalogers.dpkg import parse_status
    from threatstryker.sources.dirtree import DirTree

    tree = DirTree(str(outer))
    ctx = ParseContext(tree=tree)
    info = tree.stat("/mnt/x/var/lib/dpkg/status")
    assert info is not None
    list(parse_status(ctx, info))
    owned = {p for _, files in ctx.owned_files for p in files()}
    assert owned and all(p.startswith("/mnt/x/") for p in owned)


@pytest.mark.parametrize("state,listed", [
    ("installed", True), ("triggers-pending", True), ("triggers-awaited", True), ("unpacked", True),
    ("half-configured", True), ("config-files", False), ("not-installed", False), ("half-installed", False),
])
def test_states_whose_files_are_on_disk_are_listed(tmp_path: Path, state: str, listed: bool) -> None:
    para = f"Package: x\nStatus: install ok {state}\nArchitecture: all\nVersion: 1.0\n"
    sbom = catalog_dir(status_root(tmp_path, status=para), "dpkg")
    assert ([p.name for p in sbom.packages] == ["x"]) is listed
