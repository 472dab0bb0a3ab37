"""CycloneDX 1.6 and SPDX 2.3 writers: schema-valid documents that read back to the same packages."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from threatstryker.model import Location, Package, Sbom, TargetInfo
from threatstryker.sbom.formats.cyclonedx import write_cyclonedx
from threatstryker.sbom.formats.native import SCHEMA, sbom_to_dict, write_native
from threatstryker.sbom.formats.readers import read_sbom_file
from threatstryker.sbom.formats.spdx import write_spdx


def _keys(sbom: Sbom) -> set[tuple[str, str, str]]:
    return {p.key for p in sbom.packages}


def test_cyclonedx_is_valid_1_6_and_reads_back(host_sbom: Sbom, tmp_path: Path) -> None:
    text = write_cyclonedx(host_sbom, validate=True)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6"
    purls = {c.get("purl") for c in doc["components"]}
    assert {p.purl for p in host_sbom.packages} <= purls
    os_comp = [c for c in doc["components"] if c["type"] == "operating-system"]
    assert os_comp and os_comp[0]["name"] == host_sbom.distro.id  # type: ignore[union-attr]
    path = tmp_path / "bom.cdx.json"
    path.write_text(text)
    back = read_sbom_file(TargetInfo("sbom", str(path)))
    assert _keys(back) == _keys(host_sbom)
    assert back.distro is not None and back.distro.version_id == host_sbom.distro.version_id  # type: ignore[union-attr]
    bash = next(p for p in back.packages if p.name == "bash")
    assert bash.locations[0].path == "/var/lib/dpkg/status"
    assert bash.source_name == "bash"


def spdx_2_3_schema() -> dict:
    """The SPDX 2.3 JSON schema, as shipped by the lib4sbom package (a dev dependency)."""
    import importlib.resources

    return json.loads((importlib.resources.files("lib4sbom") / "schemas/spdx/2.3-schema.json").read_text())


def test_spdx_is_valid_2_3_and_reads_back(host_sbom: Sbom, tmp_path: Path) -> None:
    text = write_spdx(host_sbom, validate=True)
    schema = spdx_2_3_schema()
    assert schema["title"] == "SPDX 2.3"
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(json.loads(text))]
    assert errors == []
    path = tmp_path / "bom.spdx.json"
    path.write_text(text)
    doc = parse_file(str(path))  # spdx-tools' own JSON parser: fails on structural errors
    assert validate_full_spdx_document(doc) == []
    raw = json.loads(text)
    assert raw["spdxVersion"] == "SPDX-2.3"
    assert raw["documentDescribes"] if "documentDescribes" in raw else any(
        r["relationshipType"] == "DESCRIBES" for r in raw["relationships"])
    # Debian copyright short names such as GPL-2+ are not SPDX ids: they must become LicenseRefs
    refs = {e["licenseId"] for e in raw.get("hasExtractedLicensingInfos", [])}
    assert all(r.startswith("LicenseRef-") for r in refs)
    back = read_sbom_file(TargetInfo("sbom", str(path)))
    assert _keys(back) == _keys(host_sbom)


def test_native_round_trip(host_sbom: Sbom, tmp_path: Path) -> None:
    text = write_native(host_sbom)
    doc = json.loads(text)
    assert doc["schema"] == SCHEMA
    assert doc["summary"]["packages"] == len(host_sbom.packages)
    assert doc["summary"]["by_ecosystem"] == {"deb": len(host_sbom.packages)}
    path = tmp_path / "native.json"
    path.write_text(text)
    back = read_sbom_file(TargetInfo("sbom", str(path)))
    assert [p.to_dict() for p in back.packages] == doc["packages"]
    assert back.distro == host_sbom.distro


def test_writers_handle_awkward_licenses_and_names() -> None:
    pkg = Package(
        ecosystem="pypi", name="weird-name", version="1.0", purl="pkg:pypi/weird-name@1.0", found_by="test",
        locations=[Location("/a/b", "sha256:abc")],
        licenses=["MIT OR Apache-2.0", "Some Custom License (c) 1999", "GPL-2+"],
    )
    sbom = Sbom(target=TargetInfo("dir", "/x"), packages=[pkg])
    cdx = json.loads(write_cyclonedx(sbom))
    comp = next(c for c in cdx["components"] if c.get("purl") == pkg.purl)
    assert len(comp["licenses"]) == 3
    spdx = json.loads(write_spdx(sbom))
    declared = next(p["licenseDeclared"] for p in spdx["packages"] if p["name"] == "weird-name")
    assert "MIT OR Apache-2.0" in declared and "LicenseRef-" in declared
    assert sbom_to_dict(sbom)["packages"][0]["locations"] == [{"path": "/a/b", "layer": "sha256:abc"}]
