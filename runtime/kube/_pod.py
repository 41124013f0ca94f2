"""The Pod a run becomes, rendered from its run spec in this one place.

The Kubernetes controller sends it to the cluster, and `podium run --backend docker` runs the
very same dict as containers, so a local run tests the spec the cluster gets:

- each skill is a native sidecar (an init container with `restartPolicy: Always`) whose
  startup probe runs `podium skill health`: the agent starts only once every skill answers;
- the agent is the one main container; the Pod mounts no ServiceAccount token;
- every container runs as a fixed non-root UID with a read-only root filesystem, no
  capabilities, no privilege escalation and the runtime's default seccomp profile; it may
  write only to `/workspace` (shared by all) and its own `/tmp`;
- a skill's secret environment comes from the run's Secret, into that skill's container
  only; the model's environment goes to the agent only;
- the run spec and skill config files come from the run's ConfigMap (`render_config_map`).

`podium render RUNSPEC` (`runtime.cli.render`) prints it as YAML.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from protos.handoff import APPROVAL_KEY_ENV, CALL_TOKEN_ENV, CALL_TOKENS_ENV
from runtime.keys import AGENT_TOKENS_SECRET, APPROVAL_KEY_SECRET, RunKeys, call_token_secret
from runtime.kube._quantity import RenderError, parse_cpu, parse_memory
from runtime.layout import GID, MEMORY_DIR, UID, WORKSPACE
from runtime.process import AGENT, STOP_GRACE_S, Placement, Process, agent_process, config_key
from runtime.process import skill_process as _skill_process
from runtime.spec import Resources, RunSpec, SkillSpec
from skills.catalog import BUILTINS, needs

AGENT_CONTAINER = AGENT
PROBE_PERIOD_S = 1
PROBE_TIMEOUT_S = 5


def _podium_version() -> str:
    try:
        return version("podium")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "dev"


@dataclass(frozen=True)
class RenderOptions:
    """How a run spec becomes a Pod, beyond what the spec itself says."""

    image_prefix: str = "podium/"
    """Repository prefix of Podium's own images (`podium/agent`, `podium/memory`, ...)."""
    image_tag: str = field(default_factory=_podium_version)
    """Tag of Podium's own images: by default the installed Podium's version."""
    memory_claim: str | None = "podium-memory"
    """PersistentVolumeClaim holding the memory database (a named volume under Docker);
    None keeps memories for this run only (an emptyDir)."""
    agent_resources: Resources = field(default_factory=lambda: Resources(memory="1Gi"))
    """Limits for the agent container (skills carry their own in the run spec)."""

    def image(self, name: str) -> str:
        return f"{self.image_prefix}{name}:{self.image_tag}"


def pod_name(spec: RunSpec) -> str:
    """`podium-RUNID`, made a valid DNS label."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"podium-{spec.run_id}".lower()).strip("-")
    return name[:63].rstrip("-")


def skill_container_name(skill: SkillSpec) -> str:
    return f"skill-{skill.name}"


def socket_path(skill: SkillSpec) -> str:
    return Placement.pod().socket(skill.name)


def secret_name(spec: RunSpec) -> str:
    """The run's Secret: one key per secret environment variable (skills' and the model's)."""
    return f"{pod_name(spec)}-env"


def keys_secret_name(spec: RunSpec) -> str:
    """The run's keys Secret (runtime.keys.RunKeys.secret_data): the approval key, mounted
    into the skill containers only, and the call tokens, each skill's into that skill and
    the agent's set into the agent only."""
    return f"{pod_name(spec)}-keys"


