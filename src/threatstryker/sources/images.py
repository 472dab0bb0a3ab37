"""Opens image archives (docker save tarballs, OCI layouts as directories or tarballs) into a LayeredTree."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from threatstryker.sources.filetree import FileTreeError, bounded_reader, normpath
from threatstryker.sources.layered import LayerBlob, LayeredTree, tar_end_problem

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1024 * 1024


@dataclass(slots=True)
class ImageMeta:
    """What the image says of itself: id (config digest), tags, layer ids, and its config."""

    image_id: str = ""
    tags: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


class _Store:
    """Blobs by path inside an image container: a directory, or an (uncompressed) tar file."""

    def __init__(self, path: str, workdir: str) -> None:
        self.path = path
        self.workdir = workdir
        self._members: dict[str, tarfile.TarInfo] = {}
        self._fh: BinaryIO | None = None
        self._blob_count = 0
        if os.path.isdir(path):
            self.is_dir = True
            self.truncated = ""
            return
        self.is_dir = False
        fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - kept open for the tree's life
        magic = fh.read(4)
        fh.seek(0)
        self.truncated = ""
        if magic[:2] == GZIP_MAGIC or magic == ZSTD_MAGIC:
            fh.close()
            plain = os.path.join(workdir, "outer.tar")
            self.truncated = _decompress_file(path, plain, magic)
            fh = open(plain, "rb")  # noqa: SIM115
        self._fh = fh
        self._size = os.fstat(fh.fileno()).st_size
        try:
            reader = bounded_reader(fh, 0, self._size)
            with tarfile.open(fileobj=reader, mode="r:") as tar:
                for m in tar:
                    self._members[normpath(m.name)] = m
                    if m.isreg() and m.offset_data + m.size > self._size:
                        self.truncated = f"{m.name} is cut short"
                if not self.truncated:
                    self.truncated = tar_end_problem(reader, tar.offset, self._size)
        except (tarfile.TarError, EOFError, OSError) as exc:
            if not self._members:
                fh.close()
                raise FileTreeError(f"{path}: not a readable tar archive ({exc})") from exc
            self.truncated = self.truncated or str(exc)

    def _member(self, name: str) -> tarfile.TarInfo | None:
        m = self._members.get(normpath(name))
        hops = 0
        while m is not None and (m.issym() or m.islnk()) and hops < 10:
            hops += 1
            target = m.linkname if m.islnk() else posixpath.join(posixpath.dirname(m.name), m.linkname)
            m = self._members.get(normpath(target))
        return m

    def exists(self, name: str) -> bool:
        if self.is_dir:
            return os.path.isfile(self._dir_path(name))
        return self._member(name) is not None

    def _dir_path(self, name: str) -> str:
        full = os.path.realpath(os.path.join(self.path, normpath(name).lstrip("/")))
        if not full.startswith(os.path.realpath(self.path) + os.sep):
            raise FileTreeError(f"{self.path}: blob path {name!r} escapes the layout")
        return full

    def read_json(self, name: str) -> Any:
        try:
            if self.is_dir:
                with open(self._dir_path(name), "rb") as f:
                    data = f.read(64 * 1024 * 1024)
            else:
                m = self._member(name)
                if m is None or self._fh is None:
                    raise FileTreeError(f"{self.path}: {name} is missing")
                data = bounded_reader(self._fh, m.offset_data, m.size).read()
            return json.loads(data)
        except OSError as exc:
            raise FileTreeError(f"{self.path}: cannot read {name} ({exc.strerror or exc})") from exc
        except ValueError as exc:
            raise FileTreeError(f"{self.path}: {name} is not valid JSON ({exc})") from exc

    def blob(self, name: str, layer_id: str) -> LayerBlob:
        """A layer as an uncompressed tar window, decompressing to the work dir when needed."""
        if self.is_dir:
            fh: BinaryIO = open(self._dir_path(name), "rb")  # noqa: SIM115
            start, size = 0, os.fstat(fh.fileno()).st_size
        else:
            m = self._member(name)
            if m is None or self._fh is None:
                raise FileTreeError(f"{self.path}: layer {name} is missing")
            # a member cut short by a truncated archive: only the bytes that are there
            fh, start, size = self._fh, m.offset_data, max(0, min(m.size, self._size - m.offset_data))
        fh.seek(start)
        magic = fh.read(4)
        if magic[:2] == GZIP_MAGIC or magic == ZSTD_MAGIC:
            # numbered: an image may hold the same layer (same diff id) more than once
            self._blob_count += 1
            out_path = os.path.join(self.workdir, f"layer-{self._blob_count}.tar")
            err = _decompress_stream(bounded_reader(fh, start, size), out_path, magic)
            if self.is_dir:
                fh.close()
            plain: BinaryIO = open(out_path, "rb")  # noqa: SIM115
            blob = LayerBlob(layer_id, plain, 0, os.fstat(plain.fileno()).st_size, name)
            if err:
                blob.origin = f"{name} ({err})"
            return blob
        if self.is_dir:
            return LayerBlob(layer_id, fh, 0, size, name)
        # uncompressed layer inside the outer tar: read in place; give it its own handle
        own = open(self._fh.name, "rb")  # type: ignore[union-attr]  # noqa: SIM115
        return LayerBlob(layer_id, own, start, size, name)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _decompress_file(src: str, dst: str, magic: bytes) -> str:
    """Decompress a whole file; returns '' or the error that cut it short (raises when nothing came out)."""
    with open(src, "rb") as fh:
        err = _decompress_stream(fh, dst, magic)
    if err and os.path.getsize(dst) == 0:
        raise FileTreeError(f"{src}: cannot decompress ({err})")
    return err


def _decompress_stream(src: BinaryIO, dst: str, magic: bytes) -> str:
    """Decompress gzip or zstd into ``dst``; returns '' or the error that cut the stream short.

    Incremental (a decompressor object fed chunk by chunk), so that everything before the point where a
    truncated or corrupt stream breaks is kept: a file reader would drop the whole chunk it was reading.
    Concatenated gzip members and zstd frames follow one another; zero padding after the last is ignored.
    """
    if magic == ZSTD_MAGIC:
        import zstandard

        def new() -> Any:
            return zstandard.ZstdDecompressor().decompressobj()
    else:

        def new() -> Any:
            return zlib.decompressobj(wbits=31)

    obj = new()
    fed = False  # the current member/frame has been given input
    done = 0  # members/frames decompressed whole
    with open(dst, "wb") as out:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            while chunk:
                if not fed and done and chunk.count(0) == len(chunk):
                    chunk = b""  # padding after the last member
                    break
                fed = True
                try:
                    out.write(obj.decompress(chunk))
                except Exception as exc:  # zlib.error, zstandard.ZstdError
                    return f"compressed stream is corrupt or truncated: {exc}"
                if obj.eof:
                    chunk = obj.unused_data
                    obj, fed, done = new(), False, done + 1
                else:
                    chunk = b""
    if fed or not done:
        return "compressed stream is truncated (it ends before its end marker)"
    return ""


class ImageArchive:
    """An image opened from a docker-archive, an oci-dir or an oci-archive: its tree and its metadata."""

    def __init__(self, path: str, kind: str, reference: str | None = None) -> None:
        if not os.path.exists(path):
            raise FileTreeError(f"{path}: no such file or directory")
        self.workdir = tempfile.mkdtemp(prefix="threatstryker-img-")
        try:
            self.store = _Store(path, self.workdir)
            if kind == "docker-archive":
                self.meta, layer_names = self._docker_manifest(reference)
            else:
                self.meta, layer_names = self._oci_manifest(reference)
            blobs: list[LayerBlob] = []
            layer_warnings: list[tuple[str, str]] = []
            for name, layer_id in zip(layer_names, self.meta.layers, strict=True):
                try:
                    blob = self.store.blob(name, layer_id)
                except (FileTreeError, OSError) as exc:
                    layer_warnings.append((name, f"layer cannot be read: {exc}; skipped"))
                    continue
                if "(" in blob.origin:
                    layer_warnings.append((name, blob.origin.split("(", 1)[1].rstrip(")")))
                blobs.append(blob)
            self.tree = LayeredTree(blobs)
            for p, reason in layer_warnings:
                self.tree.warn(p, reason)
                self.tree.partial = True
            if self.store.truncated:
                self.tree.warn(path, f"archive is truncated ({self.store.truncated})")
                self.tree.partial = True
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    def _docker_manifest(self, reference: str | None) -> tuple[ImageMeta, list[str]]:
        if not self.store.exists("manifest.json"):
            if self.store.truncated:
                raise FileTreeError(f"{self.store.path}: archive is truncated or corrupt "
                                    f"({self.store.truncated}) and has no manifest.json")
            raise FileTreeError(f"{self.store.path}: no manifest.json (not a docker save archive)")
        manifest = self.store.read_json("manifest.json")
        if not isinstance(manifest, list) or not manifest:
            raise FileTreeError(f"{self.store.path}: manifest.json lists no image")
        chosen = manifest[0]
        if reference:
            for item in manifest:
                if reference in (item.get("RepoTags") or []):
                    chosen = item
                    break
            else:
                raise FileTreeError(f"{self.store.path}: no image tagged {reference!r}")
        config_name = chosen.get("Config", "")
        config = self.store.read_json(config_name) if config_name else {}
        layer_names = list(chosen.get("Layers") or [])
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        layer_ids = _layer_ids(layer_names, diff_ids)
        image_id = "sha256:" + posixpath.basename(config_name).removesuffix(".json") if config_name else ""
        if "/" in config_name:  # OCI-style docker save: blobs/sha256/<hex>
            image_id = "sha256:" + posixpath.basename(config_name)
        meta = ImageMeta(image_id, list(chosen.get("RepoTags") or []), layer_ids, config)
        return meta, layer_names

    def _oci_manifest(self, reference: str | None) -> tuple[ImageMeta, list[str]]:
        if not self.store.exists("index.json"):
            if self.store.truncated:
                raise FileTreeError(f"{self.store.path}: archive is truncated or corrupt "
                                    f"({self.store.truncated}) and has no index.json")
            raise FileTreeError(f"{self.store.path}: no index.json (not an OCI image layout)")
        index = self.store.read_json("index.json")
        manifest, tags = self._pick_manifest(index, reference, depth=0)
        config_desc = manifest.get("config") or {}
        config = self.store.read_json(_blob_path(config_desc.get("digest", ""))) if config_desc else {}
        layers = manifest.get("layers") or []
        names = [_blob_path(layer.get("digest", "")) for layer in layers]
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        ids = _layer_ids([layer.get("digest", "") for layer in layers], diff_ids)
        return ImageMeta(config_desc.get("digest", ""), tags, ids, config), names

    def _pick_manifest(self, index: dict[str, Any], reference: str | None, depth: int) -> tuple[dict, list[str]]:
        if depth > 4:
            raise FileTreeError(f"{self.store.path}: image indexes nested too deep")
        descs = index.get("manifests") or []
        if not descs:
            raise FileTreeError(f"{self.store.path}: index lists no manifest")
        chosen = None
        if reference:
            for d in descs:
                if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") == reference:
                    chosen = d
                    break
            if chosen is None and depth == 0:
                raise FileTreeError(f"{self.store.path}: no image with reference {reference!r}")
        if chosen is None:
            for d in descs:
                plat = d.get("platform") or {}
                if plat.get("os", "linux") == "linux" and plat.get("architecture", "amd64") in ("amd64", ""):
                    chosen = d
                    break
            chosen = chosen or descs[0]
        tag = (chosen.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        doc = self.store.read_json(_blob_path(chosen.get("digest", "")))
        if "manifests" in doc:
            manifest, tags = self._pick_manifest(doc, None, depth + 1)
            return manifest, ([tag] if tag else []) + tags
        return doc, [tag] if tag else []

    def close(self) -> None:
        self.tree.close()
        self.store.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _blob_path(digest: str) -> str:
    alg, _, hexpart = digest.partition(":")
    if not alg or not hexpart or "/" in hexpart or ".." in hexpart:
        raise FileTreeError(f"invalid blob digest {digest!r}")
    return f"blobs/{alg}/{hexpart}"


def _layer_ids(names: list[str], diff_ids: list[str]) -> list[str]:
    if len(diff_ids) == len(names):
        return diff_ids
    return [n if ":" in n else "sha256:" + posixpath.basename(posixpath.dirname(n) or n) for n in names]
