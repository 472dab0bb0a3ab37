"""An OCI image layout written by umoci (real layers, real whiteouts) scanned as oci-dir: and oci-archive:."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.plugins.debian_rootfs import ensure_tool, unavailable
from threatstryker.sbom.api import scan_sbom

STATUS_1 = ("Package: alpha\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0-1\n"
            "Description: first layer\n\n")
STATUS_2 = STATUS_1 + ("Package: beta\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0-3\n"
                       "Source: beta-src (2.0-3)\nDescription: second layer\n\n")


def umoci(binary: str, *args: str) -> None:
    proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"umoci {' '.join(args)} failed: {proc.stderr.strip()}")


@pytest.fixture(scope="module")
def umoci_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = ensure_tool("umoci", "umoci")
    if binary is None:
        unavailable("umoci (Debian package umoci) is not installed")
    work = tmp_path_factory.mktemp("umoci")
    layout, bundle = work / "layout", work / "bundle"
    umoci(binary, "init", "--layout", str(layout))
    umoci(binary, "new", "--image", f"{layout}:test")
    umoci(binary, "unpack", "--image", f"{layout}:test", str(bundle))
    rootfs = bundle / "rootfs"
    (rootfs / "etc").mkdir(exist_ok=True)
    (rootfs / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    (rootfs / "var/lib/dpkg").mkdir(parents=True)
    (rootfs / "var/lib/dpkg/status").write_text(STATUS_1)
    (rootfs / "opt/old").mkdir(parents=True)
    (rootfs / "opt/old/secret.txt").write_text("deleted by the next layer\n")
    # --refresh-bundle: the next repack is a diff against this layer, not against the empty image
    umoci(binary, "repack", "--refresh-bundle", "--image", f"{layout}:test", str(bundle))
    # the second layer rewrites the status file and deletes a directory: umoci writes a whiteout for it
    (rootfs / "var/lib/dpkg/status").write_text(STATUS_2)
    shutil.rmtree(rootfs / "opt/old")
    umoci(binary, "repack", "--image", f"{layout}:test", str(bundle))
    proc = subprocess.run([binary, "stat", "--image", f"{layout}:test", "--json"], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout  # the image exists and is readable by umoci itself
    return layout


def test_umoci_layout_layers_and_whiteouts(umoci_layout: Path) -> None:
    layout = umoci_layout
    sbom = scan_sbom(f"oci-dir:{layout}:test", catalogers=["dpkg"])
    assert sbom.warnings == [] and not sbom.partial
    assert sbom.distro is not None and sbom.distro.purl_distro == "debian-12"
    layers = sbom.target.layers
    assert len(layers) == 2  # `umoci new` makes an image without layers; each repack adds one
    by_name = {p.name: p for p in sbom.packages}
    assert set(by_name) == {"alpha", "beta"}
    assert by_name["alpha"].layer == layers[-2]
    assert by_name["beta"].layer == layers[-1]
    assert by_name["beta"].source_name == "beta-src"


def test_deleted_file_is_only_in_its_layer(umoci_layout: Path) -> None:
    from threatstryker.sources import open_target

    layout = umoci_layout
    with open_target(f"oci-dir:{layout}:test") as opened:
        tree = opened.tree
        assert tree is not None
        assert tree.stat("/opt/old/secret.txt") is None
        views = tree.layers  # type: ignore[attr-defined]
        assert "/opt/old/secret.txt" in views[0].entries
        assert "/opt/old" in views[1].deleted  # umoci's whiteout for the removed directory


def test_oci_archive_of_the_umoci_layout(umoci_layout: Path, tmp_path: Path) -> None:
    layout = umoci_layout
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(layout, arcname=".")
    direct = scan_sbom(f"oci-dir:{layout}:test", catalogers=["dpkg"])
    packed = scan_sbom(f"oci-archive:{archive}:test", catalogers=["dpkg"])
    assert [(p.purl, p.layer) for p in packed.packages] == [(p.purl, p.layer) for p in direct.packages]