def render_keys_secret(spec: RunSpec, keys: RunKeys) -> dict[str, Any]:
    """The run's keys Secret with fresh values (make `keys` with `RunKeys.new(spec)`)."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in keys.secret_data().items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": keys_secret_name(spec), "labels": _labels(spec)},
        "type": "Opaque",
        "data": data,
    }


def _key_env(spec: RunSpec, name: str, key: str) -> dict[str, Any]:
    # optional: a Pod rendered without its keys Secret still starts; its skills then take
    # any caller (they say so in their log) and refuse every call that needs an approval.
    ref = {"name": keys_secret_name(spec), "key": key, "optional": True}
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def config_map_name(spec: RunSpec) -> str:
    return f"{pod_name(spec)}-config"


def _resources(res: Resources) -> dict[str, Any]:
    limits: dict[str, str] = {}
    if res.cpu is not None:
        parse_cpu(res.cpu)
        limits["cpu"] = res.cpu
    if res.memory is not None:
        parse_memory(res.memory)
        limits["memory"] = res.memory
    return {"limits": limits} if limits else {}


# ---------------------------------------------------------------- containers


def _security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": GID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(spec: RunSpec, process: Process) -> list[dict[str, Any]]:
    """The process's environment as a container's: plain values, then each name passed by
    reference as a key of the run's Secret."""
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in process.env.items()]
    ref = secret_name(spec)
    env += [
        {"name": n, "valueFrom": {"secretKeyRef": {"name": ref, "key": n, "optional": True}}}
        for n in process.secret_env
    ]
    return env


def _tmp_volume(container: str) -> str:
    return f"tmp-{container}"


def _skill_image(skill: SkillSpec, options: RenderOptions) -> str:
    if skill.image:
        return skill.image
    if skill.source is None:
        raise RenderError(
            f"skill {skill.name!r} has no Python source, so it needs an `image` for "
            "docker/kubernetes (its own entrypoint runs; see protos/README.md)"
        )
    if skill.source in BUILTINS:
        return options.image(BUILTINS[skill.source].image)
    if ".py:" in skill.source or skill.source.endswith(".py"):
        raise RenderError(
            f"skill {skill.name!r} ({skill.source}) needs an image: build one FROM "
            f"{options.image('skill-base')} with the file copied to /skill/ "
            "(see images/skill-base/Dockerfile), and set `image:` in the run spec"
        )
    return options.image("skill-base")  # a module:attr the skill base may already hold


def _spec_mount() -> dict[str, Any]:
    return {
        "name": "config",
        "mountPath": Placement.pod().run_spec,
        "subPath": "run.json",
        "readOnly": True,
    }


