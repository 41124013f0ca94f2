"""One Pod's life on the test kubelet: volumes, init containers in order (native sidecars
start and must pass their startupProbe before the next container), the main containers, then
the sidecars stopped; probes; every transition written to the pod's status."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.kube._containers import LABEL, DockerContainer, LocalContainer, Spec, StartError
from tests.kube._kclient import Client, KubeError
from tests.kube._volumes import ConfigError, Materialiser, MountError, service_env

if TYPE_CHECKING:
    from tests.kube._kubelet import Kubelet

Container = LocalContainer | DockerContainer
TERMINATION_LIMIT = 4096


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sidecar(c: dict[str, Any]) -> bool:
    return c.get("restartPolicy") == "Always"


class PodRun:
    def __init__(self, kubelet: Kubelet, api: Client, pod: dict[str, Any]) -> None:
        self.kubelet, self.api, self.pod = kubelet, api, pod
        meta = pod["metadata"]
        self.ns, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.root = kubelet.root / "pods" / self.uid
        self.spec: dict[str, Any] = pod["spec"]
        self.states: dict[str, dict[str, Any]] = {}
        self.containers: dict[str, Container] = {}
        self.phase = "Pending"
        self.conditions: dict[str, str] = {"PodScheduled": "True"}
        self.started_at = now()
        self.timeline: dict[str, float] = {"pod": time.time()}
        """Wall-clock times (time.time()): `pod` when this kubelet took the pod, then each
        container's name when it started (its latest start)."""
        self.reason: str | None = None
        self.message: str | None = None
        self.stopping = False
        self.terminating = False
        self.task: asyncio.Task[None] | None = None
        for c in [*self.spec.get("initContainers", []), *self.spec.get("containers", [])]:
            self.states[c["name"]] = {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}},
            }

    # --- status -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        init = [self.states[c["name"]] for c in self.spec.get("initContainers", [])]
        main = [self.states[c["name"]] for c in self.spec.get("containers", [])]
        stamp = self.started_at
        status: dict[str, Any] = {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": stamp,
            "qosClass": self.pod.get("status", {}).get("qosClass", "BestEffort"),
            "conditions": [
                {"type": t, "status": v, "lastProbeTime": None, "lastTransitionTime": stamp}
                for t, v in self.conditions.items()
            ],
            "containerStatuses": main,
        }
        if init:
            status["initContainerStatuses"] = init
        if self.reason:
            status["reason"] = self.reason
        if self.message:
            status["message"] = self.message
        return status

    async def push(self) -> None:
        """Write the status (a merge patch of /status: lists are replaced whole)."""
        if self.name in self.kubelet.gone:
            return
        with contextlib.suppress(KubeError, aiohttp.ClientError):
            await self.api.patch(
                "v1", "pods", self.ns, self.name, {"status": self.status()}, sub="status"
            )

    def _ready(self) -> None:
        main = [self.states[c["name"]] for c in self.spec.get("containers", [])]
        sidecars = [
            self.states[c["name"]] for c in self.spec.get("initContainers", []) if _sidecar(c)
        ]
        ready = "True" if all(s["ready"] for s in [*main, *sidecars]) and main else "False"
        self.conditions["ContainersReady"] = self.conditions["Ready"] = ready

    # --- the pod's life ---------------------------------------------------------------------

    async def run(self) -> None:
        self.conditions.update(
            {
                "PodReadyToStartContainers": "False",
                "Initialized": "False",
                "Ready": "False",
                "ContainersReady": "False",
            }
        )
        await self.push()
        deadline = self.spec.get("activeDeadlineSeconds")
        timer = (
            asyncio.get_running_loop().call_later(float(deadline), self._deadline)
            if deadline
            else None
        )
        try:
            mounts = await self._volumes()
            self.conditions["PodReadyToStartContainers"] = "True"
            for c in self.spec.get("initContainers", []):
                if _sidecar(c):
                    await self._start_sidecar(c, mounts)
                elif await self._run_to_end(c, mounts) != 0:
                    return await self._finish("Failed")
            self.conditions["Initialized"] = "True"
            mains = self.spec.get("containers", [])
            codes = await asyncio.gather(*(self._run_main(c, mounts) for c in mains))
            await self._stop_sidecars()
            await self._finish("Succeeded" if all(code == 0 for code in codes) else "Failed")
        finally:
            if timer is not None:
                timer.cancel()

    def _deadline(self) -> None:
        self.reason, self.message = (
            "DeadlineExceeded",
            "Pod was active on the node longer than the specified deadline",
        )
        self.kubelet.spawn(self.stop(0, "Failed"))

    async def _finish(self, phase: str) -> None:
        self.phase = phase
        self._ready()
        self.conditions["Ready"] = self.conditions["ContainersReady"] = "False"
        await self.push()

    async def _volumes(self) -> dict[str, Path]:
        materialiser = Materialiser(self.api, self.pod, self.root, self.kubelet.root / "claims")
        while True:
            try:
                return await materialiser.volumes()
            except MountError as e:
                self.message = f"MountVolume.SetUp failed: {e}"
                await self.push()
                await asyncio.sleep(0.5)
                materialiser = Materialiser(
                    self.api, self.pod, self.root, self.kubelet.root / "claims"
                )

    async def _create(self, c: dict[str, Any], mounts: dict[str, Path]) -> Container:
        """Resolve env and mounts and start the container, retrying as the kubelet does while
        the image is missing or a referenced Secret/ConfigMap is not there yet."""
        state = self.states[c["name"]]
        backoff = 0
        while True:
            materialiser = Materialiser(self.api, self.pod, self.root, self.kubelet.root / "claims")
            try:
                if c.get("image") in self.kubelet.pull_fails:
                    raise StartError(
                        "ErrImagePull", f'failed to pull image "{c.get("image")}": injected'
                    )
                env = await materialiser.env(c, service_env(self.kubelet.fake.port))
                container = self._container(c, mounts, env)
                await container.start()
            except (StartError, ConfigError) as e:
                reason = e.reason if isinstance(e, StartError) else "CreateContainerConfigError"
                if reason == "ErrImagePull" and backoff:
                    reason, message = (
                        "ImagePullBackOff",
                        f'Back-off pulling image "{c.get("image")}"',
                    )
                else:
                    message = e.message if isinstance(e, StartError) else str(e)
                state["state"] = {"waiting": {"reason": reason, "message": message}}
                await self.push()
                backoff += 1
                await asyncio.sleep(min(2.0, 0.3 * backoff))
                continue
            self.containers[c["name"]] = container
            self.timeline[c["name"]] = time.time()
            state.update(
                {
                    "state": {"running": {"startedAt": now()}},
                    "started": True,
                    "containerID": f"{self.kubelet.mode}://{container.spec.name}",
                    "imageID": c.get("image", ""),
                }
            )
            return container

    def _container(
        self, c: dict[str, Any], mounts: dict[str, Path], env: dict[str, str]
    ) -> Container:
        name = c["name"]
        term = self.root / "termination" / name
        term.parent.mkdir(parents=True, exist_ok=True)
        term.write_bytes(b"")
        term.chmod(0o666)
        binds: list[tuple[Path, str, bool]] = []
        for m in c.get("volumeMounts") or []:
            host = mounts[m["name"]] / m.get("subPath", "")
            binds.append((host, m["mountPath"], bool(m.get("readOnly"))))
        self.kubelet.fake.logs.write(self.ns, self.name, name, b"")
        spec = Spec(
            self.pod,
            c,
            f"k8s-{self.name}-{name}-{secrets.token_hex(3)}",
            env,
            binds,
            term,
            lambda chunk: self.kubelet.fake.logs.write(self.ns, self.name, name, chunk),
            {LABEL: self.kubelet.id},
        )
        kind = DockerContainer if self.kubelet.mode == "docker" else LocalContainer
        return kind(spec, self.root)

    async def _exited(self, c: dict[str, Any], container: Container, code: int) -> None:
        state = self.states[c["name"]]
        reason = "OOMKilled" if container.oom else ("Completed" if code == 0 else "Error")
        message = container.spec.term_file.read_bytes()[:TERMINATION_LIMIT].decode(errors="replace")
        if (
            not message
            and code != 0
            and c.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            lines = self.kubelet.fake.logs.text(self.ns, self.name, c["name"]).splitlines()[-80:]
            message = "\n".join(lines)[-2048:]
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": reason,
            "startedAt": state["state"].get("running", {}).get("startedAt", now()),
            "finishedAt": now(),
            "containerID": state.get("containerID", ""),
        }
        if message:
            terminated["message"] = message
        state.update({"state": {"terminated": terminated}, "ready": False, "started": False})
        self.kubelet.fake.logs.close(self.ns, self.name, c["name"])
        await container.remove()

    async def _run_to_end(self, c: dict[str, Any], mounts: dict[str, Path]) -> int:
        container = await self._create(c, mounts)
        await self.push()
        code = await container.wait()
        await self._exited(c, container, code)
        await self.push()
        return code

    async def _run_main(self, c: dict[str, Any], mounts: dict[str, Path]) -> int:
        policy = self.spec.get("restartPolicy", "Always")
        while True:
            container = await self._create(c, mounts)
            self.phase = "Running"
            probing = asyncio.create_task(self._readiness(c, container))
            await self.push()
            code = await container.wait()
            probing.cancel()
            await self._exited(c, container, code)
            await self.push()
            if self.stopping or policy == "Never" or (policy == "OnFailure" and code == 0):
                return code
            self.states[c["name"]]["restartCount"] += 1
            self.states[c["name"]]["lastState"] = self.states[c["name"]]["state"]
            await asyncio.sleep(0.5)

    async def _start_sidecar(self, c: dict[str, Any], mounts: dict[str, Path]) -> None:
        container = await self._create(c, mounts)
        await self.push()
        probe = c.get("startupProbe")
        if probe and not await self._until_passes(c, container, probe):
            await container.kill()
        self.states[c["name"]]["ready"] = not c.get("readinessProbe")
        await self.push()
        self.kubelet.supervise(self, asyncio.create_task(self._sidecar_life(c, mounts, container)))

    async def _sidecar_life(
        self, c: dict[str, Any], mounts: dict[str, Path], container: Container
    ) -> None:
        while True:
            probing = asyncio.create_task(self._readiness(c, container))
            code = await container.wait()
            probing.cancel()
            await self._exited(c, container, code)
            if self.stopping:
                return
            state = self.states[c["name"]]
            state["restartCount"] += 1
            state["lastState"] = state["state"]
            state["state"] = {
                "waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting"}
            }
            await self.push()
            await asyncio.sleep(min(5.0, 0.5 * state["restartCount"]))
            if self.stopping:
                return
            container = await self._create(c, mounts)
            self.states[c["name"]]["ready"] = not c.get("readinessProbe")
            await self.push()

    async def _stop_sidecars(self) -> None:
        self.stopping = True
        for c in reversed(self.spec.get("initContainers", [])):
            container = self.containers.get(c["name"])
            if (
                _sidecar(c)
                and container is not None
                and "running" in self.states[c["name"]]["state"]
            ):
                await container.stop(2)
        await self.kubelet.settle(self)

    async def stop(self, grace: float, phase: str | None = None) -> None:
        """Stop every container (pod deleted, deadline, injected), then the pod's run."""
        self.stopping = True
        for name, container in list(self.containers.items()):
            if "running" in self.states[name]["state"]:
                await container.stop(grace)
        await self.kubelet.settle(self)
        task = self.task
        if task is not None and task is not asyncio.current_task() and not task.done():
            if phase is not None:
                task.cancel()
            await asyncio.wait({task}, timeout=10)
            task.cancel()
        for name, state in self.states.items():
            if "terminated" not in state["state"]:
                state["state"] = {
                    "terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now()}
                }
                state["ready"] = False
                self.kubelet.fake.logs.close(self.ns, self.name, name)
                container = self.containers.get(name)
                if container is not None:
                    await container.remove()
        if phase is not None:
            await self._finish(phase)

    # --- probes -----------------------------------------------------------------------------

    async def _until_passes(
        self, c: dict[str, Any], container: Container, probe: dict[str, Any]
    ) -> bool:
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        failures = 0
        while failures < int(probe.get("failureThreshold", 3)):
            if await self._probe(container, probe):
                return True
            failures += 1
            await asyncio.sleep(float(probe.get("periodSeconds", 10)) / self.kubelet.probe_speedup)
        return False

    async def _readiness(self, c: dict[str, Any], container: Container) -> None:
        probe = c.get("readinessProbe")
        state = self.states[c["name"]]
        if not probe:
            state["ready"] = True
            self._ready()
            return
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        while True:
            ok = await self._probe(container, probe)
            if ok != state["ready"]:
                state["ready"] = ok
                self._ready()
                await self.push()
            await asyncio.sleep(float(probe.get("periodSeconds", 10)) / self.kubelet.probe_speedup)

    async def _probe(self, container: Container, probe: dict[str, Any]) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        started = time.monotonic()
        try:
            if "exec" in probe:
                ok = await container.exec(probe["exec"]["command"], timeout) == 0
            elif "httpGet" in probe:
                get = probe["httpGet"]
                scheme = get.get("scheme", "HTTP").lower()
                url = f"{scheme}://127.0.0.1:{get['port']}{get.get('path', '/')}"
                async with (
                    aiohttp.ClientSession() as s,
                    s.get(url, ssl=False, timeout=aiohttp.ClientTimeout(total=timeout)) as r,
                ):
                    ok = 200 <= r.status < 400
            elif "tcpSocket" in probe:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", probe["tcpSocket"]["port"]), timeout
                )
                writer.close()
                ok = True
            elif "grpc" in probe:
                ok = await _grpc_health(probe["grpc"], timeout)
            else:
                ok = False
        except (OSError, TimeoutError, aiohttp.ClientError):
            ok = False
        self.kubelet.probes.append(
            (self.name, container.spec.container["name"], ok, time.monotonic() - started)
        )
        return ok


async def _grpc_health(grpc_probe: dict[str, Any], timeout: float) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_probe['port']}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(  # pyright: ignore[reportAttributeAccessIssue]
                health_pb2.HealthCheckRequest(service=grpc_probe.get("service", "")),
                timeout=timeout,
            )
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING
