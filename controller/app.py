"""`podium controller`: the process. Connects (kubeconfig or in-cluster), runs the AgentRun
reconciler on the shared runner, and serves /metrics (Prometheus), /healthz and /readyz.
SIGTERM stops it cleanly (exit 0); a restart resumes every run from what the API says."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from controller.agentrun import AgentRunReconciler
from controller.kube import Kube, connect
from controller.mcpdiscovery import MCPServerReconciler
from controller.policy import ControllerConfig, load_config
from controller.runner import Runner
from controller.schedules import AgentScheduleReconciler

__all__ = ["Controller", "cluster_ca", "run_controller", "serve_http"]

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


class Controller:
    """The runner and its reconcilers, ready to run in an event loop (tests embed this)."""

    def __init__(
        self,
        kube: Kube,
        config: ControllerConfig,
        namespaces: list[str] | None = None,
        workers: int = 8,
        resync_s: float = 300.0,
        ca: str | None = None,
        master_key: str | None = None,
    ) -> None:
        self.kube = kube
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

    async def run(self, port: int | None = None) -> None:
        extra = [] if port is None else [lambda: serve_http(self.runner, port)]
        try:
            await self.runner.run(extra)
        finally:
            await self.agentruns.hub.close()


async def serve_http(runner: Runner, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
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
                ready = runner.ready.is_set()
                code, body = (200, b"ok\n") if ready else (503, b"listing\n")
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
    try:
        config = load_config(args.config)
        master_key = _master_key(args.master_key_file)
        kube = connect(args.kubeconfig, args.context)
    except Exception as exc:  # a bad config or kubeconfig: one line, exit 2
        print(f"podium controller: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2

    async def main() -> None:
        controller = Controller(
            kube, config, args.namespace, args.workers, args.resync, master_key=master_key
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

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(main())
    return 0
