"""The shared vocabulary of every scanner: packages, SBOMs, warnings."""

from threatstryker.model.package import Distro, Location, Package, Sbom, ScanWarning, TargetInfo

__all__ = ["Distro", "Location", "Package", "Sbom", "ScanWarning", "TargetInfo"]
