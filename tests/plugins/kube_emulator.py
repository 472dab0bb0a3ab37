"""A Kubernetes API on 127.0.0.1 for the tests: kmock's KubernetesEmulator served over real HTTP from a thread
of its own, with a kubeconfig pointing at it.

``kube_emulator`` (session) starts it; ``load(objects)`` replaces what it serves (stored as a real API server
lists them: list items carry no kind or apiVersion). The kubeconfig has two contexts: ``emulator`` (the
current one) and ``denied``, whose token every request is refused with 403. Two gaps of kmock 0.8 are filled
here: ``GET /api/v1/namespaces`` (and ``/api/v1/namespaces/NAME``), whose paths its parser takes for a
namespace rather than the namespaces resource, and ``/version/``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: kind -> the resource kmock stores it under ("group/version/plural"; the core group is "v1/...")
RESOURCES = {
    "Namespace": "v1/namespaces", "Pod": "v1/pods", "Deployment": "apps/v1/deployments",
    "DaemonSet": "apps/v1/daemonsets", "StatefulSet": "apps/v1/statefulsets", "ReplicaSet": "apps/v1/replicasets",
    "Job": "batch/v1/jobs", "CronJob": "batch/v1/cronjobs",
    "NetworkPolicy": "networking.k8s.io/v1/networkpolicies",
}
DENIED_TOKEN = "denied-token"


def _emulator_class(log: list[str]) -> type:
    import aiohttp.web
    import kmock

    class Emulator(kmock.KubernetesEmulator):  # type: ignore[misc]
        """kmock's emulator, with the namespace listing, ``/version/`` and a refused token."""

        async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
            log.append(f"{raw.method} {raw.path}")
            if raw.headers.get("Authorization") == f"Bearer {DENIED_TOKEN}":
                return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                                                  "reason": "Forbidden", "code": 403,
                                                  "message": "the test's denied user may not do that"}, status=403)
            parts = raw.path.strip("/").split("/")
            if raw.method == "GET" and parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
                await raw.read()
                items = [o.raw for (res, _, _), o in self.objects.items()
                         if res.plural == "namespaces" and not o.deleted]
                if len(parts) == 3:
                    return aiohttp.web.json_response({"apiVersion": "v1", "kind": "NamespaceList",
                                                      "metadata": {"resourceVersion": "1"}, "items": items})
                found = [i for i in items if i.get("metadata", {}).get("name") == parts[3]]
                if found:
                    return aiohttp.web.json_response(found[0])
                return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                                                  "reason": "NotFound", "code": 404}, status=404)
            if raw.method == "GET" and raw.path == "/version/":
                await raw.read()
                return aiohttp.web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.0-kmock"})
            return await super().__call__(raw)

    return Emulator


@dataclass
class KubeEmulator:
    """The emulator's URL, a kubeconfig for it, ``load`` to set the objects it serves, and ``requests``: every
    request it was sent ("GET /api/v1/pods"), oldest first."""

    url: str
    kubeconfig: Path
    requests: list[str]
    _emulator: Any
    _loop: asyncio.AbstractEventLoop

    def load(self, objects: list[dict[str, Any]]) -> None:
        """Serve exactly ``objects`` (each with kind, metadata.name and, when namespaced, metadata.namespace)."""

        async def put() -> None:
            store = self._emulator.objects
            for key in list(store):
                del store[key]
            for obj in objects:
                meta = obj["metadata"]
                stored = copy.deepcopy(obj)
                stored.pop("kind", None)
                stored.pop("apiVersion", None)
                store[RESOURCES[obj["kind"]], meta.get("namespace"), meta["name"]] = stored

        asyncio.run_coroutine_threadsafe(put(), self._loop).result(timeout=10)


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig for ``server`` with the contexts ``emulator`` (current) and ``denied``."""
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}},
                  {"name": "denied", "user": {"token": DENIED_TOKEN}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "kmock", "user": "tester"}},
                     {"name": "denied", "context": {"cluster": "kmock", "user": "denied"}}],
    }
    path.write_text(json.dumps(doc))  # JSON is YAML: the client reads it as it reads any kubeconfig
    return path


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def kube_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEmulator]:
    """kmock's Kubernetes emulator on 127.0.0.1 (its own event loop in a thread), stopped at the end."""
    kmock = pytest.importorskip("kmock")
    requests: list[str] = []
    emulator_cls = _emulator_class(requests)
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with emulator_cls() as emulator, kmock.Server(emulator) as server:
                for resource in RESOURCES.values():
                    emulator.resources[resource] = {}
                state["emulator"], state["url"] = emulator, str(server.url).rstrip("/")
                ready.set()
                await state["stop"].wait()
        except BaseException as exc:
            state["error"] = exc
            ready.set()
            raise

    thread = threading.Thread(target=lambda: asyncio.run(serve()), name="kube-emulator", daemon=True)
    thread.start()
    if not ready.wait(30) or "error" in state:
        pytest.fail(f"the Kubernetes emulator did not start: {state.get('error')!r}")
    kubeconfig = write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig", state["url"])
    try:
        yield KubeEmulator(state["url"], kubeconfig, requests, state["emulator"], state["loop"])
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(timeout=10)
