"""`launch`: run a spec with the chosen launcher on this machine, showing its events, and
turn the outcome into an exit code (what `podium run` and `podium demo` do)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any, Protocol

from runtime.agent.base import Launcher
from runtime.agent.events import RunResult
from runtime.keys import RunKeys
from runtime.launchers.approvals import Prompt, RunApprover
from runtime.layout import RunPaths
from runtime.spec import RunSpec


class Display(Protocol):
    """Shows a run's events as they come (`runtime.cli.display.TerminalDisplay`)."""

    def show(self, event: dict[str, Any]) -> None: ...


def make_launcher(
    spec: RunSpec,
    workspace: Path,
    backend: str = "local",
    keep: bool = False,
    namespace: str | None = None,
    keys: RunKeys | None = None,
    image_prefix: str | None = None,
) -> Launcher:
    if backend == "kubernetes":
        from runtime.launchers.kubernetes import KubernetesLauncher

        return KubernetesLauncher(spec, workspace, namespace=namespace)
    if backend == "docker":
        from runtime.kube import RenderOptions
        from runtime.launchers.docker import DockerLauncher

        options = RenderOptions(image_prefix=image_prefix) if image_prefix else RenderOptions()
        return DockerLauncher(spec, workspace=workspace, keep=keep, keys=keys, options=options)
    from runtime.launchers.local import LocalLauncher

    return LocalLauncher(spec, workspace, keys=keys)


async def launch(
    spec: RunSpec,
    workspace: Path,
    display: Display,
    backend: str = "local",
    keep: bool = False,
    namespace: str | None = None,
    prompt: Prompt | None = None,
    image_prefix: str | None = None,
) -> int:
    """Run `spec` with a launcher, showing events; returns the process exit code.

    This process holds the run's approval key: calls that need a person's approval are
    asked with `prompt` (a terminal) and/or decided by `podium approve` from elsewhere."""
    keys = RunKeys.new(spec)
    launcher = make_launcher(spec, workspace, backend, keep, namespace, keys, image_prefix)
    approver = None
    if backend != "kubernetes":  # in a cluster the controller holds the run's keys
        spec.policy.resolve_approve(prompt is not None)
        approver = RunApprover(
            spec.run_id, RunPaths(workspace).approvals, keys.approval_key, prompt,
            deliver=getattr(launcher, "deliver_approval", None),  # docker: into the Pod
        )  # fmt: skip
        await approver.start()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: (received.append(s), task.cancel()))
    seen_finish = False
    events = launcher.launch()
    try:
        async for event in events:
            seen_finish = seen_finish or event.get("type") == "run_finished"
            display.show(event)
            if approver is not None:
                approver.on_event(event)
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await events.aclose()  # stops every child, in order, on every path
        if approver is not None:
            await approver.close()
    result = RunResult.load(RunPaths(workspace).result)
    if not seen_finish:
        display.show({"type": "run_finished", **result.to_dict()})
    if received:
        return 128 + received[0]
    return 0 if result.status == "succeeded" else 1
