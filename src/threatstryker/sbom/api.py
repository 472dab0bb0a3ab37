"""The Python API of the SBOM scanner: ``scan_sbom(target) -> Sbom``."""

from __future__ import annotations

from collections.abc import Iterable

from threatstryker.model import Sbom
from threatstryker.sbom.catalog import Progress, catalog_tree
from threatstryker.sbom.catalogers import select_catalogers
from threatstryker.sources import open_target


def scan_sbom(
    target: str,
    catalogers: list[str] | None = None,
    exclude: Iterable[str] = (),
    cross_mounts: bool = False,
    timeout: float | None = None,
    progress: Progress | None = None,
) -> Sbom:
    """Catalog the packages of a target reference ('dir:PATH', 'rootfs:/', 'docker-archive:FILE', ...).

    Raises ``threatstryker.sources.TargetError`` when the target itself cannot be opened; every other
    problem is a warning in the returned SBOM.
    """
    cats = select_catalogers(catalogers)
    with open_target(target, exclude=exclude, cross_mounts=cross_mounts) as opened:
        if opened.tree is None:
            from threatstryker.sbom.formats.readers import read_sbom_file

            return read_sbom_file(opened.info)
        return catalog_tree(opened.tree, opened.info, cats, progress=progress, timeout=timeout)
