"""Turn a rendered Pod (see `runtime.kube`) into `docker` argument lists, one container at
a time, the way a kubelet would run it: user, read-only root, capabilities, no new
privileges, seccomp, limits, runtime class, environment (secrets by name only: their
values pass through the docker client's environment, never its command line) and volumes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.kube import parse_cpu, parse_memory

RUNTIME_CLASSES: dict[str, str | None] = {"gvisor": "runsc", "runsc": "runsc", "runc": None}
"""Kubernetes RuntimeClass names and the Docker runtime each maps to (None: the default)."""


class DockerError(Exception):
    """Docker cannot run this Pod (not installed or running, a missing image, an unsupported
    field); the message says what to do."""


@dataclass(frozen=True)
class PodPlan:
    """The Docker names for one run of a Pod, and where the ConfigMap's files are on the host."""

    prefix: str
    """Every container and volume name starts with this (unique per launch)."""
    network: str
    """`bridge`, `host` or `none`: the infra container's network, which the others join."""
    config_dir: Path
    """Host folder holding each ConfigMap's files (`CONFIG_DIR/NAME/KEY`), bind-mounted
    read-only."""
    labels: dict[str, str] = field(default_factory=lambda: {})
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: {})
    """Secret name -> key -> value: what the Pod's `secretKeyRef`s resolve to."""

    def secret(self, ref: Mapping[str, Any]) -> str | None:
        return self.secrets.get(ref["name"], {}).get(ref["key"])

    @property
    def infra(self) -> str:
        return f"{self.prefix}-infra"

    def container(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def volume(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def label_args(self) -> list[str]:
        return [arg for k, v in self.labels.items() for arg in ("--label", f"{k}={v}")]


def docker_runtime(pod: dict[str, Any]) -> str | None:
    """The Docker runtime for the Pod's runtimeClassName (None: Docker's default, runc)."""
    name = pod["spec"].get("runtimeClassName")
    if name is None:
        return None
    if name not in RUNTIME_CLASSES:
        known = ", ".join(sorted(RUNTIME_CLASSES))
        raise DockerError(f"runtimeClassName {name!r} has no Docker runtime (known: {known})")
    return RUNTIME_CLASSES[name]


def shared_volumes(pod: dict[str, Any]) -> list[str]:
    """emptyDir volumes mounted by more than one container: these become Docker volumes
    (the others become a tmpfs in their one container)."""
    spec = pod["spec"]
    counts = Counter(
        m["name"]
        for c in [*spec.get("initContainers", []), *spec["containers"]]
        for m in c.get("volumeMounts", [])
    )
    return [v["name"] for v in spec["volumes"] if "emptyDir" in v and counts[v["name"]] > 1]


def run_args(pod: dict[str, Any], container: dict[str, Any], plan: PodPlan) -> list[str]:
    """`docker run` arguments (without `run` and `--detach`) for one container of the Pod."""
    args = [
        "--name", plan.container(container["name"]),
        *plan.label_args(),
        "--network", f"container:{plan.infra}",
        "--init",  # PID 1 forwards SIGTERM, as the kubelet's would reach the process
        "--pull", "never",
    ]  # fmt: skip
    args += security_args(pod["spec"].get("securityContext", {}), container)
    args += resource_args(container.get("resources", {}))
    runtime = docker_runtime(pod)
    if runtime:
        args += ["--runtime", runtime]
    args += env_args(container.get("env", []), plan)
    args += mount_args(pod, container, plan)
    command: list[str] = container.get("command", [])
    if command:
        args += ["--entrypoint", command[0]]
    args += [container["image"], *command[1:], *container.get("args", [])]
    return args


def security_args(pod_context: dict[str, Any], container: dict[str, Any]) -> list[str]:
    ctx = {**pod_context, **container.get("securityContext", {})}
    args: list[str] = []
    user = ctx.get("runAsUser")
    if ctx.get("runAsNonRoot") and user in (None, 0):
        raise DockerError(
            f"container {container['name']!r}: runAsNonRoot needs a numeric runAsUser other than 0"
        )
    if user is not None:
        group = ctx.get("runAsGroup")
        args += ["--user", f"{user}:{group}" if group is not None else str(user)]
    if ctx.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    caps = ctx.get("capabilities", {})
    args += [a for cap in caps.get("drop", []) for a in ("--cap-drop", cap)]
    args += [a for cap in caps.get("add", []) for a in ("--cap-add", cap)]
    if ctx.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    seccomp = ctx.get("seccompProfile", {}).get("type")
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp not in (None, "RuntimeDefault"):  # RuntimeDefault is Docker's default profile
        raise DockerError(f"seccompProfile {seccomp!r} is not supported by the docker backend")
    return args


def resource_args(resources: dict[str, Any]) -> list[str]:
    limits = resources.get("limits", {})
    args: list[str] = []
    if "cpu" in limits:
        args += ["--cpus", f"{parse_cpu(limits['cpu']):g}"]
    if "memory" in limits:
        args += ["--memory", str(parse_memory(limits["memory"]))]
    return args


def env_args(env: list[dict[str, Any]], plan: PodPlan) -> list[str]:
    """`--env` arguments. A Secret's value is passed on by name only: `--env NAME` makes the
    docker client copy it from its own environment (`secret_values`), so it never appears
    on a command line or in a process listing."""
    args: list[str] = []
    for item in env:
        name = item["name"]
        if "value" in item:
            args += ["--env", f"{name}={item['value']}"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            if plan.secret(ref) is not None:
                args += ["--env", name]
            elif not ref.get("optional", False):
                raise DockerError(f"secret {ref['name']}/{ref['key']} ({name}) is not set")
        else:
            raise DockerError(f"env {name}: only values and secretKeyRef are supported")
    return args


def secret_values(container: dict[str, Any], plan: PodPlan) -> dict[str, str]:
    """What the docker client's environment must add for this container's `--env NAME`s."""
    values: dict[str, str] = {}
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None and (value := plan.secret(ref)) is not None:
            values[item["name"]] = value
    return values


def mount_args(pod: dict[str, Any], container: dict[str, Any], plan: PodPlan) -> list[str]:
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    shared = set(shared_volumes(pod))
    ctx = {**pod["spec"].get("securityContext", {}), **container.get("securityContext", {})}
    uid = ctx.get("runAsUser", 0)
    gid = ctx.get("fsGroup", ctx.get("runAsGroup", 0))
    args: list[str] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        dst = mount["mountPath"]
        readonly = ",readonly" if mount.get("readOnly") else ""
        if "emptyDir" in volume and volume["name"] in shared:
            args += [
                "--mount",
                f"type=volume,src={plan.volume(volume['name'])},dst={dst}{readonly}",
            ]
        elif "emptyDir" in volume:
            # Like a kubelet's emptyDir: writable by everyone, owned by the Pod's user and
            # fsGroup (Docker would otherwise keep the image folder's root ownership).
            args += ["--tmpfs", f"{dst}:rw,nosuid,nodev,mode=1777,uid={uid},gid={gid}"]
        elif "configMap" in volume:
            src = plan.config_dir / volume["configMap"]["name"] / mount.get("subPath", "")
            args += ["--mount", f"type=bind,src={src},dst={dst},readonly"]
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            args += ["--mount", f"type=volume,src={claim},dst={dst}{readonly}"]
        else:
            raise DockerError(f"volume {volume['name']!r}: this kind is not supported by docker")
    return args
