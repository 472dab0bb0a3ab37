"""A small Docker Engine API client for the posture checks: the inspect documents of the running containers of
one endpoint (``unix:///PATH``, ``tcp://HOST:PORT``), read once per target; an endpoint that cannot be read
is a ProbeError naming it, so the container checks come out ERROR, never PASS."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx

from threatstryker.posture.context import Context, ProbeError

#: Seconds to wait for the Engine API to connect or answer one request.
TIMEOUT = 10.0
#: The live host's default Engine API socket.
DEFAULT_SOCKET = "/var/run/docker.sock"
_CACHE_KEY = "docker_api.running_containers"


def endpoint(ctx: Context) -> str | None:
    """The Engine API to read: the target's ``docker_host``; on the live host ``$DOCKER_HOST``, else the
    default socket when it exists; None when there is none."""
    if ctx.docker_host:
        return ctx.docker_host
    if ctx.live:
        if os.environ.get("DOCKER_HOST"):
            return os.environ["DOCKER_HOST"]
        if os.path.exists(DEFAULT_SOCKET):
            return f"unix://{DEFAULT_SOCKET}"
    return None


def client(url: str) -> httpx.Client:
    """An HTTP client for ``url``: ``unix:///PATH`` (or a bare absolute path), ``tcp://`` (plain HTTP),
    ``http://``, ``https://``; other schemes (``ssh://``, ``npipe://``) are a ProbeError."""
    timeout = httpx.Timeout(TIMEOUT)
    if url.startswith(("unix://", "/")):
        path = url.removeprefix("unix://")
        if not path.startswith("/"):
            raise ProbeError(f"Docker Engine API at {url}: a unix socket needs an absolute path")
        return httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://docker", timeout=timeout)
    if url.startswith("tcp://"):
        return httpx.Client(base_url="http://" + url.removeprefix("tcp://"), timeout=timeout)
    if url.startswith(("http://", "https://")):
        return httpx.Client(base_url=url, timeout=timeout)
    raise ProbeError(f"Docker Engine API at {url}: unsupported endpoint (use unix:///PATH or tcp://HOST:PORT)")


def _get(http: httpx.Client, url: str, path: str) -> tuple[int, Any]:
    """GET ``path``: its status and parsed JSON body (None for a 404); ProbeError for anything else that
    is not a 200 with JSON."""
    try:
        resp = http.get(path)
    except httpx.TimeoutException:
        raise ProbeError(f"Docker Engine API at {url}: no answer within {TIMEOUT:g}s") from None
    except (httpx.HTTPError, OSError) as exc:
        raise ProbeError(f"Docker Engine API at {url} is unreachable: {_one_line(exc)}") from None
    if resp.status_code == 404:
        return 404, None
    if resp.status_code != 200:
        raise ProbeError(f"Docker Engine API at {url}: GET {path} answered HTTP {resp.status_code}"
                         f"{': ' + _message(resp) if _message(resp) else ''}")
    try:
        return 200, resp.json()
    except ValueError:
        raise ProbeError(f"Docker Engine API at {url}: GET {path} did not answer JSON") from None


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip().splitlines()[0][:200] if resp.text.strip() else ""
    return str(body.get("message", ""))[:200] if isinstance(body, dict) else ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def fetch_running(url: str) -> list[dict[str, Any]]:
    """The inspect documents of the containers running at ``url`` (``GET /containers/json``, then
    ``GET /containers/{id}/json`` each); a container gone between the two is left out."""
    with client(url) as http:
        status, listing = _get(http, url, "/containers/json")
        if status != 200 or not isinstance(listing, list):
            raise ProbeError(f"Docker Engine API at {url}: GET /containers/json did not list containers")
        out = []
        for item in listing:
            cid = item.get("Id") if isinstance(item, dict) else None
            if not isinstance(cid, str) or not cid:
                raise ProbeError(f"Docker Engine API at {url}: a listed container has no Id")
            status, doc = _get(http, url, f"/containers/{quote(cid, safe='')}/json")
            if status == 404:
                continue  # removed since it was listed
            if not isinstance(doc, dict):
                raise ProbeError(f"Docker Engine API at {url}: the inspect document of {cid[:12]} is not an object")
            out.append(doc)
    return out


def running_containers(ctx: Context) -> list[dict[str, Any]] | None:
    """The running containers' inspect documents: those given with the target (``ctx.containers``), else
    those of the Engine API endpoint (read once per target, errors too); None when there is no endpoint."""
    if ctx.containers is not None:
        return ctx.containers
    url = endpoint(ctx)
    if url is None:
        return None
    cached = ctx.cache.get(_CACHE_KEY)
    if cached is None:
        try:
            cached = ctx.cache[_CACHE_KEY] = fetch_running(url)
        except ProbeError as exc:
            cached = ctx.cache[_CACHE_KEY] = exc
    if isinstance(cached, ProbeError):
        raise ProbeError(str(cached))
    return list(cached)


__all__ = ["DEFAULT_SOCKET", "TIMEOUT", "client", "endpoint", "fetch_running", "running_containers"]
