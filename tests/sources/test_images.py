"""Image archives written by the tests: docker save tarballs (plain, gzip), OCI layouts and OCI tarballs
(gzip, zstd and plain layers), and what happens when they are corrupt or cut short."""

from __future__ import annotations

import gzip
import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.sources import imagekit as kit
from threatstryker.sbom.api import scan_sbom
from threatstryker.sources import TargetError, open_target
from threatstryker.sources.layered import LayeredTree

STATUS_A = b"Package: alpha\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n"
STATUS_AB = STATUS_A + b"\nPackage: beta\nStatus: install ok installed\nVersion: 2.0-1\nArchitecture: all\n"

LAYERS = [
    kit.layer_tar([
        ("file", "etc/os-release", b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
        ("file", "var/lib/dpkg/status", STATUS_A),
        ("file", "opt/app/old.txt", b"deleted by layer 2"),
        ("dir", "srv"),
        ("file", "srv/a", b"hidden by the opaque dir"),
        ("symlink", "etc/alias", "/etc/os-release"),
    ]),
    kit.layer_tar([
        ("file", "var/lib/dpkg/status", STATUS_AB),
        ("file", "usr/bin/tool", b"\x7fELF tool", 0o755),
        ("hardlink", "usr/bin/tool2", "usr/bin/tool"),
    ]),
    kit.layer_tar([
        ("whiteout", "opt/app/old.txt"),
        ("opaque", "srv"),
        ("file", "srv/b", b"new"),
    ]),
]
IDS = kit.layer_ids(LAYERS)


def check_tree(tree: LayeredTree) -> None:
    """What every archive form of LAYERS must show."""
    assert [v.layer_id for v in tree.layers] == IDS
    assert tree.read_text("/etc/alias").startswith("ID=debian")
    assert tree.read_bytes("/var/lib/dpkg/status") == STATUS_AB
    assert tree.layer_of("/var/lib/dpkg/status") == IDS[1]
    assert tree.layer_of("/etc/os-release") == IDS[0]
    assert tree.read_bytes("/usr/bin/tool2") == b"\x7fELF tool"
    assert tree.stat("/opt/app/old.txt") is None
    assert "/opt/app/old.txt" in tree.layers[0].entries
    assert [e.path for e in tree.listdir("/srv")] == ["/srv/b"]
    assert tree.layer_of("/srv/b") == IDS[2]
    assert not tree.partial and tree.warnings == []


@pytest.mark.parametrize("gzip_outer", [False, True], ids=["plain", "gzip"])
def test_docker_archive(tmp_path: Path, gzip_outer: bool) -> None:
    path = kit.docker_archive(tmp_path / "img.tar", LAYERS, tag="localhost/app:1.0", gzip_outer=gzip_outer)
    for ref in (f"docker-archive:{path}", str(path), f"docker-archive:{path}:localhost/app:1.0"):
        with open_target(ref) as t:
            assert t.info.scheme == "docker-archive"
            assert t.info.tags == ["localhost/app:1.0"] and t.info.name == "localhost/app:1.0"
            assert t.info.layers == IDS
            assert t.info.image_id and t.info.image_id.startswith("sha256:")
            assert t.info.config["rootfs"]["diff_ids"] == IDS
            check_tree(t.tree)
    with pytest.raises(TargetError, match="no image tagged 'localhost/other:2'"):
        open_target(f"docker-archive:{path}:localhost/other:2")


def test_docker_archive_with_compressed_layers(tmp_path: Path) -> None:
    path = kit.docker_archive(tmp_path / "img.tar", LAYERS, layer_compression="gzip")
    with open_target(f"docker-archive:{path}") as t:
        check_tree(t.tree)


@pytest.mark.parametrize(
    "compression",
    ["gzip", "zstd", None, ["gzip", "zstd", None]],
    ids=["gzip", "zstd", "plain", "mixed"],
)
def test_oci_dir(tmp_path: Path, compression: object) -> None:
    layout = kit.oci_dir(tmp_path / "layout", LAYERS, compression, tag="1.0")  # type: ignore[arg-type]
    for ref in (f"oci-dir:{layout}", str(layout), f"oci-dir:{layout}:1.0"):
        with open_target(ref) as t:
            assert t.info.scheme == "oci-dir"
            assert t.info.tags == ["1.0"]
            assert t.info.layers == IDS
            check_tree(t.tree)


def test_oci_archive(tmp_path: Path) -> None:
    path = kit.oci_archive(tmp_path / "img.oci.tar", LAYERS, ["zstd", "gzip", "gzip"])
    for ref in (f"oci-archive:{path}", str(path)):
        with open_target(ref) as t:
            assert t.info.scheme == "oci-archive"
            check_tree(t.tree)


def test_oci_index_of_indexes_picks_linux_amd64(tmp_path: Path) -> None:
    layout = kit.oci_dir(tmp_path / "layout", LAYERS, "gzip")
    index = json.loads((layout / "index.json").read_text())
    manifest_desc = index["manifests"][0]
    manifest_desc.pop("annotations")
    arm = dict(manifest_desc, digest="sha256:" + "0" * 64, platform={"os": "linux", "architecture": "arm64"})
    amd = dict(manifest_desc, platform={"os": "linux", "architecture": "amd64"})
    inner = json.dumps({"schemaVersion": 2, "manifests": [arm, amd]}).encode()
    digest = kit.digest(inner)
    (layout / "blobs/sha256" / digest.split(":")[1]).write_bytes(inner)
    index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest,
                           "size": len(inner), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
    (layout / "index.json").write_text(json.dumps(index))
    with open_target(f"oci-dir:{layout}") as t:
        assert t.info.tags == ["multi"]
        check_tree(t.tree)


def test_packages_record_the_layer_that_introduced_them(tmp_path: Path) -> None:
    path = kit.docker_archive(tmp_path / "img.tar", LAYERS)
    sbom = scan_sbom(f"docker-archive:{path}", catalogers=["dpkg"])
    layers = {p.name: p.locations[0].layer for p in sbom.packages}
    assert layers == {"alpha": IDS[0], "beta": IDS[1]}
    assert sbom.distro is not None and sbom.distro.version_id == "12"


# -- damage ------------------------------------------------------------------------------------------------

def one_line(exc: pytest.ExceptionInfo[TargetError], name: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and name in msg, msg
    return msg


@pytest.mark.parametrize("scheme", ["docker-archive", "oci-archive"])
def test_garbage_outer_archive_is_a_one_line_target_error(tmp_path: Path, scheme: str) -> None:
    bad = tmp_path / "garbage.tar"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(TargetError) as exc:
        open_target(f"{scheme}:{bad}")
    one_line(exc, str(bad))
    bad.write_bytes(b"")
    with pytest.raises(TargetError) as exc:
        open_target(f"{scheme}:{bad}")
    one_line(exc, str(bad))


def test_truncated_outer_archive_is_a_one_line_target_error(tmp_path: Path) -> None:
    path = kit.docker_archive(tmp_path / "img.tar", LAYERS)
    kit.truncate(path, path.stat().st_size // 3)  # manifest.json comes last: it is gone
    with pytest.raises(TargetError) as exc:
        open_target(f"docker-archive:{path}")
    assert "truncated" in one_line(exc, str(path))


def test_truncated_gzip_outer_archive_is_a_one_line_target_error(tmp_path: Path) -> None:
    path = kit.docker_archive(tmp_path / "img.tar.gz", LAYERS, gzip_outer=True)
    kit.truncate(path, path.stat().st_size // 2)
    with pytest.raises(TargetError) as exc:
        open_target(f"docker-archive:{path}")
    one_line(exc, str(path))


def test_gzip_of_garbage_is_a_one_line_target_error(tmp_path: Path) -> None:
    path = tmp_path / "img.tar.gz"
    path.write_bytes(gzip.compress(b"this is not a tar archive" * 100))
    with pytest.raises(TargetError) as exc:
        open_target(f"docker-archive:{path}")
    one_line(exc, str(path))


def test_missing_or_broken_metadata_is_a_one_line_target_error(tmp_path: Path) -> None:
    layout = kit.oci_dir(tmp_path / "layout", LAYERS)
    (layout / "index.json").write_text("{not json")
    with pytest.raises(TargetError) as exc:
        open_target(f"oci-dir:{layout}")
    assert "index.json is not valid JSON" in one_line(exc, str(layout))
    layout2 = kit.oci_dir(tmp_path / "layout2", LAYERS)
    manifest = json.loads((layout2 / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]
    (layout2 / "blobs/sha256" / manifest).unlink()
    with pytest.raises(TargetError) as exc:
        open_target(f"oci-dir:{layout2}")
    assert "cannot read blobs/sha256/" in one_line(exc, str(layout2))
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(layout2 / "oci-layout", arcname="hello.txt")
    with pytest.raises(TargetError) as exc:
        open_target(f"docker-archive:{plain}")
    assert "no manifest.json" in one_line(exc, str(plain))


def test_truncated_layer_in_a_docker_archive_gives_a_partial_tree(tmp_path: Path) -> None:
    # the last layer's tar is cut short inside the outer archive, whose own index is intact
    cut = LAYERS[2][:1600]  # inside the data of its third member
    path = kit.docker_archive(tmp_path / "img.tar", [LAYERS[0], LAYERS[1], cut])
    with open_target(f"docker-archive:{path}") as t:
        tree = t.tree
        assert tree.partial
        assert tree.read_bytes("/var/lib/dpkg/status") == STATUS_AB  # lower layers intact
        assert tree.layers[2].complete is False
        assert any("truncated" in w.reason or "corrupt" in w.reason for w in tree.warnings)
    sbom = scan_sbom(f"docker-archive:{path}", catalogers=["dpkg"])
    assert sbom.partial and sorted(p.name for p in sbom.packages) == ["alpha", "beta"]
    assert sbom.warnings


def test_archive_cut_inside_a_layer_gives_a_partial_tree(tmp_path: Path) -> None:
    path = tmp_path / "img.tar"
    files = {"manifest.json": b"", "config.json": b""}
    config = json.dumps(kit.image_config(LAYERS)).encode()
    files = {
        "config.json": config,
        "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": ["localhost/cut:1"],
                                      "Layers": ["l0/layer.tar", "l1/layer.tar", "l2/layer.tar"]}]).encode(),
        "l0/layer.tar": LAYERS[0],
        "l1/layer.tar": LAYERS[1],
        "l2/layer.tar": LAYERS[2],
    }
    path.write_bytes(kit._tar_of_files(files))  # metadata first, layers after
    kit.truncate(path, path.stat().st_size - 10240 - len(LAYERS[2]) // 2)
    with open_target(f"docker-archive:{path}") as t:
        assert t.tree.partial
        assert t.tree.read_bytes("/var/lib/dpkg/status") == STATUS_AB
        assert any("truncated" in w.reason for w in t.tree.warnings)


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_truncated_compressed_layer_gives_a_partial_tree(tmp_path: Path, how: str) -> None:
    big = kit.layer_tar([("file", f"data/f{i}", os.urandom(2000)) for i in range(200)])  # several zstd blocks
    layout = kit.oci_dir(tmp_path / "layout", [LAYERS[0], big], how)
    manifest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]
    layer_digest = json.loads((layout / "blobs/sha256" / manifest).read_text())["layers"][1]["digest"]
    kit.truncate(layout / "blobs/sha256" / layer_digest.split(":")[1], -20000)
    with open_target(f"oci-dir:{layout}") as t:
        tree = t.tree
        assert tree.partial
        assert tree.read_text("/etc/os-release").startswith("ID=debian")
        assert tree.read_bytes("/data/f0")  # the start of the cut layer is there
        assert tree.stat("/data/f199") is None
        assert any("truncated" in w.reason or "corrupt" in w.reason for w in tree.warnings)


def test_missing_layer_blob_is_a_warning(tmp_path: Path) -> None:
    layout = kit.oci_dir(tmp_path / "layout", LAYERS, None)
    (layout / "blobs/sha256" / IDS[2].split(":")[1]).unlink()
    with open_target(f"oci-dir:{layout}") as t:
        assert t.tree.partial
        assert t.tree.stat("/opt/app/old.txt") is not None  # the layer that deleted it is missing
        assert any("layer cannot be read" in w.reason for w in t.tree.warnings)


def test_same_layer_twice(tmp_path: Path) -> None:
    """Images may repeat a layer (the same empty layer, say); each occurrence is its own blob."""
    empty = kit.layer_tar([])
    layers = [LAYERS[0], empty, LAYERS[1], empty]
    path = kit.docker_archive(tmp_path / "img.tar", layers, layer_compression="gzip")
    with open_target(f"docker-archive:{path}") as t:
        assert t.info.layers == kit.layer_ids(layers)
        assert t.tree.read_bytes("/var/lib/dpkg/status") == STATUS_AB
        assert not t.tree.partial


def test_archive_temp_files_are_removed(tmp_path: Path) -> None:
    path = kit.docker_archive(tmp_path / "img.tar", LAYERS, gzip_outer=True)
    t = open_target(f"docker-archive:{path}")
    assert t.image is not None
    workdir = t.image.workdir
    assert os.listdir(workdir)
    t.close()
    assert not os.path.exists(workdir)
