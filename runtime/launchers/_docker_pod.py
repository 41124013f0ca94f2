"""`DockerPod`: run one Pod (a `v1.Pod` as a dict) as Docker containers, the way a kubelet
would, given the data of the ConfigMaps and Secrets it refers to. `run_pod` runs it to the
end and returns its status; the docker backend (`DockerLauncher`) and a test kubelet that
plays the Pods a controller creates both use it.

An infra container owns the network namespace (like the Pod sandbox); every other container
joins it and mounts the Pod's volumes (shared emptyDirs become Docker volumes, ConfigMaps
read-only bind mounts of their files, Secret keys environment variables passed by name).
Sidecars (init containers with `restartPolicy: Always`) start first, in order, and must pass
their startup probe (run with `docker exec`) before the main container starts; the main
container's stdout is the live event stream, and its termination message file
(`terminationMessagePath`) is read back as Kubernetes would. Optionally a host folder seeds
the `workspace` volume and receives it back at the end.

Every container and volume made here is removed on every exit path, Ctrl-C included, unless
`keep=True`. All carry the Pod's `podium.dev/run` label as `podium.run=RUN`, so after a
`kill -9`: `docker rm -f $(docker ps -aq --filter label=podium.run)`.
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
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runtime.launchers._docker_args import (
    DockerError,
    PodPlan,
    docker_runtime,
    run_args,
    secret_values,
    shared_volumes,
)
from runtime.launchers._follow import EVENT_LINE_LIMIT, SidecarExited, follow
from runtime.layout import GID, UID, WORKSPACE
from runtime.process import STOP_GRACE_S

__all__ = ["DockerError", "DockerPod", "PodStatus", "run_pod"]

_PAUSE = ["python3", "-c", "import signal; signal.pause()"]
_SEED = [
    "python3",
    "-c",
    "import sys, tarfile; t = tarfile.open(fileobj=sys.stdin.buffer, mode='r|'); "
    f"t.extractall({WORKSPACE!r}, **({{'filter': 'data'}} if hasattr(tarfile, 'data_filter') "
    "else {}))",
]
# Writes stdin to WORKSPACE/ARGV1 whole: a temporary name in the same folder, then a rename.
_PUT = [
    "python3",
    "-c",
    "import os, sys; p = os.path.join(sys.argv[1], sys.argv[2]); "
    "d, n = os.path.split(p); t = os.path.join(d, '.' + n + '.tmp'); "
    "os.makedirs(d, exist_ok=True); f = open(t, 'wb'); f.write(sys.stdin.buffer.read()); "
    "f.flush(); os.fsync(f.fileno()); f.close(); os.replace(t, p)",
    WORKSPACE,
]
# Never seeded from the host: live sockets, the launcher's logs, and run.json (the Pod reads
# its spec from the ConfigMap, as in a cluster; the agent keeps a copy beside the result).
_NOT_SEEDED = ("./.podium/sockets/", "./.podium/logs", "./.podium/run.json")


@dataclass
class PodStatus:
    """What became of the Pod, as its status would say."""

    phase: Literal["Pending", "Running", "Succeeded", "Failed"] = "Pending"
    exit_codes: dict[str, int | None] = field(default_factory=lambda: {})
    """Each container's exit code (None: it never ran or never ended)."""
    termination_message: str = ""
    """The main container's termination message (its `terminationMessagePath` file)."""
    reason: str = ""
    """Why it failed: `SkillExited`, `DockerError`, `DeadlineExceeded`, ..."""
    message: str = ""


@dataclass
class _Out:
    code: int
    stdout: str
    stderr: str


class _SidecarFailedError(Exception):
    def __init__(self, name: str, code: int | None, tail: str) -> None:
        self.name, self.code, self.tail = name, code, tail
        why = f"exited with code {code}" if code is not None else "never became healthy"
        skill = name.removeprefix("skill-")
        super().__init__(f"skill {skill!r} {why} before it was ready; its last log lines:\n{tail}")


