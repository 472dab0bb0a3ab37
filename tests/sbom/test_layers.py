"""Packages in images carry the layer that introduced them, not the last layer that rewrote the database."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from threatstryker.model import TargetInfo
from threatstryker.sbom.catalog import catalog_tree
from threatstryker.sbom.catalogers import select_catalogers
from threatstryker.sources.layered import LayerBlob, LayeredTree

OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'


def _para(name: str, version: str) -> str:
    return (f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
            f"Description: test package {name}\n\n")


def _layer(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_each_package_gets_the_layer_that_introduced_it(tmp_path: Path) -> None:
    status = "var/lib/dpkg/status"
    layers = [
        _layer(tmp_path / "l1.tar", {"etc/os-release": OS_RELEASE, status: _para("base", "1") + _para("gone", "1")}),
        _layer(tmp_path / "l2.tar", {status: _para("base", "1") + _para("added", "2")}),
        _layer(tmp_path / "l3.tar", {status: _para("base", "1") + _para("added", "2") + _para("gone", "1")
                                     + _para("upgraded", "5")}),
        _layer(tmp_path / "l4.tar", {status: _para("base", "1") + _para("added", "2") + _para("gone", "1")
                                     + _para("upgraded", "6")}),
    ]
    blobs = [LayerBlob(f"sha256:{i}", open(p, "rb"), 0, p.stat().st_size) for i, p in enumerate(layers, 1)]
    tree = LayeredTree(blobs)
    try:
        sbom = catalog_tree(tree, TargetInfo("docker-archive", "x"), select_catalogers(["dpkg"]))
    finally:
        tree.close()
    layer_of = {p.name: p.locations[0].layer for p in sbom.packages}
    assert layer_of == {
        "base": "sha256:1",      # listed by every version of the status file
        "added": "sha256:2",     # first listed by layer 2
        "gone": "sha256:3",      # removed by layer 2, installed again by layer 3
        "upgraded": "sha256:4",  # version 6 appears in layer 4 (version 5 is another package version)
    }
    assert all(p.locations[0].path == "/var/lib/dpkg/status" for p in sbom.packages)


def test_a_deleted_database_starts_a_new_history(tmp_path: Path) -> None:
    status = "var/lib/dpkg/status"
    layers = [
        _layer(tmp_path / "l1.tar", {"etc/os-release": OS_RELEASE, status: _para("base", "1")}),
        _layer(tmp_path / "l2.tar", {"var/lib/.wh.dpkg": ""}),
        _layer(tmp_path / "l3.tar", {status: _para("base", "1")}),
    ]
    blobs = [LayerBlob(f"sha256:{i}", open(p, "rb"), 0, p.stat().st_size) for i, p in enumerate(layers, 1)]
    tree = LayeredTree(blobs)
    try:
        sbom = catalog_tree(tree, TargetInfo("docker-archive", "x"), select_catalogers(["dpkg"]))
    finally:
        tree.close()
    assert [(p.name, p.layer) for p in sbom.packages] == [("base", "sha256:3")]
