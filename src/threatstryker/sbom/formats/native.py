"""The native JSON document of an SBOM (schema ``threatstryker-sbom/1``), written and read back."""

from __future__ import annotations

import json
from typing import Any

from threatstryker.model import Distro, Package, Sbom, ScanWarning, TargetInfo

SCHEMA = "threatstryker-sbom/1"


def sbom_to_dict(sbom: Sbom) -> dict[str, Any]:
    """The native document as a dict (see README, "Native JSON")."""
    return {
        "schema": SCHEMA,
        "tool": {"name": "threatstryker", "version": sbom.tool_version},
        "created": sbom.created,
        "target": sbom.target.to_dict(),
        "distro": sbom.distro.to_dict() if sbom.distro else None,
        "partial": sbom.partial,
        "summary": {
            "packages": len(sbom.packages),
            "by_ecosystem": sbom.by_ecosystem(),
            "warnings": len(sbom.warnings),
            "duration_s": sbom.duration_s,
        },
        "packages": [p.to_dict() for p in sbom.packages],
        "warnings": [w.to_dict() for w in sbom.warnings],
    }


def write_native(sbom: Sbom) -> str:
    return json.dumps(sbom_to_dict(sbom), indent=2, ensure_ascii=False) + "\n"


def read_native(doc: dict[str, Any], target: TargetInfo) -> Sbom:
    """An Sbom from a native document (as produced by ``write_native``)."""
    distro = doc.get("distro")
    return Sbom(
        target=target,
        packages=[Package.from_dict(p) for p in doc.get("packages", [])],
        distro=Distro(
            id=distro.get("id", ""),
            version_id=distro.get("version_id", ""),
            codename=distro.get("codename", ""),
            name=distro.get("name", ""),
            id_like=tuple(distro.get("id_like", ())),
        )
        if isinstance(distro, dict)
        else None,
        warnings=[ScanWarning(w.get("path", ""), w.get("reason", "")) for w in doc.get("warnings", [])],
        partial=bool(doc.get("partial", False)),
        created=doc.get("created", ""),
        tool_version=(doc.get("tool") or {}).get("version", ""),
    )
