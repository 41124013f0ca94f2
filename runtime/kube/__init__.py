"""Kubernetes objects a run becomes: its Pod and its ConfigMap, rendered by pure functions.

The controller, `podium render` and the docker backend all use these builders. Nothing here
imports the agent (loop, models, gRPC) or a provider SDK (an import-linter contract says so).
"""

from runtime.kube._pod import (
    AGENT_CONTAINER,
    RenderOptions,
    config_map_name,
    keys_secret_name,
    pod_name,
    render_config_map,
    render_keys_secret,
    render_pod,
    secret_name,
    skill_container_name,
    socket_path,
)
from runtime.kube._quantity import RenderError, parse_cpu, parse_memory

__all__ = [
    "AGENT_CONTAINER",
    "RenderError",
    "RenderOptions",
    "config_map_name",
    "keys_secret_name",
    "parse_cpu",
    "parse_memory",
    "pod_name",
    "render_config_map",
    "render_keys_secret",
    "render_pod",
    "secret_name",
    "skill_container_name",
    "socket_path",
]
