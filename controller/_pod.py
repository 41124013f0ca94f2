"""The one place the controller reaches into runtime's Pod builder (so a move there is one
edit here). The Job's Pod IS runtime's Pod: the controller only adds what a cluster needs."""

from runtime.kube import (
    AGENT_CONTAINER,
    RenderError,
    RenderOptions,
    config_map_name,
    keys_secret_name,
    pod_name,
    render_config_map,
    render_keys_secret,
    render_pod,
    secret_name,
    skill_container_name,
)

__all__ = [
    "AGENT_CONTAINER",
    "RenderError",
    "RenderOptions",
    "config_map_name",
    "keys_secret_name",
    "pod_name",
    "render_config_map",
    "render_keys_secret",
    "render_pod",
    "secret_name",
    "skill_container_name",
]
