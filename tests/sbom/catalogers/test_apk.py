"""The apk cataloger on an Alpine installed database (data/apk/installed: five records in the layout apk
writes, with checksums, file ACLs and the F/R file lists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import catalog_dir
from threatstryker.sbom.cataloger import ParseContext
from threatstryker.sbom.catalogers import apk, select_catalogers
from threatstryker.sources.dirtree import DirTree

INSTALLED = (Path(__file__).parent / "data" / "apk" / "installed").read_bytes()
ALPINE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'


def rootfs(tmp_path: Path, db: bytes, os_release: str | None = ALPINE, prefix: str = "") -> Path:
    root = tmp_path / "root"
    path = root / prefix / "lib/apk/db/installed"
    path.parent.mkdir(parents=True)
    path.write_bytes(db)
    if os_release is not None:
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc/os-release").write_text(os_release)
    return root


# -- normal input ------------------------------------------------------------------------------------------

def test_installed_database(tmp_path: Path) -> None:
    sbom = catalog_dir(rootfs(tmp_path, INSTALLED), "apk")
    assert sbom.warnings == []
    by_name = {p.name: p for p in sbom.packages}
    assert sorted(by_name) == ["alpine-baselayout-data", "busybox-binsh", "libcrypto3", "musl", "py3-certifi"]
    crypto = by_name["libcrypto3"]
    assert crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
    assert (crypto.ecosystem, crypto.version, crypto.arch) == ("apk", "3.1.4-r5", "x86_64")
    assert (crypto.source_name, crypto.source_version) == ("openssl", "3.1.4-r5")
    assert crypto.licenses == ["Apache-2.0"]
    assert crypto.found_by == "apk-installed"
    assert crypto.locations[0].path == "/lib/apk/db/installed"
    assert crypto.metadata["maintainer"] == "Ariadne Conill <ariadne@dereferenced.org>"
    assert crypto.metadata["build_time"] == 1707144201
    assert crypto.metadata["installed_size"] == 4452352
    assert crypto.metadata["commit"] == "7a2bc9b1c5dbd6dd8ff21d1cc4d84f2d31b0e3a1"
    musl = by_name["musl"]
    assert musl.purl == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
    assert musl.source_name == "musl"
    assert musl.metadata["maintainer"] == "Timo Teräs <timo.teras@iki.fi>"
    assert by_name["py3-certifi"].arch == "noarch"


def test_owned_files_with_a_nested_root(tmp_path: Path) -> None:
    root = rootfs(tmp_path, INSTALLED, prefix="srv/chroot")
    tree = DirTree(str(root))
    ctx = ParseContext(tree=tree)
    info = tree.stat("/srv/chroot/lib/apk/db/installed")
    assert info is not None
    apk.parse_installed(ctx, info)
    owned = {pkg.name: set(files()) for pkg, files in ctx.owned_files}
    assert owned["musl"] == {"/srv/chroot/lib", "/srv/chroot/lib/ld-musl-x86_64.so.1",
                             "/srv/chroot/lib/libc.musl-x86_64.so.1"}
    assert "/srv/chroot/usr/lib/engines-3/padlock.so" in owned["libcrypto3"]
    assert "/srv/chroot/etc/ssl/certs" in owned["libcrypto3"]
    meta = "/srv/chroot/usr/lib/python3.11/site-packages/certifi-2023.11.17.dist-info/METADATA"
    assert meta in owned["py3-certifi"]


def test_python_package_installed_by_apk_gets_owner(tmp_path: Path) -> None:
    if "python" not in {c.name for c in select_catalogers(None)}:
        pytest.skip("the python cataloger does not exist yet")
    root = rootfs(tmp_path, INSTALLED)
    dist = root / "usr/lib/python3.11/site-packages/certifi-2023.11.17.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: certifi\nVersion: 2023.11.17\n")
    sbom = catalog_dir(root, "apk", "python")
    certifi = next(p for p in sbom.packages if p.ecosystem == "pypi")
    owner = next(p for p in sbom.packages if p.name == "py3-certifi")
    assert certifi.owner == owner.purl


@pytest.mark.parametrize(("os_release", "alpine_release", "prefix"), [
    (None, None, "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64"),
    (None, "3.18.6\n", "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.18.6"),
    ('ID=wolfi\nVERSION_ID=20230201\n', None,
     "pkg:apk/wolfi/musl@1.2.4_git20230717-r4?arch=x86_64&distro=wolfi-20230201"),
])
def test_distro_namespace(tmp_path: Path, os_release: str | None, alpine_release: str | None, prefix: str) -> None:
    root = rootfs(tmp_path, INSTALLED, os_release=os_release)
    if alpine_release is not None:
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc/alpine-release").write_text(alpine_release)
    sbom = catalog_dir(root, "apk")
    musl = next(p for p in sbom.packages if p.name == "musl")
    assert musl.purl == prefix


def test_crlf_and_undecodable_bytes_are_tolerated(tmp_path: Path) -> None:
    db = b"P:caf\xe9\r\nV:1.0-r0\r\nA:x86_64\r\nL:MIT\r\n\r\n"
    sbom = catalog_dir(rootfs(tmp_path, db), "apk")
    assert sbom.warnings == []
    [pkg] = sbom.packages
    assert (pkg.name, pkg.version, pkg.licenses) == ("caf\ufffd", "1.0-r0", ["MIT"])


# -- empty input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("db", [b"", b"\n\n\n"])
def test_empty_database(tmp_path: Path, db: bytes) -> None:
    sbom = catalog_dir(rootfs(tmp_path, db), "apk")
    assert sbom.packages == [] and sbom.warnings == []


# -- malformed input ---------------------------------------------------------------------------------------

def test_binary_garbage_is_a_warning(tmp_path: Path) -> None:
    sbom = catalog_dir(rootfs(tmp_path, bytes(range(256)) * 16), "apk")
    assert sbom.packages == []
    assert len(sbom.warnings) == 1
    assert sbom.warnings[0].reason.startswith("apk-installed: malformed (ParseError: not an apk installed database")


def test_record_without_name_and_stray_lines_keep_the_rest(tmp_path: Path) -> None:
    db = INSTALLED + b"V:1.0-r0\nA:x86_64\n\nP:zlib\nthis line is junk\nV:1.3.1-r0\n"
    sbom = catalog_dir(rootfs(tmp_path, db), "apk")
    assert len(sbom.packages) == 6
    assert next(p for p in sbom.packages if p.name == "zlib").version == "1.3.1-r0"
    assert [w.reason for w in sbom.warnings] == [
        "apk-installed: record at line 140 has no package name or version",
        "apk-installed: line 144 is not 'X:value' ('this line is junk'); skipped",
    ]


def test_many_stray_lines_are_summarised(tmp_path: Path) -> None:
    db = INSTALLED + b"".join(b"junk %d\n" % i for i in range(12))
    sbom = catalog_dir(rootfs(tmp_path, db), "apk")
    assert len(sbom.packages) == 5
    assert len(sbom.warnings) == apk.MAX_LINE_WARNINGS + 1
    assert sbom.warnings[-1].reason == "apk-installed: 7 more lines skipped"
