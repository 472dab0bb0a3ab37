"""What probes read a target through: the FileTree (confined to the target's root), cheap globs over one
directory, the installed packages (from the SBOM catalogers), and on the live host the kernel's views."""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field
from typing import Any

from threatstryker.sources.filetree import FILE, FileInfo, FileTree, FileTreeError

#: Configuration files larger than this are not read (a setting file is never this big).
MAX_CONFIG_BYTES = 16 * 1024 * 1024


class ProbeError(Exception):
    """A file a probe needs exists but cannot be read or parsed; the message names it (status ERROR)."""


@dataclass
class Context:
    """One target as the probes see it. ``live``: the target is this host's running system, so /proc values
    (running sysctl values, mounts, processes) are read from ``proc``; ``image_config``: the target is an
    image with this configuration."""

    tree: FileTree
    live: bool = False
    proc: str = "/proc"
    #: the image's configuration (the OCI/Docker image config JSON) when the target is an image
    image_config: dict[str, Any] | None = None
    #: the Docker Engine API to read running containers from (``unix:///var/run/docker.sock``, ``tcp://...``);
    #: None: the live host's default socket when ``live``, else none
    docker_host: str | None = None
    #: containers as the Engine API's inspect documents, given directly (the checks' examples)
    containers: list[dict[str, Any]] | None = None
    #: Kubernetes objects given directly (the checks' examples, or read from a cluster's API beforehand)
    kube_objects: list[dict[str, Any]] | None = None
    #: a kubeconfig whose cluster's objects the Kubernetes workload checks read (and its context)
    kubeconfig: str | None = None
    kube_context: str | None = None
    #: whether Kubernetes manifests (YAML files) in the tree are workloads to check (``dir:`` targets)
    manifests: bool = False
    #: what the source modules read once per target (containers, Kubernetes objects, ...), by their own keys
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _packages: set[str] | None = field(default=None, repr=False)
    _package_error: str = field(default="", repr=False)
    _packages_read: bool = field(default=False, repr=False)
    _texts: dict[str, str | None] = field(default_factory=dict, repr=False)

    def stat(self, path: str, follow: bool = True) -> FileInfo | None:
        return self.tree.stat(path, follow=follow)

    def text(self, path: str) -> str | None:
        """A file's text (None when it does not exist); ProbeError when it exists but cannot be read."""
        if path in self._texts:
            return self._texts[path]
        info = self.tree.stat(path)
        if info is None:
            out = None
        elif info.kind != FILE:
            raise ProbeError(f"{path}: not a regular file")
        else:
            try:
                out = self.tree.read_text(path, limit=MAX_CONFIG_BYTES)
            except PermissionError:
                raise ProbeError(f"{path}: permission denied") from None
            except (FileTreeError, OSError) as exc:
                raise ProbeError(f"{path}: cannot read ({exc})") from None
        self._texts[path] = out
        return out

    def glob(self, pattern: str) -> list[str]:
        """Paths matching ``pattern``, whose wildcards may only be in the last component (sorted by name)."""
        directory, name = posixpath.split(pattern)
        if not any(c in name for c in "*?["):
            return [pattern] if self.tree.stat(pattern) is not None else []
        try:
            entries = self.tree.listdir(directory)
        except (FileTreeError, OSError):
            return []
        return sorted(posixpath.join(directory, e.name) for e in entries
                      if fnmatch.fnmatchcase(e.name, name) and self.tree.stat(posixpath.join(directory, e.name)))

    def packages(self) -> set[str]:
        """Names of the OS packages installed (dpkg, rpm, apk databases); ProbeError when the target has no
        package database the catalogers can read."""
        if not self._packages_read:
            self._packages_read = True
            self._packages, self._package_error = _installed(self.tree)
        if self._packages is None:
            raise ProbeError(self._package_error)
        return self._packages


def _installed(tree: FileTree) -> tuple[set[str] | None, str]:
    """Installed package names from the target's own package databases (not other databases somewhere in
    the tree, such as a chroot), read directly (dpkg status and status.d, apk installed) with the catalogers'
    own parsers; an rpm database with the rpm cataloger's parsers."""
    from threatstryker.sbom.catalogers.apk import read_records
    from threatstryker.sbom.catalogers.dpkg import parse_paragraphs

    names: set[str] = set()
    found = False
    try:
        dpkg = ["/var/lib/dpkg/status"] if tree.stat("/var/lib/dpkg/status") else []
        status_d = tree.stat("/var/lib/dpkg/status.d")
        if status_d is not None and status_d.kind != FILE:
            dpkg += [f"/var/lib/dpkg/status.d/{e.name}" for e in tree.listdir("/var/lib/dpkg/status.d")]
        for path in dpkg:
            found = True
            for fields in parse_paragraphs(tree.read_text(path, limit=MAX_CONFIG_BYTES * 8), bad_lines=[]):
                state = fields.get("Status", "install ok installed").split()
                if fields.get("Package") and state[-1:] in (["installed"], ["half-configured"], ["unpacked"]):
                    names.add(fields["Package"])
        if tree.stat("/lib/apk/db/installed") is not None:
            found = True
            text = tree.read_text("/lib/apk/db/installed", limit=MAX_CONFIG_BYTES * 8)
            names.update(fields["P"] for _, fields, _, _ in read_records(text.splitlines()) if fields.get("P"))
    except (FileTreeError, OSError) as exc:
        return None, f"cannot read the package database ({exc})"
    from threatstryker.sbom.cataloger import ParseContext, ParseError
    from threatstryker.sbom.catalogers import rpm
    from threatstryker.sbom.catalogers._rpmdb import RpmDbError

    # only the system's own database (not a walk of the whole tree), read by the rpm cataloger's parsers
    for directory in rpm.DB_DIRS:
        for name, parse in (("rpmdb.sqlite", rpm.parse_sqlite), ("Packages", rpm.parse_bdb),
                            ("Packages.db", rpm.parse_ndb)):
            info = tree.stat(directory + name)
            if info is None or info.kind != FILE:
                continue
            found = True
            try:
                names.update(p.name for p in parse(ParseContext(tree), info))
            except (ParseError, RpmDbError, OSError, FileTreeError) as exc:
                return None, f"{directory}{name}: cannot read the rpm database ({exc})"
    if not found:
        return None, "no package database (dpkg, rpm or apk) in the target"
    return names, ""


__all__ = ["MAX_CONFIG_BYTES", "Context", "ProbeError"]
