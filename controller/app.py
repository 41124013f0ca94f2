"""`podium controller`: the process. Connects (kubeconfig or in-cluster), runs the AgentRun
reconciler on the shared runner, and serves /metrics (Prometheus), /healthz and /readyz.
SIGTERM stops it cleanly (exit 0); a restart resumes every run from what the API says.

With `--leader-elect` (controller.leader) it reconciles only while it holds the Lease; a
standby serves its endpoints and is ready (so a rolling update can go on) but reconciles
nothing. A leader that loses the Lease exits 1, and its Pod restarts as a fresh candidate."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.agentrun import AgentRunReconciler
from controller.kube import Kube, connect
from controller.leader import LeaderConfig, LeaderElector, default_namespace
from controller.mcpdiscovery import MCPServerReconciler
from controller.policy import ControllerConfig, load_config
from controller.runner import Runner
from controller.schedules import AgentScheduleReconciler

__all__ = ["Controller", "LeadershipLost", "cluster_ca", "run_controller", "serve_http"]

log = logging.getLogger("podium.controller")


def cluster_ca(kube: Kube) -> str | None:
    """The API server's CA (PEM), for the skills' kubeconfigs."""
    config: Any = getattr(kube.client, "_client", None)
    cluster: Any = getattr(getattr(config, "config", None), "cluster", None)
    if cluster is None:
        return None
    if cluster.certificate_auth_data:
        return base64.b64decode(cluster.certificate_auth_data).decode()
    if cluster.certificate_auth:
        return Path(cluster.certificate_auth).read_text(encoding="utf-8")
    return None


class LeadershipLost(RuntimeError):
    """The Lease was not renewed in time: another replica may lead now."""


class Controller:
    """The runner and its reconcilers, ready to run in an event loop (tests embed this);
    with `leader`, only while it holds that Lease."""

    def __init__(
        self,
        kube: Kube,
        config: ControllerConfig,
        namespaces: list[str] | None = None,
        workers: int = 8,
        resync_s: float = 300.0,
        ca: str | None = None,
        master_key: str | None = None,
        leader: LeaderConfig | None = None,
    ) -> None:
        self.kube = kube
        self.elector = LeaderElector(kube, leader) if leader is not None else None
        self.agentruns = AgentRunReconciler(
            kube, config, ca if ca is not None else cluster_ca(kube), master_key=master_key
        )
        self.schedules = AgentScheduleReconciler(kube)
        self.mcpservers = MCPServerReconciler(kube)
        self.runner = Runner(
            kube,
            [self.agentruns, self.schedules, self.mcpservers],
            namespaces or [],
            workers,
            resync_s,
        )
        self.agentruns.notify = self.runner.enqueue

    def ready(self) -> bool:
        """/readyz: every watched kind listed; a standby is ready as it is (it waits)."""
        if self.elector is not None and not self.elector.leading.is_set():
            return True
        return self.runner.ready.is_set()

    async def run(self, port: int | None = None) -> None:
        """Run until cancelled (raises LeadershipLost when the Lease is lost)."""
        main = asyncio.ensure_future(
            self.runner.run() if self.elector is None else self.elector.run(self.runner.run)
        )
        tasks = {main}
        if port is not None:
            tasks.add(asyncio.ensure_future(serve_http(self.ready, port)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.agentruns.hub.close()
        for task in done:
            task.result()  # an error of the runner or of the HTTP server
        if self.elector is not None:
            raise LeadershipLost("the leader election Lease was lost")


async def serve_http(ready: Callable[[], bool], port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
    """/metrics, /healthz (the loop answers), /readyz (every watched kind was listed)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)).strip():
                pass  # headers
            path = line.split()[1].decode() if len(line.split()) > 1 else "/"
            code, kind, body = 404, "text/plain", b"not found\n"
            if path == "/metrics":
                code, kind, body = 200, CONTENT_TYPE_LATEST, generate_latest()
            elif path == "/healthz":
                code, body = 200, b"ok\n"
            elif path == "/readyz":
                code, body = (200, b"ok\n") if ready() else (503, b"listing\n")
            head = (
                f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    async with server:
        await server.serve_forever()


def _master_key(path: Path | None) -> str | None:
    """The master key (`--master-key-file`, else $PODIUM_MASTER_KEY_FILE): at least 32
    characters of a file, surrounding whitespace dropped."""
    import os

    if path is None and os.environ.get("PODIUM_MASTER_KEY_FILE"):
        path = Path(os.environ["PODIUM_MASTER_KEY_FILE"])
        if not path.exists():  # deploy/ mounts an optional Secret there
            return None
    if path is None:
        return None
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"--master-key-file {path}: {exc.strerror}") from None
    if len(key) < 32:
        raise ValueError(f"--master-key-file {path}: needs at least 32 characters")
    return key


def run_controller(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # not a line per API request
    try:
        config = load_config(args.config)
        master_key = _master_key(args.master_key_file)
        leader = _leader(args)
        kube = connect(args.kubeconfig, args.context)
    except Exception as exc:  # a bad config or kubeconfig: one line, exit 2
        print(f"podium controller: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2

    async def main() -> None:
        controller = Controller(
            kube,
            config,
            args.namespace,
            args.workers,
            args.resync,
            master_key=master_key,
            leader=leader,
        )
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        where = ", ".join(args.namespace) or "all namespaces"
        log.info("watching AgentRuns in %s; metrics on :%d", where, args.metrics_port)
        try:
            await controller.run(args.metrics_port)
        finally:
            with contextlib.suppress(Exception):
                await kube.close()

    try:
        with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
            asyncio.run(main())
    except LeadershipLost as exc:
        log.error("%s: exiting, so this Pod starts again as a standby", exc)
        return 1
    return 0


def _leader(args: argparse.Namespace) -> LeaderConfig | None:
    if not args.leader_elect:
        return None
    return LeaderConfig(
        name=args.leader_elect_resource_name,
        namespace=args.leader_elect_resource_namespace or default_namespace(),
        lease_duration_s=args.leader_elect_lease_duration,
        renew_deadline_s=args.leader_elect_renew_deadline,
        retry_period_s=args.leader_elect_retry_period,
    )
