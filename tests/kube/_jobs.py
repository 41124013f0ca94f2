"""The Job controller, as much of it as a Job with one pod at a time needs: a Pod per Job
(ownerReference, the template's job-name/controller-uid labels), retries up to backoffLimit,
activeDeadlineSeconds, the Complete/Failed conditions, counts and times, events, and deletion
ttlSecondsAfterFinished after the end."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tests.kube._kclient import Client, KubeError

FINISHED = ("Complete", "Failed")


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def finished(job: dict[str, Any]) -> str | None:
    for c in job.get("status", {}).get("conditions") or []:
        if c.get("type") in FINISHED and c.get("status") == "True":
            return str(c["type"])
    return None


class JobController:
    def __init__(self, api: Client) -> None:
        self.api = api
        self.locks: dict[str, asyncio.Lock] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, namespace: str, name: str) -> None:
        task = asyncio.create_task(self.sync(namespace, name))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        pods = asyncio.create_task(self._watch_pods())
        try:
            async for kind, job in self.api.watch("batch/v1", "jobs"):
                if kind != "DELETED":
                    self._spawn(job["metadata"]["namespace"], job["metadata"]["name"])
        finally:
            pods.cancel()

    async def _watch_pods(self) -> None:
        async for _, pod in self.api.watch("v1", "pods"):
            for ref in pod["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Job" and ref.get("controller"):
                    self._spawn(pod["metadata"]["namespace"], ref["name"])

    def _later(self, namespace: str, name: str, delay: float) -> None:
        key = f"{namespace}/{name}"
        old = self.timers.pop(key, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self.timers[key] = loop.call_later(max(0.0, delay), lambda: self._spawn(namespace, name))

    async def sync(self, namespace: str, name: str) -> None:
        lock = self.locks.setdefault(f"{namespace}/{name}", asyncio.Lock())
        async with lock:
            with contextlib.suppress(KubeError, aiohttp.ClientError):
                await self._sync(namespace, name)

    async def _sync(self, namespace: str, name: str) -> None:
        job = await self.api.get("batch/v1", "jobs", namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        spec, status = job.get("spec", {}), dict(job.get("status") or {})
        now = time.time()
        end = finished(job)
        if end is not None:
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None:
                at = _epoch(status.get("completionTime") or _last_transition(job)) + float(ttl)
                if at <= now:
                    await self.api.delete(
                        "batch/v1", "jobs", namespace, name, propagationPolicy="Background"
                    )
                else:
                    self._later(namespace, name, at - now)
            return
        uid = job["metadata"]["uid"]
        listed = await self.api.call(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            params={"labelSelector": f"batch.kubernetes.io/controller-uid={uid}"},
        )
        pods = [
            p
            for p in listed["items"]
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        ]
        phases = [p.get("status", {}).get("phase") for p in pods]
        active = [
            p
            for p, ph in zip(pods, phases, strict=True)
            if ph not in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")
        ]
        new: dict[str, Any] = {
            "active": len(active),
            "succeeded": phases.count("Succeeded"),
            "failed": phases.count("Failed"),
            "terminating": 0,
            "ready": sum(1 for p in active if _ready(p)),
        }
        if spec.get("suspend"):
            await self._delete_pods(active)
            new["active"] = 0
            return await self._status(job, status, new)
        start = status.get("startTime") or _stamp(now)
        new["startTime"] = start
        deadline = spec.get("activeDeadlineSeconds")
        if new["succeeded"] >= int(spec.get("completions", 1) or 1):
            return await self._end(job, status, new, "Complete", "", "", now)
        if deadline is not None and _epoch(start) + float(deadline) <= now:
            await self._delete_pods(active)
            new["active"] = 0
            return await self._end(
                job,
                status,
                new,
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
                now,
            )
        if new["failed"] > int(spec.get("backoffLimit", 6)):
            await self._delete_pods(active)
            new["active"] = 0
            return await self._end(
                job,
                status,
                new,
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                now,
            )
        if deadline is not None:
            self._later(namespace, name, _epoch(start) + float(deadline) - now + 0.05)
        if not active:
            try:
                made = await self.api.create("v1", "pods", namespace, _pod(job))
            except KubeError as e:
                await self._event(job, "Warning", "FailedCreate", f"Error creating: {e}")
                self._later(namespace, name, 1.0)
            else:
                new["active"] = 1
                await self._event(
                    job, "Normal", "SuccessfulCreate", f"Created pod: {made['metadata']['name']}"
                )
        await self._status(job, status, new)

    async def _end(
        self,
        job: dict[str, Any],
        status: dict[str, Any],
        new: dict[str, Any],
        kind: str,
        reason: str,
        message: str,
        now: float,
    ) -> None:
        stamp = _stamp(now)
        first = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
        new["conditions"] = [
            {
                "type": t,
                "status": "True",
                "lastProbeTime": stamp,
                "lastTransitionTime": stamp,
                **({"reason": reason, "message": message} if reason else {}),
            }
            for t in (first, kind)
        ]
        if kind == "Complete":
            new["completionTime"] = stamp
        await self._event(
            job,
            "Normal" if kind == "Complete" else "Warning",
            "Completed" if kind == "Complete" else reason,
            message or "Job completed",
        )
        await self._status(job, status, new)
        ttl = job.get("spec", {}).get("ttlSecondsAfterFinished")
        if ttl is not None:
            self._later(job["metadata"]["namespace"], job["metadata"]["name"], float(ttl) + 0.05)

    async def _status(self, job: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
        if any(old.get(k) != v for k, v in new.items()):
            meta = job["metadata"]
            await self.api.patch(
                "batch/v1", "jobs", meta["namespace"], meta["name"], {"status": new}, sub="status"
            )

    async def _delete_pods(self, pods: list[dict[str, Any]]) -> None:
        for p in pods:
            await self.api.delete("v1", "pods", p["metadata"]["namespace"], p["metadata"]["name"])

    async def _event(self, job: dict[str, Any], kind: str, reason: str, message: str) -> None:
        meta = job["metadata"]
        stamp = _stamp(time.time())
        event = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": "job-controller"},
        }
        with contextlib.suppress(KubeError):
            await self.api.create("v1", "events", meta["namespace"], event)


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def _last_transition(job: dict[str, Any]) -> str:
    stamps = [
        c.get("lastTransitionTime", "") for c in job.get("status", {}).get("conditions") or []
    ]
    return max(stamps) if stamps else _stamp(time.time())


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    meta = job["metadata"]
    template = job["spec"]["template"]
    tmeta = template.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "labels": dict(tmeta.get("labels") or {}),
            "annotations": dict(tmeta.get("annotations") or {}),
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template["spec"],
    }
