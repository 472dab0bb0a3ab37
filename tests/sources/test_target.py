"""Target references: explicit schemes, auto-detection, and one-line errors for targets that cannot be opened."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sources import imagekit as kit
from threatstryker.sources import TargetError, open_target, split_target
from threatstryker.sources.dirtree import DirTree

LAYER = kit.layer_tar([("file", "etc/os-release", b"ID=alpine\nVERSION_ID=3.20.1\n")])


def one_line(exc: pytest.ExceptionInfo[TargetError], name: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and name in msg, msg
    return msg


@pytest.mark.parametrize("scheme", ["dir", "rootfs", "docker-archive", "oci-dir", "oci-archive", "container",
                                    "sbom"])
def test_explicit_schemes(scheme: str) -> None:
    assert split_target(f"{scheme}:/some/where") == (scheme, "/some/where")


def test_auto_detection(tmp_path: Path) -> None:
    plain = tmp_path / "project"
    (plain / "src").mkdir(parents=True)
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr/lib").mkdir(parents=True)
    (rootfs / "etc").mkdir()
    (rootfs / "etc/os-release").write_text("ID=debian\n")
    layout = kit.oci_dir(tmp_path / "layout", [LAYER])
    docker = kit.docker_archive(tmp_path / "d.tar", [LAYER])
    docker_gz = kit.docker_archive(tmp_path / "d.tar.gz", [LAYER], gzip_outer=True)
    oci_tar = kit.oci_archive(tmp_path / "o.tar", [LAYER])
    sbom = tmp_path / "bom.json"
    sbom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}))
    expected = {plain: "dir", rootfs: "rootfs", layout: "oci-dir", docker: "docker-archive",
                docker_gz: "docker-archive", oci_tar: "oci-archive", sbom: "sbom", Path("/"): "rootfs"}
    for path, scheme in expected.items():
        assert split_target(str(path)) == (scheme, str(path)), path


def test_a_path_with_a_colon_is_not_a_scheme(tmp_path: Path) -> None:
    odd = tmp_path / "build:1"
    odd.mkdir()
    assert split_target(str(odd)) == ("dir", str(odd))
    with open_target(str(odd)) as t:
        assert t.info.scheme == "dir"


def test_unknown_file_is_a_one_line_target_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    with pytest.raises(TargetError) as exc:
        split_target(str(junk))
    assert "give a scheme" in one_line(exc, str(junk))


@pytest.mark.parametrize("scheme", ["dir", "rootfs", "docker-archive", "oci-dir", "oci-archive", "sbom", ""])
def test_missing_target_is_a_one_line_target_error(tmp_path: Path, scheme: str) -> None:
    missing = tmp_path / "nothing-here"
    ref = f"{scheme}:{missing}" if scheme else str(missing)
    with pytest.raises(TargetError) as exc:
        open_target(ref)
    assert "no such file" in one_line(exc, str(missing))


def test_wrong_kind_of_target_is_a_one_line_target_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for ref in (f"dir:{a_file}", f"oci-dir:{tmp_path}", f"docker-archive:{tmp_path}"):
        with pytest.raises(TargetError) as exc:
            open_target(ref)
        one_line(exc, str(ref.partition(":")[2]))


def test_container_targets(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as exc:
        open_target("container:abc")
    assert "process id" in one_line(exc, "container:abc")
    with pytest.raises(TargetError) as exc:
        open_target("container:999999999")
    assert "no process" in one_line(exc, "999999999")


@pytest.mark.skipif(os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("pivot_root")),
                    reason="needs root, unshare and pivot_root for a process with its own root")
def test_container_root_is_the_process_root_not_the_host(tmp_path: Path) -> None:
    """container:PID reads through /proc/PID/root. For a process that pivot_root'ed into its own mount
    namespace, as a container's does, readlink() of that link is '/': realpath() of it is the host's root."""
    root = tmp_path / "croot"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=alpine\nVERSION_ID=3.20.1\n")
    (root / ".old").mkdir()
    script = (
        "import os, subprocess, sys, time\n"
        "r = sys.argv[1]\n"
        "subprocess.run(['mount', '--bind', r, r], check=True)\n"
        "os.chdir(r)\n"
        "subprocess.run(['pivot_root', '.', '.old'], check=True)\n"
        "os.chdir('/')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", sys.executable, "-c", script, str(root)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert os.readlink(f"/proc/{proc.pid}/root") == "/"
        with open_target(f"container:{proc.pid}") as t:
            assert isinstance(t.tree, DirTree)
            assert t.tree.read_text("/etc/os-release").startswith("ID=alpine")
            assert {e.name for e in t.tree.listdir("/")} == {"etc", ".old"}
            assert t.info.name
    finally:
        proc.kill()
        proc.wait()


def test_image_reference_with_colons(tmp_path: Path) -> None:
    path = kit.docker_archive(tmp_path / "img.tar", [LAYER], tag="localhost:5000/team/app:1.0")
    with open_target(f"docker-archive:{path}:localhost:5000/team/app:1.0") as t:
        assert t.info.tags == ["localhost:5000/team/app:1.0"]
        assert t.tree.read_text("/etc/os-release").startswith("ID=alpine")
