"""The typed probes, by the ``type`` a check's probe names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from threatstryker.posture.context import Context
from threatstryker.posture.model import ProbeResult

from .components import component_file, component_present, component_setting, file_modes, validate_component
from .config import config_value
from .containers import docker_container, validate_container
from .files import file_content, file_exists, file_mode
from .image import image_config, image_match
from .mounts import mount_option
from .packages import package
from .process import process_flag
from .structured import json_key, yaml_key
from .sysctl import sysctl
from .systemd import systemd_unit
from .workloads import k8s_namespace, k8s_workload, validate_namespace, validate_workload

Probe = Callable[[Context, dict[str, Any]], ProbeResult]

PROBES: dict[str, Probe] = {
    "file_exists": file_exists,
    "file_mode": file_mode,
    "file_content": file_content,
    "config_value": config_value,
    "sysctl": sysctl,
    "package": package,
    "mount_option": mount_option,
    "systemd_unit": systemd_unit,
    "json_key": json_key,
    "yaml_key": yaml_key,
    "process_flag": process_flag,
    "image_config": image_config,
    "image_match": image_match,
    "component_present": component_present,
    "component_setting": component_setting,
    "component_file": component_file,
    "file_modes": file_modes,
    "docker_container": docker_container,
    "k8s_workload": k8s_workload,
    "k8s_namespace": k8s_namespace,
}

#: Fields each probe type requires (checked when check files load).
REQUIRED: dict[str, tuple[str, ...]] = {
    "file_exists": ("path",),
    "file_mode": ("path",),
    "file_content": ("regex",),
    "config_value": ("paths", "key", "expect"),
    "sysctl": ("key", "expect"),
    "package": ("names",),
    "mount_option": ("mount_point", "option"),
    "systemd_unit": ("unit", "expect"),
    "json_key": ("path", "key", "expect"),
    "yaml_key": ("path", "key", "expect"),
    "process_flag": ("process", "flag", "expect"),
    "image_config": ("key", "expect"),
    "image_match": ("field", "regex"),
    "component_present": ("component",),
    "component_setting": ("component", "flag", "expect"),
    "component_file": ("component",),
    "file_modes": ("paths",),
    "docker_container": ("key", "expect"),
    "k8s_workload": ("scope", "key", "expect"),
    "k8s_namespace": ("require",),
    "manual": (),
    "all": ("probes",),
    "any": ("probes",),
}

#: Checks of a probe's own fields beyond REQUIRED (ValueError when malformed), run when check files load.
VALIDATORS: dict[str, Callable[[dict[str, Any]], None]] = {
    "component_present": validate_component,
    "component_setting": validate_component,
    "component_file": validate_component,
    "docker_container": validate_container,
    "k8s_workload": validate_workload,
    "k8s_namespace": validate_namespace,
}

__all__ = ["PROBES", "REQUIRED", "VALIDATORS", "Probe"]
