"""The AgentRun reconciler: observe, compare, apply, for one run at a time.

Every pass starts from what the API says now (level-triggered): the run, its Skills, its Job
and Pods. A run without a Job gets its objects applied (server-side apply, deterministic
names, so a restart or a second replica changes nothing), each cluster-facing skill a token
minted for it, then the Job. A run with a Job gets its status from `observe()`. A finished,
cancelled or deleted run has its credentials revoked (the skills' ServiceAccounts and token
Secrets deleted), its memory claim released, and its grants outside its namespace removed
(the finalizer, added only when there are such grants).

A running run's approvals come over its control channel (`controller.control`): the pod's
waiting calls become `status.pendingApprovals`, and each `spec.decisions` entry for one of
them is signed with the run's approval key and delivered, then recorded in `status.approvals`
and as an event.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge
from pydantic import ValidationError

from controller import _pod
from controller.build import MANAGER, Plan, b64_data, build, lease_name, run_keys, run_labels
from controller.control import ControlHub, sync_approvals
from controller.crd.mcpserver import MCPServer
from controller.crd.models import TERMINAL_PHASES, AgentRun, AgentRunStatus, Skill, SkillSpec
from controller.kube import ALL, Conflict, Kube
from controller.mcpservers import Attachment, attach
from controller.observe import Observation, observe, set_condition, timestamp
from controller.policy import ControllerConfig
from controller.runner import Key, Watch
from protos.approval import new_key

__all__ = ["FINALIZER", "AgentRunReconciler"]

log = logging.getLogger("podium.controller")
FINALIZER = "podium.dev/cleanup"
RUNS = Gauge("podium_agentruns", "AgentRuns seen by this controller, by phase", ["phase"])
WAIT_S = 5.0
"""How soon a waiting run (memory claim in use, image pull) is looked at again."""


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("status") or {}


def _run_keys(obj: dict[str, Any]) -> list[Key]:
    meta = _meta(obj)
    return [Key("AgentRun", meta.get("namespace", ""), meta.get("name", ""))]


def _owner_keys(obj: dict[str, Any]) -> list[Key]:
    labels: dict[str, str] = _meta(obj).get("labels") or {}
    run = labels.get("podium.dev/run")
    ns = labels.get("podium.dev/run-namespace") or str(_meta(obj).get("namespace", ""))
    return [Key("AgentRun", ns, run)] if run else []


class AgentRunReconciler:
    kind = "AgentRun"

    def __init__(
        self,
        kube: Kube,
        config: ControllerConfig,
        ca: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        master_key: str | None = None,
    ) -> None:
        self.kube = kube
        self.config = config
        self.ca = ca
        self.clock = clock
        self.phases: dict[tuple[str, str], str] = {}
        if master_key is None:
            log.warning("no master key given: runs started before a restart cannot be approved")
        self.master_key = master_key or new_key()
        """Each run's keys are derived from it (`RunKeys.derive`)."""
        self.notify: Callable[[Key], None] = lambda key: None
        """Queues a run for a reconcile (the runner's `enqueue`, set by the app)."""
        self.hub = ControlHub(lambda key: self.notify(key))

    def watches(self) -> Sequence[Watch]:
        managed = {"app.kubernetes.io/managed-by": MANAGER}
        return [
            Watch("AgentRun", _run_keys),
            Watch("Job", _owner_keys, managed),
            Watch("Pod", _owner_keys, managed),
        ]

    # ------------------------------------------------------------ the pass

    async def reconcile(self, key: Key) -> float | None:
        raw = await self.kube.get("AgentRun", key.name, key.namespace)
        if raw is None:
            self._count(key, None)
            self.hub.drop(key)
            return None
        try:
            run = AgentRun.model_validate(raw)
        except ValidationError as exc:
            await self._invalid(raw, exc)
            return None
        run.metadata.setdefault("namespace", key.namespace)
        status = run.status or AgentRunStatus()
        self._count(key, status.phase)
        if _meta(raw).get("deletionTimestamp"):
            await self._release(run, status, deleting=True)
            return None
        if status.phase in TERMINAL_PHASES:
            if not _released(status):
                await self._write(run, status, await self._release(run, status))
            return None
        now = self.clock()
        if run.spec.cancel:
            if status.jobName:
                await self.kube.delete("Job", status.jobName, run.namespace)
            return await self._finish(run, status, "Cancelled", "Cancelled", "spec.cancel was set")
        skills: dict[str, SkillSpec] = {}
        for ref in sorted({s.skillRef.name for s in run.spec.skills if s.skillRef}):
            found = await self.kube.get("Skill", ref, run.namespace)
            if found is None:
                message = f"Skill {ref} not found in namespace {run.namespace}"
                return await self._finish(run, status, "Failed", "SkillNotFound", message)
            skills[ref] = Skill.model_validate(found).spec
        mcp = await self._attach(run)
        if mcp is not None and mcp.missing:
            message = f"MCPServer {', '.join(mcp.missing)} not found in namespace {run.namespace}"
            return await self._finish(run, status, "Failed", "MCPServerNotFound", message)
        if mcp is not None and mcp.not_ready and not status.jobName:
            message = f"waiting for MCPServer {', '.join(mcp.not_ready)} to be Ready"
            status.conditions = set_condition(
                status.conditions, "Waiting", "True", "MCPServerNotReady", message, now
            )
            await self._write(run, run.status or AgentRunStatus(), status)
            return WAIT_S
        try:
            plan = build(run, skills, self.config, self.ca, mcp, self.master_key)
        except (_pod.RenderError, ValueError) as exc:
            return await self._finish(run, status, "Failed", "InvalidSpec", str(exc))
        if plan.problems:
            message = "refused by the administrator's policy: " + "; ".join(plan.problems)
            return await self._finish(run, status, "Failed", "Forbidden", message)
        name = plan.job["metadata"]["name"]
        job = await self.kube.get("Job", name, run.namespace)
        if job is None and not status.jobName:
            holder = await self._lock(run, plan)
            if holder is not None:
                message = (
                    f"memory claim {plan.memory_claim} is in use by AgentRun {holder}: SQLite "
                    "needs its writers on one host, so this run starts when that one ends"
                )
                status.conditions = set_condition(
                    status.conditions, "Waiting", "True", "MemoryInUse", message, now
                )
                await self._write(run, run.status or AgentRunStatus(), status)
                return WAIT_S
            job = await self._start(run, plan, raw)
            status.jobName = name
            status.conditions = set_condition(
                status.conditions, "Accepted", "True", "JobCreated", f"created Job {name}", now
            )
            status.conditions = set_condition(
                status.conditions, "Waiting", "False", "JobCreated", "", now
            )
            creds = len(plan.tokens)
            await self._event(run, "Normal", "JobCreated", f"created Job {name} ({creds} tokens)")
        elif job is not None and not status.jobName:
            status.jobName = name  # created by a pass that could not record it
        pods = await self.kube.list("Pod", run.namespace, {"podium.dev/run": run.name})
        obs = observe(status, job, pods, now)
        keys = run_keys(run, self.master_key, [s.name for s in plan.translation.spec.skills])
        synced = await sync_approvals(
            self.hub, run, obs.status, pods, self.config.controlPort,
            keys.approval_key, keys.control_token, now,
        )  # fmt: skip
        obs.events += synced.events
        again = 1.0 if synced.retry and not obs.terminal else None
        after = await self._apply_observation(run, obs)
        return again if after is None else min(after, again or after)

    async def _apply_observation(self, run: AgentRun, obs: Observation) -> float | None:
        if obs.delete_job and obs.status.jobName:
            await self.kube.delete("Job", obs.status.jobName, run.namespace)
        for kind, reason, message in obs.events:
            await self._event(run, kind, reason, message)
        status = obs.status
        if obs.terminal:
            self.hub.drop(Key("AgentRun", run.namespace, run.name))
            status.pendingApprovals = []
            status = await self._release(run, status)
        await self._write(run, run.status or AgentRunStatus(), status)
        waiting = any(c.type == "Waiting" and c.status == "True" for c in status.conditions)
        return WAIT_S if waiting and not obs.terminal else None

    # ------------------------------------------------------------ starting

    async def _attach(self, run: AgentRun) -> Attachment | None:
        """The MCPServers the run's `mcp: {servers, selector}` names (None: it names none)."""
        mcp = run.spec.mcp
        if mcp is None or not (isinstance(mcp.get("servers"), list) or "selector" in mcp):
            return None
        found = await self.kube.list("MCPServer", run.namespace)
        servers: list[MCPServer] = []
        for obj in found:
            with contextlib.suppress(ValidationError):
                servers.append(MCPServer.model_validate(obj))
        return attach(mcp, servers)

    async def _start(self, run: AgentRun, plan: Plan, raw: dict[str, Any]) -> dict[str, Any]:
        if plan.foreign_grants:
            await self._finalizer(raw, add=True)
        keys = [plan.keys_secret] if plan.keys_secret else []
        head = [plan.config_map, *keys, *plan.service_accounts]
        for obj in head:
            await self.kube.apply(obj)
        by_name = {s["metadata"]["name"]: s for s in plan.token_secrets}
        for token in plan.tokens:
            secret = by_name[token.secret]
            applied = await self.kube.apply(secret)
            minted = await self.kube.token(
                token.service_account,
                run.namespace,
                token.expiration_seconds,
                (token.secret, str(_meta(applied).get("uid") or "")),
            )
            with_token = {**secret, "data": {**secret["data"], **b64_data({"token": minted})}}
            await self.kube.apply(with_token)
        rest = [*plan.grants, *plan.foreign_grants]
        if plan.network_policy:
            rest.append(plan.network_policy)
        for obj in rest:
            await self.kube.apply(obj)
        return await self.kube.apply(plan.job)

    async def _lock(self, run: AgentRun, plan: Plan) -> str | None:
        """Hold the run's memory claim (a Lease), or name the run that holds it."""
        claim = plan.memory_claim
        if claim is None:
            return None
        name, ns = lease_name(claim), run.namespace
        for _ in range(3):
            lease = await self.kube.get("Lease", name, ns)
            if lease is not None:
                holder = str(_spec(lease).get("holderIdentity") or "")
                if holder == run.name:
                    return None
                other = await self.kube.get("AgentRun", holder, ns)
                phase = _status(other).get("phase")
                if other is not None and phase not in TERMINAL_PHASES:
                    return holder
                await self.kube.delete("Lease", name, ns)  # its holder is gone or done
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": run_labels(run),
                    "ownerReferences": plan.job["metadata"].get("ownerReferences", []),
                },
                "spec": {"holderIdentity": run.name},
            }
            try:
                await self.kube.create(body)
                return None
            except Conflict:
                continue  # another pass took it: look again
        return "another run"

    # ------------------------------------------------------------ ending

    async def _finish(
        self, run: AgentRun, status: AgentRunStatus, phase: str, reason: str, message: str
    ) -> float | None:
        status = status.model_copy(deep=True)
        now = self.clock()
        status.phase = phase  # type: ignore[assignment]
        status.completionTime = status.completionTime or timestamp(now)
        if phase != "Succeeded":
            status.error = message[:4096]
        if reason in ("SkillNotFound", "InvalidSpec", "Forbidden"):
            status.conditions = set_condition(
                status.conditions, "Accepted", "False", reason, message, now
            )
        status.conditions = set_condition(status.conditions, "Waiting", "False", reason, "", now)
        status.conditions = set_condition(
            status.conditions, "Finished", "True", reason, message, now
        )
        kind = "Normal" if phase in ("Succeeded", "Cancelled") else "Warning"
        return await self._apply_observation(run, Observation(status, [(kind, reason, message)]))

    async def _release(
        self, run: AgentRun, status: AgentRunStatus, deleting: bool = False
    ) -> AgentRunStatus:
        """Revoke the run's credentials and release what it holds. Idempotent."""
        ns = run.namespace
        for skill in _maybe_cluster_facing(run):
            base = f"podium-{run.name}-{skill}"
            await self.kube.delete("Secret", f"{base}-kube", ns)  # its bound token dies with it
            await self.kube.delete("ServiceAccount", base, ns)
            await self.kube.delete("RoleBinding", base, ns)
            await self.kube.delete("Role", base, ns)
        if run.spec.memory.claim:
            name = lease_name(run.spec.memory.claim)
            lease = await self.kube.get("Lease", name, ns)
            if lease and _spec(lease).get("holderIdentity") == run.name:
                await self.kube.delete("Lease", name, ns)
        finalizers = list(run.metadata.get("finalizers") or [])
        if FINALIZER in finalizers:
            labels = {"podium.dev/run": run.name, "podium.dev/run-namespace": ns}
            for kind in ("RoleBinding", "Role"):
                for obj in await self.kube.list(kind, ALL, labels):
                    meta = _meta(obj)
                    await self.kube.delete(kind, meta["name"], meta.get("namespace"))
            for kind in ("ClusterRoleBinding", "ClusterRole"):
                for obj in await self.kube.list(kind, None, labels):
                    await self.kube.delete(kind, _meta(obj)["name"], None)
            await self._finalizer({"metadata": run.metadata}, add=False)
        if deleting:
            return status
        status = status.model_copy(deep=True)
        status.conditions = set_condition(
            status.conditions,
            "CredentialsRevoked",
            "True",
            "RunEnded",
            "the skills' ServiceAccounts and tokens are deleted",
            self.clock(),
        )
        return status

    async def _finalizer(self, raw: dict[str, Any], add: bool) -> None:
        meta = _meta(raw)
        current = list(meta.get("finalizers") or [])
        wanted = sorted({*current, FINALIZER}) if add else [f for f in current if f != FINALIZER]
        if wanted == current:
            return
        patch = {"metadata": {"finalizers": wanted, "resourceVersion": meta.get("resourceVersion")}}
        await self.kube.merge_patch("AgentRun", meta["name"], meta.get("namespace"), patch)
        meta["finalizers"] = wanted

    # ------------------------------------------------------------ recording

    async def _write(self, run: AgentRun, old: AgentRunStatus, new: AgentRunStatus) -> None:
        new.observedGeneration = run.metadata.get("generation")
        before = old.model_dump(exclude_none=True)
        after = new.model_dump(exclude_none=True)
        if before != after:
            await self.kube.patch_status(run.name, run.namespace, after)
            self._count(Key("AgentRun", run.namespace, run.name), new.phase)

    async def _invalid(self, raw: dict[str, Any], exc: ValidationError) -> None:
        meta = _meta(raw)
        if _status(raw).get("phase") == "Failed":
            return
        first = exc.errors()[0]
        message = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        now = timestamp(self.clock())
        status = {
            "phase": "Failed",
            "error": message,
            "completionTime": now,
            "conditions": [
                {"type": "Accepted", "status": "False", "reason": "InvalidSpec",
                 "message": message, "lastTransitionTime": now}
            ],
        }  # fmt: skip
        await self.kube.patch_status(meta["name"], meta.get("namespace", ""), status)

    async def _event(self, run: AgentRun, kind: str, reason: str, message: str) -> None:
        now = timestamp(self.clock())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{run.name}.{secrets.token_hex(8)}", "namespace": run.namespace},
            "involvedObject": {
                "apiVersion": "podium.dev/v1alpha1",
                "kind": "AgentRun",
                "name": run.name,
                "namespace": run.namespace,
                "uid": run.metadata.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": kind,
            "source": {"component": MANAGER},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.create(event)
        except Exception as exc:  # an event is a courtesy; the status is the record
            log.debug("event for %s not recorded: %s", run.name, exc)

    def _count(self, key: Key, phase: str | None) -> None:
        where = (key.namespace, key.name)
        old = self.phases.pop(where, None)
        if old is not None:
            RUNS.labels(old).dec()
        if phase is not None:
            self.phases[where] = phase
            RUNS.labels(phase).inc()


def _released(status: AgentRunStatus) -> bool:
    return any(c.type == "CredentialsRevoked" and c.status == "True" for c in status.conditions)


def _maybe_cluster_facing(run: AgentRun) -> list[str]:
    """Skills that may have been given credentials (a Skill may carry RBAC of its own)."""
    return [s.name for s in run.spec.skills if s.rbac is not None or s.skillRef is not None]
