"""`DockerLauncher`: a run as real containers, from the very Pod, ConfigMap and Secrets
Kubernetes would get: `runtime.kube` renders them, `run_pod` / `DockerPod` run them as a
kubelet would (see `_docker_pod`). The agent and the skills read the run spec from the
mounted ConfigMap file, as in a cluster (nothing puts a copy in the Pod's workspace); the host
workspace is copied into the Pod's workspace volume first (owned by the Pod's UID) and back at
the end, so `result.json` lands on the host with the caller's ownership. Approval decisions,
signed on the host by `launch()`'s `RunApprover`, go into that volume while the Pod runs
(`deliver_approval`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.agent.events import RunError, RunResult
from runtime.keys import RunKeys
from runtime.kube import (
    RenderError,
    RenderOptions,
    config_map_name,
    keys_secret_name,
    render_config_map,
    render_pod,
    secret_name,
)
from runtime.launchers._docker_pod import DockerError, DockerPod, PodStatus, run_pod
from runtime.layout import RunPaths
from runtime.process import Placement, processes
from runtime.spec import RunSpec

__all__ = ["DockerError", "DockerLauncher", "DockerPod", "PodStatus", "run_pod"]

_BUILD_HINT = "scripts/build-images.sh"


@dataclass
class DockerLauncher:
    spec: RunSpec
    workspace: Path
    keep: bool = False
    """Leave the containers and volumes behind for debugging (their names go to stderr)."""
    keys: RunKeys | None = None
    """The run's approval key and call tokens (fresh ones when not given)."""
    options: RenderOptions = field(default_factory=RenderOptions)
    docker: str = field(default_factory=lambda: os.environ.get("PODIUM_DOCKER", "docker"))
    """The docker client (`PODIUM_DOCKER` overrides)."""

    _runner: DockerPod | None = field(default=None, init=False, repr=False)

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.workspace)

    def secrets(self, keys: RunKeys) -> dict[str, dict[str, str]]:
        """The run's two Secrets, as a cluster would hold them: the environment every process
        takes by reference (from our environment, what is set of it), and the run's keys."""
        names = {n for p in processes(self.spec, Placement.pod()) for n in p.secret_env}
        return {
            secret_name(self.spec): {n: os.environ[n] for n in sorted(names) if n in os.environ},
            keys_secret_name(self.spec): keys.secret_data(),
        }

    async def launch(self) -> AsyncGenerator[dict[str, Any]]:
        """Run the Pod; yield the agent's events; clean up on every path."""
        paths = self.paths.create()
        self.spec.policy.resolve_approve(False)  # unset: launch() resolves it first if it can ask
        self.spec.save(paths.spec)  # the host's record; the Pod reads the ConfigMap's copy
        paths.result.unlink(missing_ok=True)
        self.keys = self.keys or RunKeys.new(self.spec)
        try:
            pod = render_pod(self.spec, self.options)
            config_map = render_config_map(self.spec)["data"]
        except RenderError as exc:
            _record(self.spec, paths, PodStatus("Failed", reason="DockerError", message=str(exc)))
            return
        runner = DockerPod(
            pod,
            {config_map_name(self.spec): config_map},
            self.secrets(self.keys),
            network=self.spec.sandbox.network,
            workspace=self.workspace,
            logs=paths.podium / "logs",
            keep=self.keep,
            docker=self.docker,
            build_hint=self._build_hint,
        )
        self._runner = runner
        try:
            async for event in runner.run():
                yield event
        finally:
            self._runner = None
            _record(self.spec, paths, runner.status)

    async def deliver_approval(self, name: str, text: str) -> None:
        """`RunApprover.deliver`: put a decision file into the running Pod's
        `.podium/approvals/`, where the agent's `FileApprover` waits (OSError when the Pod
        is not running)."""
        folder = RunPaths(Path()).approvals
        if self._runner is None:
            raise OSError("the run's Pod is not running")
        try:
            await self._runner.put_file(f"{folder.as_posix()}/{name}", text)
        except DockerError as exc:
            raise OSError(f"delivering the decision to the Pod: {exc}") from exc

    def _build_hint(self, image: str) -> str:
        prefix, tag = self.options.image_prefix, f":{self.options.image_tag}"
        if image.startswith(prefix) and image.endswith(tag):
            name = image.removeprefix(prefix).removesuffix(tag)
            return f"{image} (build it: {_BUILD_HINT} {name})"
        return f"{image} (pull or build it: docker pull {image})"


def _record(spec: RunSpec, paths: RunPaths, status: PodStatus) -> None:
    """A result for a run whose agent wrote none, saying what happened to the Pod."""
    if paths.result.exists():
        return
    if status.reason and status.reason != "Error":
        error = RunError(status.reason, status.message)
    else:
        error = RunError(
            "AgentCrashed",
            f"the agent exited without writing a result; see {paths.podium / 'logs/agent.log'}",
        )
    RunResult("failed", error=error, run_id=spec.run_id).save(paths.result)
