"""`podium run --backend kubernetes`: the run as an `AgentRun` in a cluster, followed from here.

The same flags as a local run become an AgentRun (the model's key and the skills' secret
environment, taken from this machine's environment as locally, go in a Secret the run owns).
The controller turns it into a Job. This launcher follows the run's phase from its status and
the agent's live events from the agent container's log (the event stream); the result comes
from the status only, never from the log, and is written to the workspace's result.json like
any run's. Closing it early (Ctrl-C) sets `spec.cancel` and waits for `Cancelled`.

It talks to the API like kubectl does (KUBECONFIG, ~/.kube/config, or in-cluster) and knows
the controller only through the AgentRun's wire format.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from runtime.agent.base import Usage
from runtime.agent.events import RunError, RunResult
from runtime.kube import pod_name, secret_name
from runtime.launchers._follow import parse_event
from runtime.layout import RunPaths
from runtime.spec import RunSpec

__all__ = ["KubernetesLauncher", "agentrun_for"]

BUILTINS = {"workspace", "memory", "mcp", "kubectl", "helm"}
TERMINAL = {"Succeeded": "succeeded", "Failed": "failed", "Cancelled": "cancelled",
            "TimedOut": "timed_out"}  # fmt: skip
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def _generic(group: str, version: str, kind: str, plural: str) -> Any:
    from lightkube.generic_resource import (
        create_namespaced_resource,  # pyright: ignore[reportUnknownVariableType]
    )

    return create_namespaced_resource(group, version, kind, plural)


def _file(path: str) -> Any:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


def agentrun_for(
    spec: RunSpec, environ: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The AgentRun for `spec`, and the Secret data it needs (from `environ`)."""
    env = dict(os.environ if environ is None else environ)
    provider = spec.model.split(":", 1)[0]
    secret: dict[str, str] = {}
    model: dict[str, Any] = {"name": spec.model}
    key = KEY_ENV.get(provider, "OPENAI_API_KEY")
    if env.get(key):
        secret[key] = env[key]
        model["apiKeySecretRef"] = {"name": secret_name(spec), "key": key}
        model["apiKeyEnv"] = key
    if env.get(URL_ENV.get(provider, "OPENAI_BASE_URL")):
        model["baseURL"] = env[URL_ENV.get(provider, "OPENAI_BASE_URL")]
    skills: list[dict[str, Any]] = []
    mcp: Any = None
    for s in spec.skills:
        if s.source == "mcp" and not s.image:
            mcp = _file(s.config) if s.config else {"mcpServers": {}}
            continue
        item: dict[str, Any] = {"name": s.name}
        if s.image:  # with no source, the image's own entrypoint serves skill.proto
            item.update(image=s.image, **({"source": s.source} if s.source else {}))
        elif s.source in BUILTINS:
            item["builtin"] = s.source
        else:
            raise ValueError(
                f"skill {s.name} ({s.source}) needs an image to run in a cluster: build one "
                "FROM podium/skill-base and give `image:` in a --spec file"
            )
        if s.config:
            item["config"] = _file(s.config)
        if s.env:
            item["env"] = dict(s.env)
        refs: list[dict[str, Any]] = []
        for name in s.secret_env:
            if name in env:
                secret[name] = env[name]
                refs.append(
                    {"name": name, "secretKeyRef": {"name": secret_name(spec), "key": name}}
                )
        if refs:
            item["secretEnv"] = refs
        resources = s.resources.model_dump(exclude_none=True)
        if resources:
            item["resources"] = resources
        skills.append(item)
    limits = spec.limits
    run: dict[str, Any] = {
        "apiVersion": "podium.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": spec.run_id},
        "spec": {
            "task": spec.task,
            "model": model,
            "skills": skills,
            "limits": {
                "maxTurns": limits.max_turns,
                "timeoutSeconds": math.ceil(limits.timeout_s),
                "toolTimeoutSeconds": math.ceil(limits.tool_timeout_s),
                "maxToolOutputChars": limits.max_tool_output_chars,
                "readinessTimeoutSeconds": math.ceil(limits.readiness_timeout_s),
                **({"maxTokens": limits.max_tokens} if limits.max_tokens else {}),
            },
            "policy": {"readOnly": spec.policy.read_only, "denyTools": spec.policy.deny_tools},
            "memory": {
                "scope": spec.memory.scope,
                "recall": spec.memory.recall,
                "recallLimit": spec.memory.recall_limit,
                "summary": spec.memory.summary,
            },
        },
    }
    body = run["spec"]
    for field, value in (
        ("systemPrompt", spec.system_prompt),
        ("temperature", spec.temperature),
        ("runtimeClassName", spec.sandbox.runtime_class),
        ("mcp", mcp),
    ):
        if value is not None:
            body[field] = value
    return run, secret


def result_from(name: str, status: dict[str, Any]) -> RunResult:
    """The run's result, from its status (never from its log)."""
    phase = str(status.get("phase", ""))
    usage: dict[str, Any] = status.get("usage") or {}
    error = status.get("error")
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    empty: dict[str, Any] = {}
    finished = next((c for c in conditions if c.get("type") == "Finished"), empty)
    return RunResult(
        status=TERMINAL.get(phase, "failed"),  # type: ignore[arg-type]
        output=str(status.get("output") or ""),
        error=RunError(str(finished.get("reason") or phase), str(error)) if error else None,
        usage=Usage(int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))),
        tool_calls=int(status.get("toolCalls") or 0),
        turns=int(status.get("turns") or 0),
        duration_s=float(status.get("durationSeconds") or 0.0),
        run_id=name,
    )


