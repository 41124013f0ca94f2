"""How the test kubelet runs one container: as a Docker container (the Pod's image, command,
env, mounts, securityContext and limits; host network so everything stays on 127.0.0.1), or
as a local process (the command with its mount paths mapped to host folders)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.launchers._docker_args import docker_runtime, resource_args, security_args

DOCKER = shutil.which(os.environ.get("PODIUM_DOCKER", "docker")) or "docker"
LABEL = "podium.test-kubelet"


class StartError(Exception):
    """The container cannot start; `reason` is the waiting reason the pod status shows."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass
class Spec:
    """One container, resolved: what to run, with what, where."""

    pod: dict[str, Any]
    container: dict[str, Any]
    name: str
    """Unique for this run of the container (docker name, log key)."""
    env: dict[str, str]
    mounts: list[tuple[Path, str, bool]]
    """(host path, container path, read-only)"""
    term_file: Path
    output: Callable[[bytes], None]
    labels: dict[str, str] = field(default_factory=lambda: {})


async def _pump(stream: asyncio.StreamReader | None, output: Callable[[bytes], None]) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        output(chunk)


class LocalContainer:
    """The container's command as a process; absolute paths under a mount are mapped."""

    def __init__(self, spec: Spec, root: Path) -> None:
        self.spec, self.root = spec, root
        self.proc: asyncio.subprocess.Process | None = None
        self.pump: asyncio.Task[None] | None = None
        self.oom = False
        self.mapping = sorted(((p, h) for h, p, _ in spec.mounts), key=lambda m: -len(m[0]))
        self.mapping.append(
            (spec.container.get("terminationMessagePath", "/dev/termination-log"), spec.term_file)
        )

    def map(self, value: str) -> str:
        """A container path (or `--flag=path`) as the host path it is mounted from."""
        prefix, sep, rest = value.partition("=") if value.startswith("-") else ("", "", value)
        for path, host in self.mapping:
            if rest == path or rest.startswith(path.rstrip("/") + "/"):
                return f"{prefix}{sep}{host}{rest[len(path) :]}"
        return value

    async def start(self) -> None:
        c = self.spec.container
        command = [*(c.get("command") or []), *(c.get("args") or [])]
        if not c.get("command"):
            raise StartError(
                "CreateContainerError",
                "the local test kubelet needs a command (it cannot read an image's entrypoint)",
            )
        venv_bin = str(Path(sys.executable).parent)
        # A path is the container's (mapped to its host folder); a bare name is looked up on
        # the host, and never mapped: the checkout may itself live under a mounted path (/tmp).
        exe = (
            self.map(command[0])
            if "/" in command[0]
            else shutil.which(command[0], path=f"{venv_bin}:{os.environ.get('PATH', '')}")
        )
        if exe is None or not Path(exe).exists():
            raise StartError(
                "RunContainerError", f'exec: "{command[0]}": executable file not found in $PATH'
            )
        home = self.root / "home" / self.spec.name
        home.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            **{k: self.map(v) for k, v in self.spec.env.items()},
            "PODIUM_TERMINATION_LOG": str(self.spec.term_file),
        }
        cwd = self.map(c["workingDir"]) if c.get("workingDir") else str(home)
        self.proc = await asyncio.create_subprocess_exec(
            exe,
            *[self.map(a) for a in command[1:]],
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self.pump = asyncio.create_task(_pump(self.proc.stdout, self.spec.output))

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        if self.pump is not None:
            await self.pump
        return 137 if self.oom else (128 - code if code < 0 else code)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    async def stop(self, grace: float) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            await self.proc.wait()

    async def kill(self, oom: bool = False) -> None:
        self.oom = self.oom or oom
        self._signal(signal.SIGKILL)

    async def exec(self, argv: list[str], timeout: float) -> int:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            **{k: self.map(v) for k, v in self.spec.env.items()},
        }
        proc = await asyncio.create_subprocess_exec(
            *[self.map(a) for a in argv],
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return 1

    async def remove(self) -> None:
        await self.kill()


async def docker(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        DOCKER,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 1, "docker timed out"
    return proc.returncode or 0, out.decode(errors="replace")


class DockerContainer:
    """The container under Docker, as the kubelet would run it (host network)."""

    def __init__(self, spec: Spec, root: Path) -> None:
        self.spec, self.root = spec, root
        self.oom = False
        self.started = False
        self.pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        c, pod = self.spec.container, self.spec.pod
        image = c["image"]
        code, _ = await docker("image", "inspect", "--format", "{{.Id}}", image)
        if code != 0:
            raise StartError(
                "ErrImagePull",
                f'failed to pull and unpack image "{image}": not '
                "found locally (the test kubelet never pulls)",
            )
        try:
            args = security_args(pod["spec"].get("securityContext") or {}, c)
            args += resource_args(c.get("resources") or {})
            runtime = docker_runtime(pod)
        except Exception as e:
            raise StartError("CreateContainerConfigError", str(e)) from None
        if runtime:
            args += ["--runtime", runtime]
        args += [
            "--name",
            self.spec.name,
            "--network",
            "host",
            "--init",
            "--pull",
            "never",
            "--label",
            f"{LABEL}={self.spec.labels.get(LABEL, '1')}",
        ]
        for host, path, readonly in self.spec.mounts:
            args += ["--mount", f"type=bind,src={host},dst={path}{',readonly' if readonly else ''}"]
        term = c.get("terminationMessagePath", "/dev/termination-log")
        args += ["--mount", f"type=bind,src={self.spec.term_file},dst={term}"]
        if c.get("workingDir"):
            args += ["--workdir", c["workingDir"]]
        # Values reach the docker client through its environment, never its command line.
        args += [a for name in self.spec.env for a in ("--env", name)]
        client_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.spec.env}
        for key in ("DOCKER_HOST", "DOCKER_CONFIG", "HOME"):
            if key in os.environ:
                client_env.setdefault(key, os.environ[key])
        command = c.get("command") or []
        if command:
            args += ["--entrypoint", command[0]]
        args += [image, *command[1:], *(c.get("args") or [])]
        code, out = await docker("run", "--detach", *args, env=client_env)
        if code != 0:
            raise StartError("RunContainerError", out.strip()[-500:])
        self.started = True
        logs = await asyncio.create_subprocess_exec(
            DOCKER,
            "logs",
            "--follow",
            self.spec.name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.pump = asyncio.create_task(_pump(logs.stdout, self.spec.output))

    async def wait(self) -> int:
        code, out = await docker("wait", self.spec.name, timeout=86400)
        if self.pump is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pump, 5)
        _, oom = await docker("inspect", "--format", "{{.State.OOMKilled}}", self.spec.name)
        self.oom = self.oom or oom.strip() == "true"
        try:
            return 137 if self.oom else int(out.strip())
        except ValueError:
            return 1 if code else 0

    async def stop(self, grace: float) -> None:
        if self.started:
            await docker("stop", "--time", str(max(0, int(grace))), self.spec.name)

    async def kill(self, oom: bool = False) -> None:
        self.oom = self.oom or oom
        if self.started:
            await docker("kill", self.spec.name)

    async def exec(self, argv: list[str], timeout: float) -> int:
        code, _ = await docker("exec", self.spec.name, *argv, timeout=timeout)
        return code

    async def remove(self) -> None:
        if self.started:
            await docker("rm", "--force", "--volumes", self.spec.name)
        if self.pump is not None:
            self.pump.cancel()
