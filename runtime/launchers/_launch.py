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
) -> Launcher:
    if backend == "kubernetes":
        from runtime.launchers.kubernetes import KubernetesLauncher

        return KubernetesLauncher(spec, workspace, namespace=namespace)
    if backend == "docker":
        from runtime.launchers.docker import DockerLauncher

        return DockerLauncher(spec, workspace=workspace, keep=keep)
    from runtime.launchers.local import LocalLauncher

    return LocalLauncher(spec, workspace)


async def launch(
    spec: RunSpec,
    workspace: Path,
    display: Display,
    backend: str = "local",
    keep: bool = False,
    namespace: str | None = None,
) -> int:
    """Run `spec` with a launcher, showing events; returns the process exit code."""
    launcher = make_launcher(spec, workspace, backend, keep, namespace)
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
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await events.aclose()  # stops every child, in order, on every path
    result = RunResult.load(RunPaths(workspace).result)
    if not seen_finish:
        display.show({"type": "run_finished", **result.to_dict()})
    if received:
        return 128 + received[0]
    return 0 if result.status == "succeeded" else 1
