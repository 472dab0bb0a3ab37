"""Builds small root filesystems on disk from a check's ``examples``: path -> text, or a mapping with
``content``/``mode``/``uid``/``gid``, ``symlink`` or ``dir``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from threatstryker.posture.context import Context
from threatstryker.sources.dirtree import DirTree

#: The key of an example that is the image configuration rather than a file.
IMAGE_CONFIG = "@image_config"
#: The key of an example that lists running containers (Engine API inspect documents).
CONTAINERS = "@docker_containers"
#: The key of an example that lists Kubernetes objects as a cluster's API would serve them.
KUBE_OBJECTS = "@k8s_objects"


def build(root: Path, files: dict[str, Any]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for path, spec in files.items():
        if path.startswith("@"):
            continue
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, str):
            target.write_text(spec)
            target.chmod(0o644)
            continue
        if not isinstance(spec, dict):
            raise TypeError(f"{path}: a file is text or a mapping, not {spec!r}")
        if "symlink" in spec:
            target.symlink_to(spec["symlink"])
            continue
        if spec.get("dir"):
            target.mkdir(exist_ok=True)
        else:
            target.write_text(str(spec.get("content", "")))
        target.chmod(int(str(spec.get("mode", "0755" if spec.get("dir") else "0644")), 8))
        if "uid" in spec or "gid" in spec:
            os.chown(target, int(spec.get("uid", 0)), int(spec.get("gid", 0)))
    return root


def context(root: Path, files: dict[str, Any] | None = None) -> Context:
    """The probes' view of ``root``; an image's when the example's files carry ``@image_config``, with running
    containers from ``@docker_containers`` and cluster objects from ``@k8s_objects``; Kubernetes manifests in
    the files count as a ``dir:`` target's."""
    files = files or {}
    return Context(DirTree(str(root)), image_config=files.get(IMAGE_CONFIG), containers=files.get(CONTAINERS),
                   kube_objects=files.get(KUBE_OBJECTS), manifests=True)


def drop_dac_override() -> None:
    """For ``subprocess`` ``preexec_fn``: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set
    before exec, so that a child of root is held to file modes like any user (a real EACCES in tests that run
    as root)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