@dataclass
class DockerPod:
    pod: dict[str, Any]
    config_maps: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: {})
    """ConfigMap name -> its data (key -> file text)."""
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: {})
    """Secret name -> its data (key -> value). Values reach containers through the docker
    client's environment, never a command line."""
    network: str = "bridge"
    """`bridge`, `host` (tests stay on loopback) or `none`: the infra container's network."""
    workspace: Path | None = None
    """A host folder copied into the `workspace` volume first and back at the end."""
    logs: Path | None = None
    """Where each container's log is saved at the end (`NAME.log`)."""
    keep: bool = False
    """Leave containers and volumes behind for debugging (their names go to stderr)."""
    docker: str = field(default_factory=lambda: os.environ.get("PODIUM_DOCKER", "docker"))
    build_hint: Callable[[str], str] = lambda image: f"{image} (docker pull {image})"
    """What to say about a missing image."""
    status: PodStatus = field(default_factory=PodStatus)

    def __post_init__(self) -> None:
        name = self.pod["metadata"]["name"]
        run = self.pod["metadata"].get("labels", {}).get("podium.dev/run", name)
        self._dir = Path(tempfile.mkdtemp(prefix="podium-pod-"))
        self.plan = PodPlan(
            prefix=f"{name}-{secrets.token_hex(3)}",
            network=self.network,
            config_dir=self._dir,
            labels={"podium.run": run, "podium.pod": name},
            secrets=self.secrets,
        )
        self._containers: list[str] = []
        self._sidecars: list[str] = []
        self._volumes: list[str] = []
        self._seeded = False

    async def run(self) -> AsyncGenerator[dict[str, Any]]:
        """Run the Pod; yield sidecar starts and exits and the main container's events."""
        spec = self.pod["spec"]
        try:
            self._write_config_maps()
            await self._preflight()
            await self._start_infra()
            self.status.phase = "Running"
            for c in spec.get("initContainers", []):
                name = self.plan.container(c["name"])
                self._containers.append(name)
                self._sidecars.append(name)
                await self._docker("run", "--detach", *run_args(self.pod, c, self.plan),
                                   env=secret_values(c, self.plan))  # fmt: skip
                yield {"type": "skill_started", "name": c["name"].removeprefix("skill-"),
                       "container": name}  # fmt: skip
            await asyncio.gather(*(self._wait_healthy(c) for c in spec.get("initContainers", [])))
            async with contextlib.aclosing(self._run_main()) as events:
                async for event in events:
                    yield event
        except _SidecarFailedError as exc:
            self._fail("SkillExited", str(exc))
            self.status.exit_codes[exc.name] = exc.code
            yield {"type": "skill_exited", "name": exc.name.removeprefix("skill-"),
                   "code": exc.code, "log_tail": exc.tail}  # fmt: skip
        except DockerError as exc:
            self._fail("DockerError", str(exc))
        except TimeoutError:
            self._fail("DeadlineExceeded", "the Pod ran past its activeDeadlineSeconds")
        finally:
            await _uninterrupted(self._finish())

    def _fail(self, reason: str, message: str) -> None:
        self.status.phase, self.status.reason, self.status.message = "Failed", reason, message

    # ------------------------------------------------------------ setup

    def _write_config_maps(self) -> None:
        self._dir.chmod(0o755)
        for volume in self.pod["spec"]["volumes"]:
            if "configMap" not in volume:
                continue
            name = volume["configMap"]["name"]
            if name not in self.config_maps:
                raise DockerError(f"ConfigMap {name!r} (volume {volume['name']!r}) was not given")
            folder = self._dir / name
            folder.mkdir(exist_ok=True)
            folder.chmod(0o755)
            for key, text in self.config_maps[name].items():
                (folder / key).write_text(text, encoding="utf-8")
                (folder / key).chmod(0o644)  # readable by the Pod's UID

    async def _preflight(self) -> None:
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
        spec = self.pod["spec"]
        images = sorted(
            {c["image"] for c in [*spec.get("initContainers", []), *spec["containers"]]}
        )
        found = await asyncio.gather(
            *(self._docker("image", "inspect", "--format", "{{.Id}}", i, check=False)
              for i in images)
        )  # fmt: skip
        missing = [i for i, out in zip(images, found, strict=True) if out.code != 0]
        if missing:
            raise DockerError("missing image(s): " + "; ".join(self.build_hint(i) for i in missing))
        runtime = docker_runtime(self.pod)
        if runtime:
            info = await self._docker("info", "--format", "{{json .Runtimes}}")
            if f'"{runtime}"' not in info.stdout:
                raise DockerError(
                    f"runtimeClassName {spec['runtimeClassName']} needs Docker's {runtime!r} "
                    "runtime, which this daemon does not have: register it (as root: "
                    "scripts/setup-docker.sh installs gVisor and registers runsc)"
                )

    async def _start_infra(self) -> None:
        """Create the shared volumes and the infra container; seed the workspace volume."""
        plan = self.plan
        for name in shared_volumes(self.pod):
            volume = plan.volume(name)
            await self._docker("volume", "create", *plan.label_args(), volume)
            self._volumes.append(volume)
        main = self.pod["spec"]["containers"][0]
        args = [
            "run", "--detach", "--name", plan.infra, *plan.label_args(),
            "--network", plan.network, "--init", "--pull", "never", "--read-only",
            "--user", f"{UID}:{GID}", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
        ]  # fmt: skip
        seeded = self.workspace is not None and "workspace" in shared_volumes(self.pod)
        if seeded:
            args += ["--mount", f"type=volume,src={plan.volume('workspace')},dst={WORKSPACE}"]
        if plan.network != "host":
            args += ["--hostname", self.pod["metadata"]["name"]]
        args += ["--entrypoint", _PAUSE[0], main["image"], *_PAUSE[1:]]
        await self._docker(*args)
        self._containers.append(plan.infra)
        if seeded and self.workspace is not None:
            archive = self._dir / "workspace.tar"
            _pack(self.workspace, archive)
            with archive.open("rb") as stdin:
                await self._docker("exec", "--interactive", plan.infra, *_SEED, stdin=stdin)
            archive.unlink()
            self._seeded = True

    async def put_file(self, path: str, text: str) -> None:
        """Write `text` to `path` (relative) in the running Pod's workspace volume, whole:
        `docker exec` in the infra container (it mounts the volume and is on no network
        path, so this works in every `network` mode), writing a temporary name and renaming
        it, so a reader never sees half a file."""
        if not self._seeded:
            raise DockerError("the Pod's workspace volume is not running")
        await self._docker("exec", "--interactive", self.plan.infra, *_PUT, path,
                           data=text.encode())  # fmt: skip

    async def _wait_healthy(self, container: dict[str, Any]) -> None:
        """Run the startup probe until it passes, as the kubelet would (but polled faster).
        A sidecar without a probe (its image's own entrypoint, protos/README.md) counts as
        started once it runs, as in a kubelet: the agent's own wait for its socket and
        SERVING health is its readiness check, so nothing is exec'd inside its image."""
        name = self.plan.container(container["name"])
        probe = container.get("startupProbe")
        if probe is None:
            await self._ensure_running(container["name"])
            return
        deadline = time.monotonic() + probe["periodSeconds"] * probe["failureThreshold"]
        while True:
            out = await self._docker(
                "exec", name, *probe["exec"]["command"], check=False,
                timeout=probe.get("timeoutSeconds", 5) + 5,
            )  # fmt: skip
            if out.code == 0:
                return
            await self._ensure_running(container["name"])
            if time.monotonic() > deadline:
                raise _SidecarFailedError(container["name"], None, await self._tail(name))
            await asyncio.sleep(0.2)

    async def _ensure_running(self, container: str) -> None:
        name = self.plan.container(container)
        state = await self._docker(
            "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", name
        )
        running, code = state.stdout.split()
        if running != "true":
            raise _SidecarFailedError(container, int(code), await self._tail(name))

    # ------------------------------------------------------------ the main container

    async def _run_main(self) -> AsyncGenerator[dict[str, Any]]:
        plan, spec = self.plan, self.pod["spec"]
        main = spec["containers"][0]
        name = plan.container(main["name"])
        self._containers.append(name)
        message = self._dir / "termination-log"
        message.write_text("")
        message.chmod(0o666)  # written by the Pod's UID
        path = main.get("terminationMessagePath", "/dev/termination-log")
        args = run_args(self.pod, main, plan)
        at = args.index("--name")  # the file goes in before the image and its arguments
        args[at:at] = ["--mount", f"type=bind,src={message},dst={path}"]
        if self.logs is not None:
            self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs or self._dir) / f"{main['name']}.log"
        with log.open("w", encoding="utf-8") as stderr:
            proc = await asyncio.create_subprocess_exec(
                self.docker, "run", *args,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                limit=EVENT_LINE_LIMIT, env={**os.environ, **secret_values(main, plan)},
            )  # fmt: skip
            assert proc.stdout is not None
            exits = {
                c["name"]: self._wait_exit(plan.container(c["name"]))
                for c in spec.get("initContainers", [])
            }
            try:
                events = follow(proc.stdout, exits)
                async with (
                    asyncio.timeout(spec.get("activeDeadlineSeconds")),
                    contextlib.aclosing(events),
                ):
                    async for item in events:
                        if isinstance(item, SidecarExited):
                            self.status.exit_codes[item.name] = item.code
                            yield {
                                "type": "skill_exited",
                                "name": item.name.removeprefix("skill-"),
                                "code": item.code,
                                "log_tail": await self._tail(plan.container(item.name)),
                            }
                        else:
                            yield item
                code = await proc.wait()
                self.status.exit_codes[main["name"]] = code
                if code == 0:
                    self.status.phase = "Succeeded"
                else:
                    self._fail("Error", f"container {main['name']!r} exited with code {code}")
            finally:
                if proc.returncode is None:  # interrupted: let it record, then go
                    grace = spec.get("terminationGracePeriodSeconds", STOP_GRACE_S)
                    await self._docker("stop", "--time", str(grace), name, check=False,
                                       timeout=grace + 10)  # fmt: skip
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
                self.status.termination_message = message.read_text(errors="replace")[:4096]

    async def _wait_exit(self, container: str) -> int:
        out = await self._docker("wait", container, check=False, timeout=None)
        return int(out.stdout.strip() or -1)

    # ------------------------------------------------------------ teardown

    async def _finish(self) -> None:
        plan = self.plan
        try:
            if self._sidecars and not self.keep:
                grace = self.pod["spec"].get("terminationGracePeriodSeconds", STOP_GRACE_S)
                await self._docker("stop", "--time", str(grace), *self._sidecars, check=False,
                                   timeout=grace + 20)  # fmt: skip
            if self._seeded and self.workspace is not None:
                out = await self._docker(
                    "cp", f"{plan.infra}:{WORKSPACE}/.", str(self.workspace), check=False
                )
                if out.code != 0 and self.status.phase != "Failed":
                    self._fail("DockerError", f"copying the workspace back: {out.stderr}")
            if self.logs is not None:
                self.logs.mkdir(parents=True, exist_ok=True)
                for name in self._sidecars:
                    out = await self._docker("logs", name, check=False)
                    short = name.removeprefix(plan.prefix + "-").removeprefix("skill-")
                    (self.logs / f"{short}.log").write_text(out.stdout + out.stderr, "utf-8")
        finally:
            await self._remove()

    async def _remove(self) -> None:
        if self.keep and self._containers:
            print(
                f"podium: kept containers {' '.join(self._containers)} and volumes "
                f"{' '.join(self._volumes)}; remove them with: docker rm -f "
                f"{' '.join(self._containers)} && docker volume rm {' '.join(self._volumes)}",
                file=sys.stderr,
            )
        else:
            if self._containers:
                await self._docker("rm", "--force", "--volumes", *self._containers, check=False)
            if self._volumes:
                await self._docker("volume", "rm", "--force", *self._volumes, check=False)
            self._containers, self._volumes = [], []
        shutil.rmtree(self._dir, ignore_errors=True)

    # ------------------------------------------------------------ helpers

    async def _tail(self, container: str, lines: int = 20) -> str:
        out = await self._docker("logs", "--tail", str(lines), container, check=False)
        return (out.stdout + out.stderr).strip()

    async def _docker(
        self,
        *args: str,
        check: bool = True,
        timeout: float | None = 120,
        stdin: Any = None,
        env: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> _Out:
        """Run one docker command (an argument list, never a shell) and collect its output;
        `stdin` (a file) or `data` is its input."""
        if data is not None:
            stdin = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(
            self.docker, *args,
            stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env} if env else None,
        )  # fmt: skip
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate(data)
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


async def run_pod(
    pod: dict[str, Any],
    config_maps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]] | None = None,
    *,
    network: str = "bridge",
    workspace: Path | None = None,
    logs: Path | None = None,
    keep: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> PodStatus:
    """Run `pod` to its end with Docker, as a kubelet would; return its status (phase, exit
    codes, termination message). `config_maps` and `secrets` map each name the Pod refers to
    to its data."""
    runner = DockerPod(pod, config_maps, secrets or {}, network=network, workspace=workspace,
                       logs=logs, keep=keep)  # fmt: skip
    async with contextlib.aclosing(runner.run()) as events:
        async for event in events:
            if on_event is not None:
                on_event(event)
    return runner.status


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
    """Tar the host workspace for the volume, owned by the Pod's UID (see `_NOT_SEEDED`)."""

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if info.name.startswith(_NOT_SEEDED):
            return None
        info.uid, info.gid, info.uname, info.gname = UID, GID, "", ""
        return info

    with tarfile.open(archive, "w") as tar:
        tar.add(workspace, arcname=".", filter=owned)
