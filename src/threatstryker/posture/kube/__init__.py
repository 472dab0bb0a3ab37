"""The Kubernetes workloads of a target, read once per Context: objects given directly, manifests in the tree,
and a cluster's objects; each workload reduced to its pod spec with its kind, namespace, name and source, and
the NetworkPolicies and Namespaces beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from threatstryker.posture.context import Context, ProbeError

from .cluster import read_cluster
from .manifests import ManifestScan, read_manifests

#: Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
#: Where the inventory (or the error reading it) is kept in ``Context.cache``.
CACHE_KEY = "kube.inventory"


@dataclass(frozen=True)
class Workload:
    """A Pod or a controller of pods: its pod spec, and where it was written (``file:line``, or ``cluster``)."""

    kind: str
    namespace: str
    name: str
    source: str
    pod: dict[str, Any]
    obj: dict[str, Any] = field(repr=False)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass
class Inventory:
    """The workloads, NetworkPolicies (namespace, object, source) and Namespaces of a target, and what the
    manifest reading skipped."""

    workloads: list[Workload] = field(default_factory=list)
    policies: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    namespaces: list[dict[str, Any]] = field(default_factory=list)
    manifests: ManifestScan | None = None

    def notes(self) -> str:
        """What was left out, for a result's reason ("" when nothing was)."""
        scan = self.manifests
        if scan is None:
            return ""
        parts = []
        if scan.unparseable:
            templates = sum(1 for _, why in scan.unparseable if why == "a Helm template")
            parts.append(f"{len(scan.unparseable)} manifest file(s) skipped: not parseable"
                         + (f" ({templates} of them Helm templates)" if templates else ""))
        if scan.truncated:
            parts.append("the manifest walk stopped at its file cap")
        return "; ".join(parts)


def _namespace(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else "default"


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if isinstance(name, str) and name:
        return name
    prefix = meta.get("generateName") if isinstance(meta, dict) else None
    return f"{prefix}*" if isinstance(prefix, str) and prefix else "?"


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload object ({} when the object does not say)."""
    node: Any = obj
    for part in POD_SPEC_PATHS[obj["kind"]]:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _owned_by_listed(obj: dict[str, Any], listed: set[tuple[str, str, str]], uids: set[str]) -> bool:
    """Whether a controller that is itself among the objects owns ``obj`` (it is checked through its owner)."""
    meta = obj.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict):
            continue
        if ref.get("uid") and ref["uid"] in uids:
            return True
        if (str(ref.get("kind")), _namespace(obj), str(ref.get("name"))) in listed:
            return True
    return False


def build_inventory(objects: list[tuple[dict[str, Any], str]]) -> Inventory:
    """Workloads, NetworkPolicies and Namespaces of ``objects`` (object, source); an object owned by a
    controller that is itself listed is left to its controller."""
    inv = Inventory()
    listed = {(o["kind"], _namespace(o), _name(o)) for o, _ in objects if o.get("kind") in POD_SPEC_PATHS}
    uids = {str(o["metadata"]["uid"]) for o, _ in objects
            if o.get("kind") in POD_SPEC_PATHS and isinstance(o.get("metadata"), dict) and o["metadata"].get("uid")}
    for obj, source in objects:
        kind = obj.get("kind")
        if kind in POD_SPEC_PATHS:
            if not _owned_by_listed(obj, listed, uids):
                inv.workloads.append(Workload(kind, _namespace(obj), _name(obj), source, pod_spec(obj), obj))
        elif kind == "NetworkPolicy":
            inv.policies.append((_namespace(obj), obj, source))
        elif kind == "Namespace":
            inv.namespaces.append(obj)
    return inv


def _valid(objects: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(objects, list):
        raise ProbeError(f"{what}: a list of Kubernetes objects was expected")
    return [o for o in objects if isinstance(o, dict) and isinstance(o.get("kind"), str)]


def inventory(ctx: Context) -> Inventory:
    """The target's Kubernetes objects, read once per Context (a failure is remembered and raised again)."""
    cached = ctx.cache.get(CACHE_KEY)
    if cached is None:
        try:
            cached = _read(ctx)
        except ProbeError as exc:
            cached = exc
        ctx.cache[CACHE_KEY] = cached
    if isinstance(cached, ProbeError):
        raise cached
    assert isinstance(cached, Inventory)
    return cached


def _read(ctx: Context) -> Inventory:
    objects: list[tuple[dict[str, Any], str]] = []
    if ctx.kube_objects is not None:
        objects += [(o, "cluster") for o in _valid(ctx.kube_objects, "the cluster objects given")]
    scan = None
    if ctx.manifests:
        scan = read_manifests(ctx.tree)
        objects += scan.objects
    if ctx.kubeconfig:
        objects += [(o, "cluster") for o in _valid(read_cluster(ctx.kubeconfig, ctx.kube_context), "the cluster")]
    inv = build_inventory(objects)
    inv.manifests = scan
    return inv


__all__ = ["CACHE_KEY", "POD_SPEC_PATHS", "Inventory", "Workload", "build_inventory", "inventory", "pod_spec"]
