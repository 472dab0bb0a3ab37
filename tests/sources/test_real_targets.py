"""Real targets: a debootstrap'ed Debian root filesystem, and the image Docker made of it (docker save
archive, OCI layout by skopeo, a running container). The packages found must agree everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.docker_engine import LAYER_PACKAGE, DebianImage, RunningContainer
from threatstryker.model import Sbom
from threatstryker.sbom.api import scan_sbom
from threatstryker.sources import open_target, split_target
from threatstryker.sources.layered import LayeredTree

# one xdist worker runs them all (with --dist loadgroup): one dockerd and one image load per session
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("debian-image")]

Deb = tuple[str, str, str | None]


def debs(sbom: Sbom) -> set[Deb]:
    return {(p.name, p.version, p.arch) for p in sbom.packages if p.ecosystem == "deb"}


@pytest.fixture(scope="module")
def rootfs_sbom(debian_rootfs: Path) -> Sbom:
    return scan_sbom(f"rootfs:{debian_rootfs}", catalogers=["dpkg"])


def test_rootfs_distro_and_packages(rootfs_sbom: Sbom, debian_rootfs: Path) -> None:
    assert split_target(str(debian_rootfs))[0] == "rootfs"
    d = rootfs_sbom.distro
    assert d is not None and (d.id, d.version_id, d.codename) == ("debian", "12", "bookworm")
    names = {name for name, _, _ in debs(rootfs_sbom)}
    assert len(names) >= 80  # minbase: ~90 packages
    assert {"base-files", "bash", "coreutils", "dpkg", "apt", "libc6"} <= names
    expected = (debian_rootfs / "var/lib/dpkg/status").read_text().count("Status: install ok installed")
    assert len(debs(rootfs_sbom)) == expected
    for p in rootfs_sbom.packages:
        assert p.locations[0].path == "/var/lib/dpkg/status" and p.locations[0].layer is None
        assert "distro=debian-12" in p.purl
    assert not rootfs_sbom.partial and rootfs_sbom.warnings == []


def test_rootfs_walk_skips_dev_proc_sys(debian_rootfs: Path) -> None:
    assert any((debian_rootfs / "dev").iterdir())  # debootstrap made device nodes there
    with open_target(f"rootfs:{debian_rootfs}") as t:
        paths = [e.path for e in t.tree.entries()]
    assert len(paths) > 5000
    assert not any(p.startswith(("/dev/", "/proc/", "/sys/")) for p in paths)
    with open_target(f"dir:{debian_rootfs}") as t:  # a plain directory is walked whole
        dev = [e for e in t.tree.entries() if e.path.startswith("/dev/")]
    assert any(e.path == "/dev/null" and e.kind == "other" for e in dev)


def check_image_packages(sbom: Sbom, rootfs_sbom: Sbom, layers: list[str]) -> None:
    """Same debs as the root filesystem plus the one the second layer installed, each with its layer."""
    name, version = LAYER_PACKAGE
    assert debs(sbom) == debs(rootfs_sbom) | {(name, version, "all")}
    assert len(layers) == 3
    by_name = {p.name: p for p in sbom.packages if p.ecosystem == "deb"}
    assert by_name[name].locations[0].layer == layers[1]
    for pkg_name, pkg in by_name.items():
        if pkg_name != name:
            assert pkg.locations[0].layer == layers[0], pkg_name
    assert sbom.distro is not None and sbom.distro.version_id == "12"
    assert not sbom.partial


def check_image_tree(tree: LayeredTree, layers: list[str]) -> None:
    """What the Dockerfile of the layered image did, seen in the squashed view and in each layer."""
    assert [v.layer_id for v in tree.layers] == layers
    assert tree.stat("/etc/threatstryker-layer1") is None  # added by layer 1, deleted by layer 2
    assert "/etc/threatstryker-layer1" in tree.layers[1].entries
    assert tree.read_text("/etc/threatstryker-layer2") == "added-by-layer-2\n"
    assert tree.layer_of("/etc/threatstryker-layer2") == layers[2]
    assert tree.stat("/usr/share/doc/bash/copyright") is None  # deleted by layer 1
    assert "/usr/share/doc/bash/copyright" in tree.layers[0].entries
    assert [e.name for e in tree.listdir("/etc/apt/apt.conf.d")] == ["99threatstryker"]  # opaque dir
    assert tree.layer_of("/var/lib/dpkg/status") == layers[1]
    assert tree.layer_of("/etc/os-release") == layers[0]  # a symlink to /usr/lib/os-release, followed
    assert tree.read_text("/etc/os-release").startswith('PRETTY_NAME="Debian GNU/Linux 12')
    assert not tree.partial and tree.warnings == []


@pytest.mark.docker
def test_docker_archive(debian_docker_archive: Path, rootfs_sbom: Sbom) -> None:
    with open_target(str(debian_docker_archive)) as t:
        assert t.info.scheme == "docker-archive"
        assert t.info.tags == ["localhost/debian:layered"]
        layers = t.info.layers
        assert isinstance(t.tree, LayeredTree)
        check_image_tree(t.tree, layers)
    sbom = scan_sbom(f"docker-archive:{debian_docker_archive}", catalogers=["dpkg"])
    check_image_packages(sbom, rootfs_sbom, layers)


@pytest.mark.docker
def test_oci_layout(debian_oci_layout: Path, debian_docker_archive: Path, rootfs_sbom: Sbom) -> None:
    with open_target(f"docker-archive:{debian_docker_archive}") as t:
        layers = t.info.layers
    with open_target(str(debian_oci_layout)) as t:
        assert t.info.scheme == "oci-dir"
        assert t.info.tags == ["layered"]
        assert t.info.layers == layers  # diff ids: the same layers, whatever their compression
        check_image_tree(t.tree, layers)  # type: ignore[arg-type]
    sbom = scan_sbom(f"oci-dir:{debian_oci_layout}:layered", catalogers=["dpkg"])
    check_image_packages(sbom, rootfs_sbom, layers)


@pytest.mark.docker
def test_image_layers_match_the_engine(debian_image: DebianImage, debian_docker_archive: Path) -> None:
    with open_target(f"docker-archive:{debian_docker_archive}") as t:
        assert t.info.layers == debian_image.layers
        assert t.info.image_id == debian_image.image_id


@pytest.mark.docker
def test_running_container(running_container: RunningContainer, rootfs_sbom: Sbom) -> None:
    ref = f"container:{running_container.pid}"
    with open_target(ref) as t:
        assert t.info.name == running_container.id[:12]
        assert t.tree.read_text("/etc/threatstryker-layer2") == "added-by-layer-2\n"
        assert t.tree.stat("/etc/threatstryker-layer1") is None
        top = {e.name for e in t.tree.listdir("/")}
        assert {"etc", "usr", "proc", "sys", "dev"} <= top
        walked = [e.path for e in t.tree.entries()]
        assert not any(p.startswith(("/proc/", "/sys/", "/dev/")) for p in walked)
    sbom = scan_sbom(ref, catalogers=["dpkg"])
    name, version = LAYER_PACKAGE
    assert debs(sbom) == debs(rootfs_sbom) | {(name, version, "all")}  # the container's, not the host's
    assert sbom.distro is not None and sbom.distro.version_id == "12"
