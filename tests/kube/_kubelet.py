"""The test kubelet: one node ("fake-node") that binds every Pod to itself and runs it (Docker
or local processes), plus the Job controller; both talk to the fake API over HTTPS, in a
thread of their own."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from tests.kube._auth import User
from tests.kube._containers import DOCKER, LABEL
from tests.kube._fake import FakeKube
from tests.kube._jobs import JobController
from tests.kube._kclient import Client, KubeError
from tests.kube._pods import PodRun

NODE = "fake-node"


def docker_available() -> bool:
    if shutil.which(DOCKER) is None:
        return False
    try:
        done = subprocess.run(
            [DOCKER, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class Kubelet:
    """Runs the fake cluster's Pods for real; see the package docstring."""

    def __init__(
        self, fake: FakeKube, mode: str = "auto", *, jobs: bool = True, probe_speedup: float = 1.0
    ) -> None:
        if mode == "auto":
            mode = "docker" if docker_available() else "local"
        if mode not in ("docker", "local"):
            raise ValueError(f"mode must be docker, local or auto, not {mode!r}")
        self.fake, self.mode, self.jobs = fake, mode, jobs
        self.probe_speedup = probe_speedup
        """Divide probe periods by this (tests that do not measure start-up go faster)."""
        self.id = secrets.token_hex(4)
        # Short: a pod's sockets live at ROOT/pods/UID/volumes/workspace/.podium/sockets/NAME,
        # and a unix socket path is at most 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="fk-", dir="/tmp"))
        self.root.chmod(0o755)
        self.pull_fails: set[str] = set()
        """Images whose pull fails (ErrImagePull, then ImagePullBackOff), on top of Docker's own."""
        self.probes: list[tuple[str, str, bool, float]] = []
        """Every probe run: (pod, container, passed, seconds)."""
        self.runs: dict[str, PodRun] = {}
        self.gone: set[str] = set()
        self._side: dict[str, list[asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.token = f"node-{secrets.token_hex(12)}"
        fake.tokens.fixed[self.token] = User(
            f"system:node:{NODE}", ("system:nodes", "system:masters")
        )
        self.job_token = f"jobs-{secrets.token_hex(12)}"
        fake.tokens.fixed[self.job_token] = User(
            "system:serviceaccount:kube-system:job-controller", ("system:masters",)
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._main: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Kubelet:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), daemon=True, name="kubelet"
        )
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the test kubelet did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._main = loop.create_task(self._run(ready))
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(self._main)
        loop.run_until_complete(asyncio.sleep(0.3))  # TLS connections finish closing
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def stop(self) -> None:
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(main.cancel)
        if self._thread is not None:
            self._thread.join(60)
        if self.mode == "docker":
            listed = subprocess.run(
                [DOCKER, "ps", "-aq", "--filter", f"label={LABEL}={self.id}"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            ids = listed.stdout.split()
            if ids:
                subprocess.run(
                    [DOCKER, "rm", "-f", *ids], capture_output=True, timeout=120, check=False
                )
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Kubelet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _run(self, ready: threading.Event) -> None:
        async with (
            Client(self.fake.url, str(self.fake.ca_path), self.token) as api,
            Client(self.fake.url, str(self.fake.ca_path), self.job_token) as jobs_api,
        ):
            await self._register(api)
            tasks = [asyncio.create_task(self._pods(api))]
            if self.jobs:
                tasks.append(asyncio.create_task(JobController(jobs_api).run()))
            ready.set()
            try:
                await asyncio.gather(*tasks)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(
                    *[r.stop(1) for r in self.runs.values()], return_exceptions=True
                )
                for run in self.runs.values():
                    if run.task is not None:
                        run.task.cancel()
                await asyncio.gather(
                    *[r.task for r in self.runs.values() if r.task], return_exceptions=True
                )
                others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in others:
                    t.cancel()
                await asyncio.gather(*others, return_exceptions=True)

    async def _register(self, api: Client) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE,
                "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux"},
            },
        }
        with contextlib.suppress(KubeError):
            await api.create("v1", "nodes", None, node)
        status = {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0-fake", "containerRuntimeVersion": self.mode},
        }
        await api.patch("v1", "nodes", None, NODE, {"status": status}, sub="status")

    # --- pods -------------------------------------------------------------------------------

    async def _pods(self, api: Client) -> None:
        async for kind, pod in api.watch("v1", "pods"):
            meta, spec = pod["metadata"], pod.get("spec", {})
            uid = meta["uid"]
            if kind == "DELETED":
                self.gone.add(meta["name"])
                run = self.runs.pop(uid, None)
                if run is not None:
                    self.spawn(self._kill(run))
                continue
            if spec.get("nodeName") not in (None, NODE):
                continue
            if (
                pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
                and uid not in self.runs
            ):
                continue
            if uid not in self.runs and not meta.get("deletionTimestamp"):
                if spec.get("nodeName") is None:
                    await api.patch(
                        "v1", "pods", meta["namespace"], meta["name"], {"spec": {"nodeName": NODE}}
                    )
                    pod["spec"]["nodeName"] = NODE
                self.gone.discard(meta["name"])
                run = PodRun(self, api, pod)
                self.runs[uid] = run
                run.task = asyncio.create_task(run.run())
            elif meta.get("deletionTimestamp") and uid in self.runs:
                run = self.runs[uid]
                if not run.terminating:
                    run.terminating = True
                    done = run.phase in ("Succeeded", "Failed")
                    grace = 0.0 if done else float(meta.get("deletionGracePeriodSeconds", 30))
                    self.spawn(self._terminate(api, run, grace))
            elif meta.get("deletionTimestamp") and uid not in self.runs:
                await api.delete(
                    "v1", "pods", meta["namespace"], meta["name"], gracePeriodSeconds=0
                )

    async def _terminate(self, api: Client, run: PodRun, grace: float) -> None:
        """A pod deleted gracefully: stop its containers, then finish the deletion."""
        await run.stop(grace)
        await api.delete("v1", "pods", run.ns, run.name, gracePeriodSeconds=0)

    async def _kill(self, run: PodRun) -> None:
        await run.stop(1)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def supervise(self, run: PodRun, task: asyncio.Task[None]) -> None:
        self._side.setdefault(run.uid, []).append(task)

    async def settle(self, run: PodRun) -> None:
        """Wait until the pod's sidecar supervisors are done (after their containers stop)."""
        tasks = self._side.pop(run.uid, [])
        done, pending = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
        for t in pending:
            t.cancel()
        del done

    # --- fault injection (any thread) -------------------------------------------------------

    def kill(self, namespace: str, pod: str, container: str, oom: bool = False) -> None:
        """Kill a running container (SIGKILL; with `oom` it reports OOMKilled, exit 137)."""
        run = next(
            (r for r in list(self.runs.values()) if (r.ns, r.name) == (namespace, pod)), None
        )
        if run is None or container not in run.containers or self._loop is None:
            raise KeyError(f"no running container {container!r} in pod {namespace}/{pod}")
        done = asyncio.run_coroutine_threadsafe(run.containers[container].kill(oom), self._loop)
        done.result(30)

    def run_of(self, namespace: str, pod: str) -> PodRun | None:
        return next(
            (r for r in list(self.runs.values()) if (r.ns, r.name) == (namespace, pod)), None
        )

    def __repr__(self) -> str:
        return f"Kubelet(mode={self.mode!r}, pods={len(self.runs)})"


def pod_summary(pod: dict[str, Any]) -> str:
    """One line for assertion messages: phase and each container's state."""
    status = pod.get("status", {})
    parts = [status.get("phase", "?")]
    for s in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]:
        state = s.get("state", {})
        kind = next(iter(state), "?")
        parts.append(f"{s['name']}={kind}:{(state.get(kind) or {}).get('reason', '')}")
    return " ".join(parts)