def _skill_container(spec: RunSpec, skill: SkillSpec, options: RenderOptions) -> dict[str, Any]:
    name = skill_container_name(skill)
    process = _skill_process(spec, skill, Placement.pod())
    mounts: list[dict[str, Any]] = [
        {"name": "workspace", "mountPath": WORKSPACE},
        {"name": _tmp_volume(name), "mountPath": "/tmp"},
        _spec_mount(),
    ]
    if process.config is not None:
        mounts.append(
            {
                "name": "config",
                "mountPath": process.config,
                "subPath": config_key(skill),
                "readOnly": True,
            }
        )
    if "memory" in process.mounts:
        mounts.append({"name": "memory", "mountPath": MEMORY_DIR})
    assert process.socket is not None
    keys = [
        _key_env(spec, CALL_TOKEN_ENV, call_token_secret(skill.name)),
        _key_env(spec, APPROVAL_KEY_ENV, APPROVAL_KEY_SECRET),
    ]
    container: dict[str, Any] = {
        "name": name,
        "image": _skill_image(skill, options),
        "imagePullPolicy": "IfNotPresent",
    }
    if not process.own_entrypoint:
        container |= {"command": ["podium"], "args": list(process.args)}
    container |= {
        "env": [*_env(spec, process), *keys],
        "volumeMounts": mounts,
        "restartPolicy": "Always",  # a native sidecar: started before, stopped after the agent
    }
    # A sidecar from its own image gets no probe: Kubernetes' gRPC probes speak TCP only and
    # an exec probe would need a program inside the image; the agent waits for every skill's
    # socket and SERVING health answer before its first turn (protos/README.md).
    if not process.own_entrypoint:
        health = ["podium", "skill", "health", "--socket", process.socket]
        container["startupProbe"] = {
            "exec": {"command": health},
            "periodSeconds": PROBE_PERIOD_S,
            "timeoutSeconds": PROBE_TIMEOUT_S,
            "failureThreshold": max(1, math.ceil(spec.limits.readiness_timeout_s)),
        }
    return container | {
        "resources": _resources(skill.resources),
        "securityContext": _security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _agent_container(spec: RunSpec, options: RenderOptions) -> dict[str, Any]:
    process = agent_process(spec, Placement.pod())
    keys = [_key_env(spec, CALL_TOKENS_ENV, AGENT_TOKENS_SECRET)]  # no approval key
    return {
        "name": AGENT_CONTAINER,
        "image": spec.agent_image or options.image("agent"),
        "imagePullPolicy": "IfNotPresent",
        "command": ["podium"],
        "args": list(process.args),
        "env": [*_env(spec, process), *keys],
        "volumeMounts": [
            {"name": "workspace", "mountPath": WORKSPACE},
            {"name": _tmp_volume(AGENT_CONTAINER), "mountPath": "/tmp"},
            _spec_mount(),
        ],
        "resources": _resources(options.agent_resources),
        "securityContext": _security_context(),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


# ---------------------------------------------------------------- the Pod


def render_pod(spec: RunSpec, options: RenderOptions | None = None) -> dict[str, Any]:
    """The Pod (a Kubernetes `v1.Pod` as a plain dict) that runs `spec`."""
    options = options or RenderOptions()
    sidecars = [_skill_container(spec, s, options) for s in spec.skills]
    agent = _agent_container(spec, options)
    volumes: list[dict[str, Any]] = [
        {"name": "workspace", "emptyDir": {}},
        {"name": "config", "configMap": {"name": config_map_name(spec)}},
    ]
    volumes += [{"name": _tmp_volume(c["name"]), "emptyDir": {}} for c in [*sidecars, agent]]
    if any(needs(s.source, "memory-volume") for s in spec.skills):
        if options.memory_claim:
            volumes.append(
                {"name": "memory", "persistentVolumeClaim": {"claimName": options.memory_claim}}
            )
        else:
            volumes.append({"name": "memory", "emptyDir": {}})
    # The whole run's deadline, plus time for skills to start and the agent to record.
    deadline = math.ceil(spec.limits.timeout_s + spec.limits.readiness_timeout_s + 60)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "activeDeadlineSeconds": deadline,
        "terminationGracePeriodSeconds": STOP_GRACE_S,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": GID,
            "fsGroup": GID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": sidecars,
        "containers": [agent],
        "volumes": volumes,
    }
    if spec.sandbox.runtime_class:
        pod_spec["runtimeClassName"] = spec.sandbox.runtime_class
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name(spec), "labels": _labels(spec)},
        "spec": pod_spec,
    }


def render_config_map(spec: RunSpec) -> dict[str, Any]:
    """The run's ConfigMap: `run.json` and each skill's config file (read from its path)."""
    data = {"run.json": spec.model_dump_json(indent=2, exclude_none=True)}
    for skill in spec.skills:
        if skill.config:
            try:
                data[config_key(skill)] = Path(skill.config).read_text(encoding="utf-8")
            except OSError as exc:
                raise RenderError(
                    f"skill {skill.name!r}: cannot read its config file "
                    f"{skill.config}: {exc.strerror}"
                ) from exc
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_map_name(spec), "labels": _labels(spec)},
        "data": data,
    }


def _labels(spec: RunSpec) -> dict[str, str]:
    run = re.sub(r"[^A-Za-z0-9_.-]+", "-", spec.run_id)[:63].strip("-_.")
    return {
        "app.kubernetes.io/name": "podium",
        "app.kubernetes.io/component": "run",
        "podium.dev/run": run,
    }
