"""A small, typed, dict-in dict-out face on lightkube's async client: the only module that
knows the client library. Every object is a plain dict (what the builders make); every call
is counted (the bench reports API requests per run).

Writes use server-side apply with one field manager (`podium-controller`, forced: the
controller owns what it applies); status goes through the status subresource only.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx2
from lightkube import ALL_NS, ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import (
    create_global_resource,  # pyright: ignore[reportUnknownVariableType]
    create_namespaced_resource,  # pyright: ignore[reportUnknownVariableType]
)
from lightkube.models.authentication_v1 import BoundObjectReference, TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccount
from lightkube.types import CascadeType, OnErrorAction, OnErrorResult, PatchType

from controller.build import MANAGER
from controller.crd.models import GROUP, VERSION

__all__ = ["ALL", "KINDS", "Conflict", "Kube", "NotFound", "connect"]

ALL = ALL_NS
AgentRunResource: Any = create_namespaced_resource(GROUP, VERSION, "AgentRun", "agentruns")


def _generic(api_version: str, kind: str, plural: str, namespaced: bool = True) -> Any:
    """Built-in kinds as lightkube generic resources too: plain dicts both ways, so what
    a kubelet or another controller writes is read as it is, never rejected by a model."""
    group, _, version = api_version.rpartition("/")
    if namespaced:
        return create_namespaced_resource(group, version, kind, plural)
    return create_global_resource(group, version, kind, plural)


_RBAC = "rbac.authorization.k8s.io/v1"
KINDS: dict[str, Any] = {
    "AgentRun": AgentRunResource,
    "Skill": create_namespaced_resource(GROUP, VERSION, "Skill", "skills"),
    "AgentSchedule": create_namespaced_resource(GROUP, VERSION, "AgentSchedule", "agentschedules"),
    "MCPServer": create_namespaced_resource(GROUP, VERSION, "MCPServer", "mcpservers"),
    "Deployment": _generic("apps/v1", "Deployment", "deployments"),
    "Service": _generic("v1", "Service", "services"),
    "Job": _generic("batch/v1", "Job", "jobs"),
    "Pod": _generic("v1", "Pod", "pods"),
    "ConfigMap": _generic("v1", "ConfigMap", "configmaps"),
    "Secret": _generic("v1", "Secret", "secrets"),
    "ServiceAccount": _generic("v1", "ServiceAccount", "serviceaccounts"),
    "Event": _generic("v1", "Event", "events"),
    "Lease": _generic("coordination.k8s.io/v1", "Lease", "leases"),
    "NetworkPolicy": _generic("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    "Role": _generic(_RBAC, "Role", "roles"),
    "RoleBinding": _generic(_RBAC, "RoleBinding", "rolebindings"),
    "ClusterRole": _generic(_RBAC, "ClusterRole", "clusterroles", namespaced=False),
    "ClusterRoleBinding": _generic(
        _RBAC, "ClusterRoleBinding", "clusterrolebindings", namespaced=False
    ),
}


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """409: someone else changed or created the object first."""


def _dict(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], obj.to_dict())


def _code(exc: httpx2.HTTPStatusError) -> int:
    """The HTTP status of a failed call (lightkube raises ApiError only for a bare
    `application/json` content type; a server that adds a charset gets the plain error)."""
    return exc.response.status_code


def _message(exc: httpx2.HTTPStatusError) -> str:
    if isinstance(exc, ApiError):
        return str(exc.status.message)
    try:
        return str(exc.response.json().get("message", ""))
    except ValueError:
        return exc.response.text[:200]


def _raise(exc: httpx2.HTTPStatusError) -> None:
    code = _code(exc)
    if code == 404:
        raise NotFound(_message(exc)) from exc
    if code == 409:
        raise Conflict(_message(exc)) from exc


def _retry_watch(exc: Exception, count: int) -> OnErrorResult:
    return OnErrorResult(OnErrorAction.RETRY, sleep=min(10.0, 0.2 * 2**count))


class Kube:
    """Typed calls on one client; `requests` counts them by verb."""

    def __init__(self, client: AsyncClient) -> None:
        # lightkube's overloads are keyed on resource classes chosen at run time here: the
        # boundary is typed by this class's own signatures instead.
        self.client: Any = client
        self.requests: Counter[str] = Counter()

    def _res(self, kind: str) -> Any:
        return KINDS[kind]

    async def get(self, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        self.requests["get"] += 1
        try:
            return _dict(await self.client.get(self._res(kind), name, namespace=namespace))
        except httpx2.HTTPStatusError as exc:
            if _code(exc) == 404:
                return None
            raise

    async def list(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        self.requests["list"] += 1
        found = self.client.list(self._res(kind), namespace=namespace, labels=dict(labels or {}))
        return [_dict(o) async for o in found]

    async def list_with_version(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.requests["list"] += 1
        found: Any = self.client.list(
            self._res(kind), namespace=namespace, labels=dict(labels or {})
        )
        items = [_dict(o) async for o in found]
        try:
            version: str | None = found.resourceVersion
        except Exception:  # an empty list from a server without one
            version = None
        return items, version

    async def watch(
        self,
        kind: str,
        namespace: str | None,
        labels: Mapping[str, str] | None = None,
        resource_version: str | None = None,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self.requests["watch"] += 1
        stream: Any = self.client.watch(
            self._res(kind),
            namespace=namespace,
            labels=dict(labels or {}),
            resource_version=resource_version,
            on_error=_retry_watch,
        )
        async for event, obj in stream:
            yield str(event), _dict(obj)

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply with the controller's field manager."""
        self.requests["apply"] += 1
        meta = obj["metadata"]
        try:
            done = await self.client.apply(
                KINDS[obj["kind"]].from_dict(obj),
                namespace=meta.get("namespace"),
                field_manager=MANAGER,
                force=True,
            )
        except httpx2.HTTPStatusError as exc:
            _raise(exc)
            raise
        return _dict(done)

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole object; with `metadata.resourceVersion` set, a 409 (`Conflict`)
        when it changed since (optimistic concurrency: the Lease of leader election)."""
        self.requests["update"] += 1
        try:
            done = await self.client.replace(
                KINDS[obj["kind"]].from_dict(obj), namespace=obj["metadata"].get("namespace")
            )
        except httpx2.HTTPStatusError as exc:
            _raise(exc)
            raise
        return _dict(done)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.requests["create"] += 1
        try:
            done = await self.client.create(
                KINDS[obj["kind"]].from_dict(obj), namespace=obj["metadata"].get("namespace")
            )
        except httpx2.HTTPStatusError as exc:
            _raise(exc)
            raise
        return _dict(done)

    async def delete(
        self, kind: str, name: str, namespace: str | None, foreground: bool = False
    ) -> bool:
        """Delete; False when it was already gone. Dependents go in the background."""
        self.requests["delete"] += 1
        cascade = CascadeType.FOREGROUND if foreground else CascadeType.BACKGROUND
        try:
            await self.client.delete(self._res(kind), name, namespace=namespace, cascade=cascade)
        except httpx2.HTTPStatusError as exc:
            if _code(exc) == 404:
                return False
            raise
        return True

    async def merge_patch(
        self, kind: str, name: str, namespace: str | None, patch: dict[str, Any]
    ) -> dict[str, Any]:
        self.requests["patch"] += 1
        try:
            done = await self.client.patch(
                self._res(kind), name, patch, namespace=namespace, patch_type=PatchType.MERGE
            )
        except httpx2.HTTPStatusError as exc:
            _raise(exc)
            raise
        return _dict(done)

    async def patch_status(
        self, name: str, namespace: str, status: dict[str, Any], kind: str = "AgentRun"
    ) -> None:
        """A custom resource's status (an AgentRun's by default), through its status
        subresource only."""
        self.requests["patch"] += 1
        try:
            await self.client.patch(
                KINDS[kind].Status,
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except httpx2.HTTPStatusError as exc:
            _raise(exc)
            raise

    async def token(
        self,
        service_account: str,
        namespace: str,
        expiration_seconds: int,
        bound_secret: tuple[str, str] | None = None,
    ) -> str:
        """A short-lived token for the ServiceAccount (TokenRequest API), bound to a Secret
        when given (name, uid): deleting that Secret, or the ServiceAccount, revokes it."""
        self.requests["create"] += 1
        bound = (
            BoundObjectReference(
                apiVersion="v1", kind="Secret", name=bound_secret[0], uid=bound_secret[1]
            )
            if bound_secret and bound_secret[1]
            else None
        )
        request = ServiceAccount.Token(
            metadata=ObjectMeta(name=service_account, namespace=namespace),
            spec=TokenRequestSpec(
                audiences=[], expirationSeconds=expiration_seconds, boundObjectRef=bound
            ),
        )
        try:
            done: Any = await self.client.create(request, service_account, namespace=namespace)
        except httpx2.HTTPStatusError as exc:
            _raise(exc)
            raise
        return str(done.status.token)

    async def close(self) -> None:
        await self.client.close()


def connect(
    kubeconfig: Path | None = None, context: str | None = None, timeout: float = 30.0
) -> Kube:
    """A client from a kubeconfig file, or in-cluster config, or ~/.kube/config."""
    if kubeconfig is not None:
        config = KubeConfig.from_file(kubeconfig).get(context_name=context)
    else:
        config = KubeConfig.from_env().get(context_name=context)
    client = AsyncClient(config=config, field_manager=MANAGER, timeout=httpx2.Timeout(timeout))
    return Kube(client)


async def sleep(seconds: float) -> None:  # pragma: no cover - a seam for tests
    await asyncio.sleep(seconds)
