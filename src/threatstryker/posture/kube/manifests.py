"""Kubernetes objects written in the manifest files of a tree (``*.yaml``, ``*.yml``, ``*.json``): every
document with an ``apiVersion`` and a ``kind``, the items of ``List`` kinds expanded, each with the file and
line it was written at; files that do not parse (Helm templates, broken YAML) are skipped and counted."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

import yaml

from threatstryker.sources.filetree import FileInfo, FileTree, FileTreeError, PathMatcher

#: Manifest files larger than this are not read (they are data, not something a person applies).
MAX_MANIFEST_BYTES = 2 * 1024 * 1024
#: At most this many candidate files are read from one tree.
MAX_MANIFEST_FILES = 20_000
#: Directories never looked into besides hidden ones (dependencies, not the project's own manifests).
SKIPPED_DIRS = frozenset({"node_modules"})

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MATCHER = PathMatcher([("**/*.yaml", True), ("**/*.yml", True), ("**/*.json", True)])


@dataclass
class ManifestScan:
    """What reading a tree's manifests found: objects with their ``file:line``, how many files were read, the
    files skipped because they do not parse (with why), the files that could not be read, and whether the
    file cap cut the walk short."""

    objects: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    files: int = 0
    unparseable: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False


def is_object(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)


def expand(doc: dict[str, Any], where: str, lines: list[int] | None = None,
           depth: int = 0) -> list[tuple[dict[str, Any], str]]:
    """The object, or the objects listed in a ``List``/``*List`` (nested lists too, a few levels deep)."""
    items = doc.get("items")
    if doc["kind"].endswith("List") and isinstance(items, list) and depth < 4:
        path = where.rsplit(":", 1)[0]
        out = []
        for i, item in enumerate(items):
            if is_object(item):
                at = f"{path}:{lines[i]}" if lines and i < len(lines) else where
                out += expand(item, at, None, depth + 1)
        return out
    return [(doc, where)]


def _items_lines(node: yaml.Node) -> list[int] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return None


def parse_yaml(text: str, path: str) -> list[tuple[dict[str, Any], str]]:
    """The objects of a (multi-document) YAML text, with the line each starts at; yaml.YAMLError when any
    document does not parse (the whole file is then skipped)."""
    loader = _LOADER(text)
    out: list[tuple[dict[str, Any], str]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = loader.construct_document(node)
            if is_object(doc):
                out += expand(doc, f"{path}:{node.start_mark.line + 1}", _items_lines(node))
    finally:
        loader.dispose()
    return out


def parse_json(text: str, path: str) -> list[tuple[dict[str, Any], str]]:
    doc = json.loads(text)
    return expand(doc, f"{path}:1") if is_object(doc) else []


def _hidden(path: str) -> bool:
    parts = path.strip("/").split("/")[:-1]
    return any(p.startswith(".") or p in SKIPPED_DIRS for p in parts)


def read_manifests(tree: FileTree) -> ManifestScan:
    """Every Kubernetes object in the manifest files of ``tree`` (hidden directories left out)."""
    scan = ManifestScan()
    candidates: list[FileInfo] = []
    for info, _ in tree.select(_MATCHER, stop=lambda: len(candidates) >= MAX_MANIFEST_FILES):
        if not _hidden(info.path) and info.size <= MAX_MANIFEST_BYTES:
            candidates.append(info)
    scan.truncated = len(candidates) >= MAX_MANIFEST_FILES
    for info in sorted(candidates, key=lambda i: i.path):
        try:
            with tree.open_info(info) as fh:
                data = fh.read(MAX_MANIFEST_BYTES + 1)
        except (FileTreeError, OSError) as exc:
            scan.unreadable.append((info.path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            continue
        if len(data) > MAX_MANIFEST_BYTES or b"apiVersion" not in data or b"kind" not in data:
            continue  # grown meanwhile, or cannot be a manifest
        scan.files += 1
        text = data.decode("utf-8", "replace")
        try:
            if posixpath.splitext(info.path)[1] == ".json":
                scan.objects += parse_json(text, info.path)
            else:
                scan.objects += parse_yaml(text, info.path)
        except (ValueError, RecursionError, yaml.YAMLError) as exc:
            why = "a Helm template" if "{{" in text else (str(exc).splitlines()[0][:120] or type(exc).__name__)
            scan.unparseable.append((info.path, why))
    return scan


__all__ = ["MAX_MANIFEST_BYTES", "MAX_MANIFEST_FILES", "ManifestScan", "expand", "is_object", "parse_json",
           "parse_yaml", "read_manifests"]
