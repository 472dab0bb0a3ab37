"""The objects of a running cluster the workload checks read, listed with the official Kubernetes client from a
kubeconfig (all namespaces, page by page) and turned into the API's own JSON shape; anything that stops the
listing (a bad kubeconfig, an unreachable server, 401/403) is a ProbeError naming the server."""

from __future__ import annotations

import re
from typing import Any

from threatstryker.posture.context import ProbeError

#: (kind, API class, list method) of what is read, in this order.
LISTS: tuple[tuple[str, str, str], ...] = (
    ("Namespace", "CoreV1Api", "list_namespace"),
    ("Pod", "CoreV1Api", "list_pod_for_all_namespaces"),
    ("Deployment", "AppsV1Api", "list_deployment_for_all_namespaces"),
    ("DaemonSet", "AppsV1Api", "list_daemon_set_for_all_namespaces"),
    ("StatefulSet", "AppsV1Api", "list_stateful_set_for_all_namespaces"),
    ("ReplicaSet", "AppsV1Api", "list_replica_set_for_all_namespaces"),
    ("Job", "BatchV1Api", "list_job_for_all_namespaces"),
    ("CronJob", "BatchV1Api", "list_cron_job_for_all_namespaces"),
    ("NetworkPolicy", "NetworkingV1Api", "list_network_policy_for_all_namespaces"),
)
_API_VERSIONS = {"CoreV1Api": "v1", "AppsV1Api": "apps/v1", "BatchV1Api": "batch/v1",
                 "NetworkingV1Api": "networking.k8s.io/v1"}
#: Objects per page, and the (connect, read) timeouts of each request in seconds.
PAGE = 500
TIMEOUT = (10, 60)


def _short(exc: BaseException) -> str:
    """A one-line reason from a urllib3/OS error (``[Errno 111] Connection refused`` rather than the pool's
    whole repr)."""
    text = str(getattr(exc, "reason", None) or exc)
    m = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if m:
        return m.group(0).strip()
    return (text.splitlines()[0][:160] if text else "") or type(exc).__name__


def read_cluster(kubeconfig: str, context: str | None = None) -> list[dict[str, Any]]:
    """Namespaces, Pods, the workload controllers and NetworkPolicies of the cluster, as JSON objects."""
    try:
        import urllib3
        from kubernetes import client, config
        from kubernetes.client.rest import ApiException
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ProbeError(f"the Kubernetes client is not installed ({exc})") from None
    cfg = client.Configuration()
    cfg.retries = 1  # one retry, not urllib3's three (each logged as a warning) against a dead server
    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False,
                                            client_configuration=cfg)
    except Exception as exc:  # ConfigException, OSError, YAMLError, ValueError: the file is the problem
        raise ProbeError(f"kubeconfig {kubeconfig}: cannot use it ({_short(exc)})") from None
    server = str(api.configuration.host or "?")
    out: list[dict[str, Any]] = []
    try:
        apis = {name: getattr(client, name)(api) for name in _API_VERSIONS}
        for kind, api_name, method in LISTS:
            call = getattr(apis[api_name], method)
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"limit": PAGE, "_request_timeout": TIMEOUT}
                if token:
                    kwargs["_continue"] = token
                try:
                    page = call(**kwargs)
                except ApiException as exc:
                    what = {401: "unauthorized", 403: "forbidden"}.get(exc.status or 0, "refused")
                    raise ProbeError(f"Kubernetes API {server}: listing {kind} objects {what} "
                                     f"({exc.status} {exc.reason})") from None
                except urllib3.exceptions.HTTPError as exc:
                    raise ProbeError(f"Kubernetes API {server}: unreachable ({_short(exc)})") from None
                except ValueError as exc:  # the client could not read the answer as the API's objects
                    raise ProbeError(f"Kubernetes API {server}: unexpected {kind} list ({_short(exc)})") from None
                for item in api.sanitize_for_serialization(page.items or []):
                    # list items come without kind and apiVersion; the list says what they are
                    item["kind"], item["apiVersion"] = kind, item.get("apiVersion") or _API_VERSIONS[api_name]
                    out.append(item)
                token = getattr(page.metadata, "_continue", None) if page.metadata is not None else None
                if not token:
                    break
    finally:
        api.close()
    return out


__all__ = ["LISTS", "read_cluster"]
