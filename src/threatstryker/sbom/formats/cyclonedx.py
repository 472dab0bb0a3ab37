"""CycloneDX 1.6 JSON output through cyclonedx-python-lib, validated against the CycloneDX schema."""

from __future__ import annotations

import functools
import warnings
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.exception.factory import InvalidSpdxLicenseException
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentEvidence, ComponentType
from cyclonedx.model.component_evidence import Occurrence
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from threatstryker import __version__
from threatstryker.model import Package, Sbom

_LICENSES = LicenseFactory()
PROP = "threatstryker"


class CycloneDXError(Exception):
    """The CycloneDX document did not validate against the schema (a bug: the message says where)."""


def package_component(pkg: Package) -> Component:
    """The CycloneDX component of one package; its bom-ref is ``pkg.id``."""
    props = [Property(name=f"{PROP}:found_by", value=pkg.found_by),
             Property(name=f"{PROP}:ecosystem", value=pkg.ecosystem)]
    for i, loc in enumerate(pkg.locations):
        props.append(Property(name=f"{PROP}:location:{i}:path", value=loc.path))
        if loc.layer:
            props.append(Property(name=f"{PROP}:location:{i}:layer", value=loc.layer))
    for attr in ("source_name", "source_version", "arch", "owner"):
        value = getattr(pkg, attr)
        if value:
            props.append(Property(name=f"{PROP}:{attr}", value=str(value)))
    try:
        purl = PackageURL.from_string(pkg.purl) if pkg.purl else None
    except ValueError:
        purl = None
    group = None
    name = pkg.name
    if pkg.ecosystem == "maven" and ":" in pkg.name:
        group, name = pkg.name.split(":", 1)
    comp = Component(
        name=name,
        group=group,
        version=pkg.version or None,
        type=ComponentType.LIBRARY,
        purl=purl,
        bom_ref=pkg.id,
        licenses=list(_licenses(tuple(pkg.licenses))),
        properties=props,
    )
    if pkg.locations:
        comp.evidence = ComponentEvidence(
            occurrences=[Occurrence(location=loc.path) for loc in pkg.locations]
        )
    return comp


@functools.lru_cache(maxsize=4096)
def _licenses(declared: tuple[str, ...]) -> tuple[Any, ...]:
    """CycloneDX licenses: one expression alone, else each as an SPDX id when it is one, or by name."""
    names = [lic.strip() for lic in declared if lic.strip()]
    if len(names) == 1:
        return (_LICENSES.make_from_string(names[0]),)
    out: list[Any] = []
    for lic in names:
        try:
            out.append(_LICENSES.make_with_id(lic))
        except InvalidSpdxLicenseException:
            out.append(_LICENSES.make_with_name(lic))
    return tuple(out)


def build_bom(sbom: Sbom) -> Bom:
    """A cyclonedx-python-lib Bom of the SBOM: the target as metadata component, packages as components."""
    bom = Bom()
    bom.metadata.tools = ToolRepository(
        components=[Component(name="threatstryker", version=__version__, type=ComponentType.APPLICATION)]
    )
    kind = ComponentType.CONTAINER if sbom.target.image_id or sbom.target.scheme.endswith(
        ("archive", "oci-dir", "container")) else ComponentType.FILE
    root = Component(name=sbom.target.name or sbom.target.path, type=kind, bom_ref="target")
    if sbom.target.image_id:
        root.version = sbom.target.image_id
    bom.metadata.component = root
    if sbom.distro:
        bom.components.add(Component(
            name=sbom.distro.id, version=sbom.distro.version_id or None,
            type=ComponentType.OPERATING_SYSTEM, bom_ref="distro",
            description=sbom.distro.name or None,
        ))
    for pkg in sbom.packages:
        bom.components.add(package_component(pkg))
    return bom


def write_cyclonedx(sbom: Sbom, validate: bool = False) -> str:
    """CycloneDX 1.6 JSON text; raises CycloneDXError when ``validate`` and the schema rejects it."""
    return bom_to_json(build_bom(sbom), validate=validate)


def bom_to_json(bom: Bom, validate: bool = False) -> str:
    """A Bom as CycloneDX 1.6 JSON text; raises CycloneDXError when ``validate`` and the schema rejects it."""
    with warnings.catch_warnings():
        # the library warns that the root has no dependency graph: an inventory SBOM has none to give
        warnings.simplefilter("ignore", UserWarning)
        text = JsonV1Dot6(bom).output_as_string(indent=2)
    if validate:
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
        if error is not None:
            raise CycloneDXError(f"CycloneDX output failed schema validation: {error}")
    return text + "\n"
