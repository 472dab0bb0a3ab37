"""SBOM document formats: native JSON, CycloneDX, SPDX writers, and readers for sbom: targets."""