class KubernetesLauncher:
    """Launcher for a cluster: submit an AgentRun, follow it, cancel it when closed early."""

    def __init__(
        self,
        spec: RunSpec,
        workspace: Path,
        namespace: str | None = None,
        kubeconfig: Path | None = None,
        poll_s: float = 0.5,
        cancel_wait_s: float = 60.0,
    ) -> None:
        self.spec = spec
        self.workspace = workspace
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.poll_s = poll_s
        self.cancel_wait_s = cancel_wait_s
        self._client: Any = None

    async def _connect(self) -> Any:
        from lightkube import AsyncClient, KubeConfig

        if self._client is None:
            path = self.kubeconfig or os.environ.get("KUBECONFIG")
            config = KubeConfig.from_file(path) if path else KubeConfig.from_env()
            single: Any = config.get()
            self.namespace = self.namespace or single.namespace or "default"
            self._client = AsyncClient(config=single, namespace=self.namespace)
        return self._client

    @staticmethod
    def _resource() -> Any:
        return _generic("podium.dev", "v1alpha1", "AgentRun", "agentruns")

    async def submit(self) -> str:
        """Create the run (and its Secret); returns its name."""
        from lightkube.types import PatchType

        client = await self._connect()
        run, data = agentrun_for(self.spec)
        secrets = _generic("", "v1", "Secret", "secrets")
        name = secret_name(self.spec)
        if data:
            encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
            meta = {"name": name, "namespace": self.namespace,
                    "labels": {"podium.dev/run": self.spec.run_id}}  # fmt: skip
            await client.create(
                secrets.from_dict(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": meta,
                        "type": "Opaque",
                        "data": encoded,
                    }
                )
            )
        run["metadata"]["namespace"] = self.namespace
        created = await client.create(self._resource().from_dict(run))
        if data:  # the Secret goes when the run does
            owner = {"apiVersion": "podium.dev/v1alpha1", "kind": "AgentRun",
                     "name": self.spec.run_id, "uid": created.metadata.uid}  # fmt: skip
            patch = {"metadata": {"ownerReferences": [owner]}}
            await client.patch(secrets, name, patch, patch_type=PatchType.MERGE)
        return self.spec.run_id

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _status(self) -> dict[str, Any]:
        client = await self._connect()
        found = await client.get(self._resource(), self.spec.run_id)
        return dict(found.get("status") or {})

    async def _logs(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """The agent's events from its container's log, as they come."""
        client = await self._connect()
        pods = _generic("", "v1", "Pod", "pods")
        while True:
            found = [
                p async for p in client.list(pods, labels={"podium.dev/run": self.spec.run_id})
            ]
            if found:
                break
            await asyncio.sleep(self.poll_s)
        pod = found[-1].metadata.name
        for _ in range(120):
            try:
                async for line in client.log(pod, container="agent", follow=True):
                    event = parse_event(line.encode())
                    if event.get("type") != "run_finished":  # the result is the status's
                        await queue.put(event)
                return
            except Exception:  # the container has not started yet: try again
                await asyncio.sleep(self.poll_s)

    async def launch(self) -> AsyncGenerator[dict[str, Any]]:
        name = await self.submit()
        yield {"type": "cluster_submitted", "run": name, "namespace": self.namespace}
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        logs: asyncio.Task[None] | None = None
        status: dict[str, Any] = {}
        done = False
        try:
            phase = ""
            while True:
                status = await self._status()
                if status.get("phase") and status.get("phase") != phase:
                    phase = str(status["phase"])
                    yield _phase_event(name, status)
                if logs is None and phase in ("Running", *TERMINAL):
                    logs = asyncio.create_task(self._logs(queue))
                while not queue.empty():
                    yield queue.get_nowait()
                if phase in TERMINAL:
                    if logs is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(asyncio.shield(logs), 2.0)
                    while not queue.empty():
                        yield queue.get_nowait()
                    done = True
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), self.poll_s)
                except TimeoutError:
                    continue
                yield event
        finally:
            if logs is not None:
                logs.cancel()
            if not done:
                status = await self._cancel()
            result = result_from(name, status)
            result.save(RunPaths(self.workspace).result)
            await self.close()
        yield {"type": "run_finished", **result.to_dict()}

    async def _cancel(self) -> dict[str, Any]:
        """Set spec.cancel and wait (a while) for the run to end."""
        from lightkube.types import PatchType

        client = await self._connect()
        with contextlib.suppress(Exception):
            patch = {"spec": {"cancel": True}}
            await client.patch(
                self._resource(), self.spec.run_id, patch, patch_type=PatchType.MERGE
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cancel_wait_s
        status: dict[str, Any] = {}
        while loop.time() < deadline:
            with contextlib.suppress(Exception):
                status = await self._status()
            if status.get("phase") in TERMINAL:
                return status
            await asyncio.sleep(self.poll_s)
        return {**status, "phase": "Cancelled", "error": "cancel requested; the run had not ended"}


def _phase_event(name: str, status: dict[str, Any]) -> dict[str, Any]:
    listed: list[dict[str, Any]] = status.get("conditions") or []
    conditions = {c.get("type"): c for c in listed}
    why: dict[str, Any] = conditions.get("Finished") or conditions.get("Waiting") or {}
    if why.get("status") != "True":
        why = {}
    return {
        "type": "cluster_phase",
        "run": name,
        "phase": status.get("phase"),
        "reason": why.get("reason", ""),
        "message": why.get("message", ""),
        "job": status.get("jobName") or pod_name_of(name),
    }


def pod_name_of(run_id: str) -> str:
    return pod_name(RunSpec(run_id=run_id, task="-"))
