"""SPDX 2.3 JSON output through spdx-tools (its model, writer and validator)."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import UTC, datetime

from license_expression import ExpressionError
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model import (
    Actor,
    ActorType,
    CreationInfo,
    Document,
    ExternalPackageRef,
    ExternalPackageRefCategory,
    ExtractedLicensingInfo,
    Package,
    PackagePurpose,
    Relationship,
    RelationshipType,
    SpdxNoAssertion,
)
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from threatstryker import __version__
from threatstryker.model import Package as TsPackage
from threatstryker.model import Sbom

_REF_SAFE = re.compile(r"[^A-Za-z0-9.\-]+")


class SPDXError(Exception):
    """The SPDX document failed validation (a bug: the message lists the first problems)."""


class _Licenses:
    """Turns declared license strings into SPDX expressions; non-SPDX names become LicenseRef-s."""

    def __init__(self) -> None:
        self.extracted: dict[str, ExtractedLicensingInfo] = {}

    def expression(self, declared: list[str]):  # type: ignore[no-untyped-def]
        parts = [self._one(lic) for lic in declared if lic.strip()]
        if not parts:
            return SpdxNoAssertion()
        text = " AND ".join(f"({p})" if " " in p else p for p in parts)
        return spdx_licensing.parse(text)

    def _one(self, lic: str) -> str:
        try:
            parsed = spdx_licensing.parse(lic, validate=True, strict=True)
        except (ExpressionError, Exception):  # any parse failure falls back to a LicenseRef
            parsed = None
        if parsed is not None:
            return str(parsed)
        ref = "LicenseRef-" + (_REF_SAFE.sub("-", lic).strip("-") or "unknown")
        if ref not in self.extracted:
            self.extracted[ref] = ExtractedLicensingInfo(
                license_id=ref, extracted_text=lic, license_name=lic[:200],
                comment="license as declared by the package; not an SPDX identifier",
            )
        return ref


def _spdx_id(pkg: TsPackage) -> str:
    return f"SPDXRef-Package-{pkg.ecosystem}-{_REF_SAFE.sub('-', pkg.name)[:60]}-{pkg.id}"


def build_document(sbom: Sbom) -> Document:
    """An spdx-tools Document: one root package for the target, one package per found package."""
    now = datetime.now(UTC).replace(microsecond=0)
    name = sbom.target.name or sbom.target.path
    creation = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=name,
        document_namespace=f"https://threatstryker.dev/spdx/{_REF_SAFE.sub('-', name).strip('-')}-{uuid.uuid4()}",
        creators=[Actor(ActorType.TOOL, f"threatstryker-{__version__}")],
        created=now,
    )
    licenses = _Licenses()
    root = Package(
        spdx_id="SPDXRef-Target",
        name=name,
        download_location=SpdxNoAssertion(),
        files_analyzed=False,
        version=sbom.target.image_id or None,
        primary_package_purpose=PackagePurpose.CONTAINER if sbom.target.image_id else PackagePurpose.FILE,
        comment=f"scanned target {sbom.target.ref}",
    )
    packages = [root]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, "SPDXRef-Target")]
    ids: dict[str, str] = {}
    for pkg in sbom.packages:
        sid = _spdx_id(pkg)
        ids.setdefault(pkg.purl, sid)
        refs = []
        if pkg.purl:
            refs.append(ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", pkg.purl))
        source = f"{pkg.found_by}: " + ", ".join(
            loc.path + (f" (layer {loc.layer})" if loc.layer else "") for loc in pkg.locations[:5]
        )
        if pkg.source_name:
            source += f"; source package {pkg.source_name} {pkg.source_version or ''}".rstrip()
        packages.append(Package(
            spdx_id=sid,
            name=pkg.name,
            version=pkg.version or None,
            download_location=SpdxNoAssertion(),
            files_analyzed=False,
            license_concluded=SpdxNoAssertion(),
            license_declared=licenses.expression(pkg.licenses),
            copyright_text=SpdxNoAssertion(),
            external_references=refs,
            source_info=source,
            primary_package_purpose=PackagePurpose.LIBRARY,
        ))
        relationships.append(Relationship("SPDXRef-Target", RelationshipType.CONTAINS, sid))
    for pkg in sbom.packages:
        if pkg.owner and pkg.owner in ids:
            relationships.append(Relationship(ids[pkg.owner], RelationshipType.CONTAINS, _spdx_id(pkg)))
    return Document(
        creation_info=creation,
        packages=packages,
        relationships=relationships,
        extracted_licensing_info=list(licenses.extracted.values()),
    )


def write_spdx(sbom: Sbom, validate: bool = False) -> str:
    """SPDX 2.3 JSON text; raises SPDXError when ``validate`` and spdx-tools reports problems."""
    doc = build_document(sbom)
    if validate:
        problems = validate_full_spdx_document(doc)
        if problems:
            first = "; ".join(p.validation_message for p in problems[:3])
            raise SPDXError(f"SPDX output failed validation ({len(problems)} problems): {first}")
    out = io.StringIO()
    write_document_to_stream(doc, out, validate=False)
    data = json.loads(out.getvalue())
    # spdx-tools 0.8 writes categories with underscores (PACKAGE_MANAGER); the SPDX 2.3 JSON schema spells
    # them with hyphens (PACKAGE-MANAGER)
    for package in data.get("packages", []):
        for ref in package.get("externalRefs", []):
            ref["referenceCategory"] = ref["referenceCategory"].replace("_", "-")
    return json.dumps(data, indent=4, ensure_ascii=False) + "\n"
