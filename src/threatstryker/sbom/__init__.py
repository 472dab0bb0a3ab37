"""SBOM engine: catalogers find packages in a FileTree; formats write and read SBOM documents."""
