"""Writes image layers and image archives for the tests: docker save tarballs, OCI layouts and OCI tarballs.

A layer is described as a list of entries, applied in order into a tar written with ``tarfile``:

    ("file", "etc/a", b"content")      ("dir", "etc")           ("symlink", "bin/sh", "dash")
    ("hardlink", "usr/b", "usr/a")     ("whiteout", "etc/a")    ("opaque", "opt")
    ("fifo", "run/f")                  ("chr", "dev/null")
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

Entry = tuple[Any, ...]


def layer_tar(entries: list[Entry]) -> bytes:
    """An uncompressed layer tar (GNU format, with the end-of-archive blocks)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for entry in entries:
            kind, name = entry[0], entry[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            data: bytes | None = None
            if kind == "file":
                data = entry[2]
                ti.size = len(data)
                ti.mode = entry[3] if len(entry) > 3 else 0o644
            elif kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, entry[2], 0o777
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, entry[2]
            elif kind == "whiteout":
                head, _, base = name.rpartition("/")
                ti.name = f"{head}/.wh.{base}" if head else f".wh.{base}"
            elif kind == "opaque":
                ti.name = f"{name.rstrip('/')}/.wh..wh..opq"
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            else:
                raise ValueError(kind)
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compress(data: bytes, how: str | None) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    return data


def image_config(layers: list[bytes]) -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer) for layer in layers]},
        "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }


def _tar_of_files(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1_700_000_000
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def docker_archive(path: Path, layers: list[bytes], tag: str = "localhost/test:1", gzip_outer: bool = False,
                   layer_compression: str | None = None) -> Path:
    """A ``docker save`` tarball (classic layout: <id>/layer.tar, <config>.json, manifest.json)."""
    config = json.dumps(image_config(layers)).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    files: dict[str, bytes] = {}
    names = []
    for i, layer in enumerate(layers):
        layer_dir = hashlib.sha256(f"{i}:{digest(layer)}".encode()).hexdigest()
        files[f"{layer_dir}/VERSION"] = b"1.0"
        files[f"{layer_dir}/json"] = json.dumps({"id": layer_dir}).encode()
        files[f"{layer_dir}/layer.tar"] = compress(layer, layer_compression)
        names.append(f"{layer_dir}/layer.tar")
    files[f"{config_hex}.json"] = config
    files["manifest.json"] = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [tag], "Layers": names}]).encode()
    repo, _, t = tag.rpartition(":")
    files["repositories"] = json.dumps({repo: {t: names[-1].split("/")[0]}}).encode()
    data = _tar_of_files(files)
    path.write_bytes(gzip.compress(data, mtime=0) if gzip_outer else data)
    return path


def oci_files(layers: list[bytes], compression: list[str | None] | str | None = "gzip",
              tag: str = "latest") -> dict[str, bytes]:
    """The files of an OCI image layout (paths relative to the layout root)."""
    if not isinstance(compression, list):
        compression = [compression] * len(layers)
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}

    def blob(data: bytes) -> str:
        d = digest(data)
        files[f"blobs/sha256/{d.split(':')[1]}"] = data
        return d

    media = {None: "application/vnd.oci.image.layer.v1.tar",
             "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
             "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}
    layer_descs = []
    for layer, how in zip(layers, compression, strict=True):
        data = compress(layer, how)
        layer_descs.append({"mediaType": media[how], "digest": blob(data), "size": len(data)})
    config = json.dumps(image_config(layers)).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config),
                   "size": len(config)},
        "layers": layer_descs,
    }).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": blob(manifest),
                       "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    files["index.json"] = json.dumps(index).encode()
    return files


def oci_dir(path: Path, layers: list[bytes], compression: list[str | None] | str | None = "gzip",
            tag: str = "latest") -> Path:
    for name, data in oci_files(layers, compression, tag).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path


def oci_archive(path: Path, layers: list[bytes], compression: list[str | None] | str | None = "gzip",
                tag: str = "latest") -> Path:
    path.write_bytes(_tar_of_files(oci_files(layers, compression, tag)))
    return path


def layer_ids(layers: list[bytes]) -> list[str]:
    return [digest(layer) for layer in layers]


def truncate(path: Path, keep: int) -> Path:
    """Cut a file to its first ``keep`` bytes (negative: drop that many from the end)."""
    size = path.stat().st_size
    os.truncate(path, keep if keep >= 0 else size + keep)
    return path
