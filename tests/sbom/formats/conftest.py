"""A small real root filesystem (this host's dpkg status and os-release) cataloged once for format tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import catalog_dir
from threatstryker.model import Sbom


@pytest.fixture(scope="module")
def host_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
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


@pytest.fixture(scope="module")
def host_sbom(host_rootfs: Path) -> Sbom:
    sbom = catalog_dir(host_rootfs, "dpkg", scheme="rootfs")
    assert len(sbom.packages) > 50
    return sbom
