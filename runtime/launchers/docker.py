"""`DockerLauncher`: a run as real containers, from the very Pod spec Kubernetes would get.

`runtime.kube` renders the Pod; this runs it the way a kubelet would: an infra container
owns the network namespace (like the Pod sandbox), every other container joins it and mounts
one `/workspace` volume; the skills (native sidecars) start first and must pass their startup
probe (run with `docker exec`) before the agent starts; the agent's stdout is the live event
stream. The host workspace is copied into the volume first (owned by the Pod's UID) and back
at the end, so `result.json` lands on the host with the caller's ownership.

Every container and volume made here is removed on every exit path, Ctrl-C included, unless
`keep=True`. All are labelled `podium.run=RUN_ID`, so after a `kill -9`:
`docker rm -f $(docker ps -aq --filter label=podium.run)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.agent.events import RunError, RunResult
from runtime.keys import RunKeys
from runtime.kube import (
    RenderError,
    RenderOptions,
    keys_secret_name,
    render_config_map,
    render_pod,
)
from runtime.launchers._docker_args import (
    DockerError,
    PodPlan,
    client_env,
    docker_runtime,
    run_args,
    shared_volumes,
)
from runtime.launchers._follow import EVENT_LINE_LIMIT, SidecarExited, follow
from runtime.layout import GID, UID, RunPaths
from runtime.spec import RunSpec

__all__ = ["DockerError", "DockerLauncher"]

_PAUSE = ["python3", "-c", "import signal; signal.pause()"]
_SEED = [
    "python3",
    "-c",
    "import sys, tarfile; t = tarfile.open(fileobj=sys.stdin.buffer, mode='r|'); "
    "t.extractall('/workspace', **({'filter': 'data'} if hasattr(tarfile, 'data_filter') "
    "else {}))",
]
_BUILD_HINT = "scripts/build-images.sh"


@dataclass
class _Out:
    code: int
    stdout: str
    stderr: str


class _SkillFailedError(Exception):
    def __init__(self, name: str, code: int | None, tail: str) -> None:
        self.name, self.code, self.tail = name, code, tail
        why = f"exited with code {code}" if code is not None else "never became healthy"
        super().__init__(f"skill {name!r} {why} before it was ready; its last log lines:\n{tail}")


@dataclass
class DockerLauncher:
    spec: RunSpec
    workspace: Path
    keep: bool = False
    keys: RunKeys | None = None
    """The run's approval key and call tokens (fresh ones when not given)."""
    """Leave the containers and volumes behind for debugging (their names go to stderr)."""
    options: RenderOptions = field(default_factory=RenderOptions)
    docker: str = field(default_factory=lambda: os.environ.get("PODIUM_DOCKER", "docker"))
    """The docker client (`PODIUM_DOCKER` overrides)."""
    stop_grace_s: float = 10.0

    def __post_init__(self) -> None:
        self._plan: PodPlan | None = None
        self._containers: list[str] = []
        self._skills: list[str] = []
        self._volumes: list[str] = []
        self._seeded = False
        self._keys: dict[str, dict[str, str]] = {}

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.workspace)

    async def launch(self) -> AsyncGenerator[dict[str, Any]]:
        """Run the Pod; yield the agent's events; clean up on every path."""
        paths = self.paths.create()
        (paths.podium / "logs").mkdir(exist_ok=True)
        self.spec.policy.resolve_approve(False)  # unset: launch() resolves it first if it can ask
        self.spec.save(paths.spec)
        paths.result.unlink(missing_ok=True)
        failure: RunError | None = None
        config_dir = Path(tempfile.mkdtemp(prefix="podium-docker-"))
        try:
            self.keys = self.keys or RunKeys.new(self.spec)
            self._keys = {keys_secret_name(self.spec): self.keys.secret_data()}
            pod = self._render(config_dir)
            await self._preflight(pod)
            await self._start_infra(pod)
            skills = pod["spec"].get("initContainers", [])
            for c in skills:
                name = self._plan_().container(c["name"])
                self._containers.append(name)
                self._skills.append(name)
                await self._docker(
                    "run", "--detach", *run_args(pod, c, self._plan_(), self._keys),
                    env=client_env(c, self._keys),
                )  # fmt: skip
                yield {"type": "skill_started", "name": c["name"].removeprefix("skill-"),
                       "container": name}  # fmt: skip
            await asyncio.gather(*(self._wait_healthy(c) for c in skills))
            async with contextlib.aclosing(self._run_agent(pod)) as events:
                async for event in events:
                    yield event
        except _SkillFailedError as exc:
            failure = RunError("SkillExited", str(exc))
            yield {"type": "skill_exited", "name": exc.name, "code": exc.code, "log_tail": exc.tail}
        except (DockerError, RenderError) as exc:
            failure = RunError("DockerError", str(exc))
        except TimeoutError:
            failure = RunError("DeadlineExceeded", "the Pod ran past its activeDeadlineSeconds")
        finally:
            await _uninterrupted(self._finish(failure, config_dir))

    # ------------------------------------------------------------ setup

    def _plan_(self) -> PodPlan:
        assert self._plan is not None
        return self._plan

    def _render(self, config_dir: Path) -> dict[str, Any]:
        pod = render_pod(self.spec, self.options)
        for key, text in render_config_map(self.spec)["data"].items():
            (config_dir / key).write_text(text, encoding="utf-8")
            (config_dir / key).chmod(0o644)  # readable by the Pod's UID
        config_dir.chmod(0o755)
        name = pod["metadata"]["name"]
        self._plan = PodPlan(
            prefix=f"{name}-{secrets.token_hex(3)}",
            network=self.spec.sandbox.network,
            config_dir=config_dir,
            labels={"podium.run": self.spec.run_id, "podium.pod": name},
        )
        return pod

    async def _preflight(self, pod: dict[str, Any]) -> None:
        if shutil.which(self.docker) is None:
            raise DockerError(
                f"Docker is not installed (no {self.docker!r} on PATH): install Docker "
                "(on Debian/Ubuntu as root: scripts/setup-docker.sh), or use --backend local"
            )
        version = await self._docker("version", "--format", "{{.Server.Version}}", check=False)
        if version.code != 0:
            said = (version.stderr.strip().splitlines() or ["no answer"])[-1]
            raise DockerError(
                f"Docker is not running ({said}): start the daemon (`sudo systemctl start "
                "docker`, or as root scripts/setup-docker.sh)"
            )
        containers = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
        images = sorted({c["image"] for c in containers})
        found = await asyncio.gather(
            *(self._docker("image", "inspect", "--format", "{{.Id}}", i, check=False)
              for i in images)
        )  # fmt: skip
        missing = [i for i, out in zip(images, found, strict=True) if out.code != 0]
        if missing:
            raise DockerError(
                "missing image(s): " + "; ".join(self._build_hint(i) for i in missing)
            )
        runtime = docker_runtime(pod)
        if runtime:
            info = await self._docker("info", "--format", "{{json .Runtimes}}")
            if f'"{runtime}"' not in info.stdout:
                raise DockerError(
                    f"runtimeClassName {pod['spec']['runtimeClassName']} needs Docker's "
                    f"{runtime!r} runtime, which this daemon does not have: register it "
                    "(as root: scripts/setup-docker.sh installs gVisor and registers runsc)"
                )

    def _build_hint(self, image: str) -> str:
        prefix, tag = self.options.image_prefix, f":{self.options.image_tag}"
        if image.startswith(prefix) and image.endswith(tag):
            name = image.removeprefix(prefix).removesuffix(tag)
            return f"{image} (build it: {_BUILD_HINT} {name})"
        return f"{image} (pull or build it: docker pull {image})"

    async def _start_infra(self, pod: dict[str, Any]) -> None:
        """Create the shared volumes and the infra container; copy the workspace in."""
        plan = self._plan_()
        for name in shared_volumes(pod):
            volume = plan.volume(name)
            await self._docker("volume", "create", *plan.label_args(), volume)
            self._volumes.append(volume)
        agent = pod["spec"]["containers"][0]
        args = [
            "run", "--detach", "--name", plan.infra, *plan.label_args(),
            "--network", plan.network, "--init", "--pull", "never", "--read-only",
            "--user", f"{UID}:{GID}", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--mount", f"type=volume,src={plan.volume('workspace')},dst=/workspace",
        ]  # fmt: skip
        if plan.network != "host":
            args += ["--hostname", pod["metadata"]["name"]]
        args += ["--entrypoint", _PAUSE[0], agent["image"], *_PAUSE[1:]]
        await self._docker(*args)
        self._containers.append(plan.infra)
        archive = plan.config_dir / "workspace.tar"
        _pack(self.workspace, archive)
        with archive.open("rb") as stdin:
            await self._docker("exec", "--interactive", plan.infra, *_SEED, stdin=stdin)
        archive.unlink()
        self._seeded = True

    async def _wait_healthy(self, container: dict[str, Any]) -> None:
        """Run the startup probe until it passes, as the kubelet would (but polled faster).
        A sidecar without a probe (its image's own entrypoint, protos/README.md) counts as
        started once it runs, as in a kubelet: the agent's own wait for its socket and
        SERVING health is its readiness check, so nothing is exec'd inside its image."""
        name = self._plan_().container(container["name"])
        skill = container["name"].removeprefix("skill-")
        probe = container.get("startupProbe")
        if probe is None:
            await self._ensure_running(name, skill)
            return
        deadline = time.monotonic() + probe["periodSeconds"] * probe["failureThreshold"]
        while True:
            out = await self._docker(
                "exec", name, *probe["exec"]["command"], check=False,
                timeout=probe.get("timeoutSeconds", 5) + 5,
            )  # fmt: skip
            if out.code == 0:
                return
            await self._ensure_running(name, skill)
            if time.monotonic() > deadline:
                raise _SkillFailedError(skill, None, await self._log_tail(name))
            await asyncio.sleep(0.2)

    async def _ensure_running(self, name: str, skill: str) -> None:
        state = await self._docker(
            "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", name
        )
        running, code = state.stdout.split()
        if running != "true":
            raise _SkillFailedError(skill, int(code), await self._log_tail(name))

    # ------------------------------------------------------------ the agent

    async def _run_agent(self, pod: dict[str, Any]) -> AsyncGenerator[dict[str, Any]]:
        plan = self._plan_()
        agent = pod["spec"]["containers"][0]
        name = plan.container(agent["name"])
        self._containers.append(name)
        with (self.paths.podium / "logs" / "agent.log").open("w", encoding="utf-8") as log:
            proc = await asyncio.create_subprocess_exec(
                self.docker, "run", *run_args(pod, agent, plan, self._keys),
                env={**os.environ, **client_env(agent, self._keys)},
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log,
                limit=EVENT_LINE_LIMIT,
            )  # fmt: skip
            assert proc.stdout is not None
            exits = {
                c["name"]: self._wait_exit(plan.container(c["name"]))
                for c in pod["spec"].get("initContainers", [])
            }
            try:
                events = follow(proc.stdout, exits)
                async with (
                    asyncio.timeout(pod["spec"]["activeDeadlineSeconds"]),
                    contextlib.aclosing(events),
                ):
                    async for item in events:
                        if isinstance(item, SidecarExited):
                            yield {
                                "type": "skill_exited",
                                "name": item.name.removeprefix("skill-"),
                                "code": item.code,
                                "log_tail": await self._log_tail(plan.container(item.name)),
                            }
                        else:
                            yield item
                await proc.wait()
            finally:
                if proc.returncode is None:  # interrupted: let the agent record, then go
                    await self._docker("stop", "--time", f"{self.stop_grace_s:g}", name,
                                       check=False, timeout=self.stop_grace_s + 10)  # fmt: skip
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()

    async def _wait_exit(self, container: str) -> int:
        out = await self._docker("wait", container, check=False, timeout=None)
        return int(out.stdout.strip() or -1)

    # ------------------------------------------------------------ teardown

    async def _finish(self, failure: RunError | None, config_dir: Path) -> None:
        plan, paths = self._plan, self.paths
        try:
            if plan is not None and self._containers:
                if not self.keep and self._skills:
                    await self._docker(
                        "stop", "--time", "5", *self._skills, check=False, timeout=30
                    )
                if self._seeded:
                    out = await self._docker(
                        "cp", f"{plan.infra}:/workspace/.", str(self.workspace), check=False
                    )
                    if out.code != 0 and failure is None:
                        failure = RunError(
                            "DockerError", f"copying the workspace back: {out.stderr}"
                        )
                for name in self._skills:
                    logs = await self._docker("logs", name, check=False)
                    short = name.removeprefix(plan.prefix + "-").removeprefix("skill-")
                    (paths.podium / "logs" / f"{short}.log").write_text(
                        logs.stdout + logs.stderr, encoding="utf-8"
                    )
        finally:
            if not paths.result.exists():
                failure = failure or RunError(
                    "AgentCrashed",
                    "the agent exited without writing a result; see "
                    f"{paths.podium / 'logs' / 'agent.log'}",
                )
                RunResult("failed", error=failure, run_id=self.spec.run_id).save(paths.result)
            await self._remove(config_dir)

    async def _remove(self, config_dir: Path) -> None:
        if self.keep and self._containers:
            print(
                f"podium: kept containers {' '.join(self._containers)} and volumes "
                f"{' '.join(self._volumes)}; remove them with: docker rm -f "
                f"{' '.join(self._containers)} && docker volume rm {' '.join(self._volumes)}",
                file=sys.stderr,
            )
            return
        if self._containers:
            await self._docker("rm", "--force", "--volumes", *self._containers, check=False)
        if self._volumes:
            await self._docker("volume", "rm", "--force", *self._volumes, check=False)
        self._containers, self._volumes = [], []
        shutil.rmtree(config_dir, ignore_errors=True)

    # ------------------------------------------------------------ helpers

    async def _log_tail(self, container: str, lines: int = 20) -> str:
        out = await self._docker("logs", "--tail", str(lines), container, check=False)
        return (out.stdout + out.stderr).strip()

    async def _docker(
        self,
        *args: str,
        check: bool = True,
        timeout: float | None = 120,
        stdin: Any = None,
        env: dict[str, str] | None = None,
    ) -> _Out:
        """Run one docker command (an argument list, never a shell) and collect its output.
        `env` adds to the client's environment (secret values for its `--env NAME`)."""
        proc = await asyncio.create_subprocess_exec(
            self.docker, *args, env={**os.environ, **env} if env else None,
            stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise DockerError(
                f"`docker {' '.join(args[:2])}` did not finish in {timeout}s"
            ) from None
        result = _Out(
            proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )
        if check and result.code != 0:
            raise DockerError(f"`docker {' '.join(args[:2])} ...` failed: {result.stderr.strip()}")
        return result


async def _uninterrupted(work: Any) -> None:
    """Finish `work` even if we are cancelled meanwhile (a second Ctrl-C must not leak
    containers); re-raise the cancellation afterwards."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


def _pack(workspace: Path, archive: Path) -> None:
    """Tar the host workspace for the volume, owned by the Pod's UID; skip live sockets and
    the launcher's own logs."""

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if info.name.startswith(("./.podium/sockets/", "./.podium/logs")):
            return None
        info.uid, info.gid, info.uname, info.gname = UID, GID, "", ""
        return info

    with tarfile.open(archive, "w") as tar:
        tar.add(workspace, arcname=".", filter=owned)
