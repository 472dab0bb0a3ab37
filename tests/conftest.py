"""Shared test fixtures: where the public test data lives, and small helpers to catalog real files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from threatstryker.model import Sbom, TargetInfo
from threatstryker.sbom.catalog import catalog_tree
from threatstryker.sbom.catalogers import select_catalogers
from threatstryker.sources.dirtree import DirTree

pytest_plugins = ["tests.plugins.debian_rootfs", "tests.plugins.docker_engine", "tests.plugins.kube_emulator",
                  "tests.plugins.vulndb"]

REPO = Path(__file__).resolve().parent.parent


def test_data_dir() -> Path:
    """The public data set (../shared/data by default, THREATSTRYKER_TEST_DATA to override)."""
    return Path(os.environ.get("THREATSTRYKER_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = test_data_dir()
    if not path.is_dir():
        reason = f"public test data not found at {path} (set THREATSTRYKER_TEST_DATA)"
        if os.environ.get("THREATSTRYKER_REQUIRE_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def catalog_dir(path: str | Path, *catalogers: str, scheme: str = "dir") -> Sbom:
    """Catalog a directory on disk with the named catalogers (all when none given)."""
    tree = DirTree(str(path))
    return catalog_tree(tree, TargetInfo(scheme, str(path)), select_catalogers(list(catalogers) or None))


@pytest.fixture(scope="module")
def host_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real root filesystem: this host's dpkg status, os-release and a few copyright files."""
    if not Path("/var/lib/dpkg/status").is_file():
        pytest.skip("this host has no dpkg status file")
    root = tmp_path_factory.mktemp("rootfs")
    (root / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", root / "var/lib/dpkg/status")
    (root / "etc").mkdir()
    shutil.copy("/etc/os-release", root / "etc/os-release")
    # a couple of copyright files so that licenses (some not SPDX ids) reach the writers
    for name in ("bash", "coreutils", "libc6", "zlib1g"):
        src = Path(f"/usr/share/doc/{name}/copyright")
        if src.is_file():
            (root / f"usr/share/doc/{name}").mkdir(parents=True)
            shutil.copy(src, root / f"usr/share/doc/{name}/copyright")
    return root
