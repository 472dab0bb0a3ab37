"""The host_rootfs (tests/conftest.py) cataloged once for the format tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import catalog_dir
from threatstryker.model import Sbom


@pytest.fixture(scope="module")
def host_sbom(host_rootfs: Path) -> Sbom:
    sbom = catalog_dir(host_rootfs, "dpkg", scheme="rootfs")
    assert len(sbom.packages) > 50
    return sbom
