"""Detects the operating system release of a tree from etc/os-release and the older release files."""

from __future__ import annotations

import re
import shlex

from threatstryker.model import Distro
from threatstryker.sources.filetree import FileTree, FileTreeError


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs of an os-release file (shell quoting honoured, comments and junk skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value, comments=False, posix=True)
        except ValueError:
            parts = [value.strip("\"'")]
        out[key.strip()] = parts[0] if parts else ""
    return out


def _read(tree: FileTree, path: str) -> str | None:
    try:
        return tree.read_text(path, limit=64 * 1024)
    except (FileTreeError, OSError):
        return None


def detect_distro(tree: FileTree) -> Distro | None:
    """The distro of the tree, or None when no release file says."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = _read(tree, path)
        if text is None:
            continue
        kv = parse_os_release(text)
        if "ID" not in kv:
            continue
        distro_id = kv["ID"].lower()
        version = kv.get("VERSION_ID", "")
        if distro_id == "debian" and not version:
            # testing/sid carry no VERSION_ID; debian_version tells "trixie/sid" or a point release
            dv = (_read(tree, "/etc/debian_version") or "").strip()
            if dv and dv[0].isdigit():
                version = dv.split(".")[0]
        return Distro(
            id=distro_id,
            version_id=version,
            codename=kv.get("VERSION_CODENAME", ""),
            name=kv.get("PRETTY_NAME", kv.get("NAME", "")),
            id_like=tuple(kv.get("ID_LIKE", "").split()),
        )
    text = _read(tree, "/etc/alpine-release")
    if text:
        return Distro("alpine", text.strip(), name="Alpine Linux")
    text = _read(tree, "/etc/debian_version")
    if text:
        v = text.strip()
        return Distro("debian", v.split(".")[0] if v[:1].isdigit() else "", name="Debian GNU/Linux")
    for path, did in (("/etc/redhat-release", "rhel"), ("/etc/centos-release", "centos")):
        text = _read(tree, path)
        if text:
            m = re.search(r"release (\d+(?:\.\d+)?)", text)
            name = text.strip()
            low = name.lower()
            ident = "centos" if "centos" in low else "rocky" if "rocky" in low else "almalinux" if "alma" in low \
                else "fedora" if "fedora" in low else did
            return Distro(ident, m.group(1) if m else "", name=name)
    return None
