"""Parses a target reference ('dir:PATH', 'docker-archive:FILE', ...) and opens it as a FileTree."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from threatstryker.model import TargetInfo
from threatstryker.sources.dirtree import PSEUDO_ROOT_DIRS, DirTree
from threatstryker.sources.filetree import FileTree, FileTreeError

if TYPE_CHECKING:
    from threatstryker.sources.images import ImageArchive

SCHEMES = ("dir", "rootfs", "docker-archive", "oci-dir", "oci-archive", "container", "sbom", "k8s")


class TargetError(Exception):
    """The target itself cannot be opened; the message is one line naming it."""


@dataclass(slots=True)
class OpenedTarget:
    """A target opened for scanning: what it is and its files (no tree for an SBOM document)."""

    info: TargetInfo
    tree: FileTree | None
    image: ImageArchive | None = None

    def close(self) -> None:
        if self.image is not None:
            self.image.close()
        elif self.tree is not None:
            self.tree.close()

    def __enter__(self) -> OpenedTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_target(ref: str) -> tuple[str, str]:
    """(scheme, path) of a reference; the scheme is detected from the path when not given."""
    scheme, sep, rest = ref.partition(":")
    if sep and scheme in SCHEMES:
        return scheme, rest
    return detect_scheme(ref), ref


def detect_scheme(path: str) -> str:
    """Guess what a bare path is: a directory, a system root, an OCI layout, an image tarball or an SBOM."""
    if not os.path.exists(path):
        raise TargetError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "oci-layout")) and os.path.isfile(os.path.join(path, "index.json")):
            return "oci-dir"
        if os.path.realpath(path) == "/" or (
            os.path.isdir(os.path.join(path, "etc")) and os.path.isdir(os.path.join(path, "usr"))
            and (os.path.exists(os.path.join(path, "etc/os-release"))
                 or os.path.exists(os.path.join(path, "usr/lib/os-release")))
        ):
            return "rootfs"
        return "dir"
    import tarfile

    try:
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as tar:
                names = set()
                for i, m in enumerate(tar):
                    names.add(m.name.lstrip("./"))
                    if i > 2000:
                        break
            if "manifest.json" in names:
                return "docker-archive"
            if "index.json" in names or "oci-layout" in names:
                return "oci-archive"
    except (tarfile.TarError, OSError, EOFError):
        pass
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip()
        if head[:1] == b"{":
            with open(path, "rb") as fh:
                json.load(fh)
            return "sbom"
    except (OSError, ValueError):
        pass
    raise TargetError(f"{path}: cannot tell what kind of target this is; give a scheme such as docker-archive:")


def open_target(
    ref: str,
    exclude: Iterable[str] = (),
    cross_mounts: bool = False,
) -> OpenedTarget:
    """Open a target reference; raises TargetError (one line) when the target itself cannot be opened."""
    scheme, path = split_target(ref)
    file_path, reference = path, None
    if scheme in ("docker-archive", "oci-dir", "oci-archive"):
        file_path, reference = _split_reference(path)
    if scheme == "k8s":  # a cluster read through its API (the kubeconfig is the posture scanner's option)
        from threatstryker.sources.emptytree import EmptyTree

        return OpenedTarget(TargetInfo(scheme="k8s", path=path, name=path or "current context"), EmptyTree())
    if scheme != "container" and not os.path.exists(file_path):
        raise TargetError(f"{ref}: no such file or directory")
    info = TargetInfo(scheme=scheme, path=path, name=path)
    try:
        if scheme == "dir":
            return OpenedTarget(info, DirTree(path, exclude=exclude, cross_mounts=cross_mounts))
        if scheme == "rootfs":
            return OpenedTarget(info, DirTree(path, skip=PSEUDO_ROOT_DIRS, exclude=exclude,
                                              cross_mounts=cross_mounts))
        if scheme == "container":
            pid = path.strip()
            if not pid.isdigit():
                raise TargetError(f"{ref}: container targets are given by process id (container:PID)")
            root = f"/proc/{pid}/root"
            if not os.path.isdir(root):
                raise TargetError(f"{ref}: no process {pid} (or its root is not readable)")
            info.name = _container_name(pid)
            return OpenedTarget(info, DirTree(root, skip=PSEUDO_ROOT_DIRS, exclude=exclude,
                                              cross_mounts=cross_mounts))
        if scheme in ("docker-archive", "oci-dir", "oci-archive"):
            kind = "docker-archive" if scheme == "docker-archive" else "oci"
            from threatstryker.sources.images import ImageArchive

            image = ImageArchive(file_path, kind, reference)
            info.image_id = image.meta.image_id or None
            info.tags = image.meta.tags
            info.layers = image.meta.layers
            info.config = image.meta.config
            info.name = image.meta.tags[0] if image.meta.tags else path
            return OpenedTarget(info, image.tree, image)
        if scheme == "sbom":
            return OpenedTarget(info, None)
    except FileTreeError as exc:
        raise TargetError(str(exc)) from exc
    except PermissionError as exc:
        raise TargetError(f"{ref}: permission denied") from exc
    except OSError as exc:
        raise TargetError(f"{ref}: {exc.strerror or exc}") from exc
    raise TargetError(f"{ref}: unknown target scheme {scheme!r}")


def _split_reference(path: str) -> tuple[str, str | None]:
    """'FILE' or 'FILE:REFERENCE' (a tag such as localhost/app:1.0, itself holding colons) of an image."""
    if os.path.exists(path):
        return path, None
    at = path.find(":")
    while at != -1:
        if os.path.exists(path[:at]):
            return path[:at], path[at + 1 :] or None
        at = path.find(":", at + 1)
    return path, None


def _container_name(pid: str) -> str:
    """A container id from the process's cgroup path when it has one, else 'pid-N'."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                for part in reversed(line.strip().split("/")):
                    token = part.removeprefix("docker-").removesuffix(".scope")
                    if len(token) == 64 and all(c in "0123456789abcdef" for c in token):
                        return token[:12]
    except OSError:
        pass
    return f"pid-{pid}"
