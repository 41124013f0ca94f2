"""The HTTP side of the fake API: routing Kubernetes paths, authentication, RBAC, every verb,
pod logs, TokenRequest and access reviews (watches: _watch.py); every request is recorded."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from tests.kube import _discovery, _protobuf, _select
from tests.kube._auth import Attributes, User
from tests.kube._resources import BUILTIN, Resource
from tests.kube._store import ApiError, Change, Store
from tests.kube._watch import Watches

if TYPE_CHECKING:
    from tests.kube._fake import FakeKube

_NON_RESOURCE = re.compile(r"^/(api|apis|version|openapi(/.*)?|healthz|livez|readyz)?$")
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
_BUILTIN = {(r.group, r.plural) for r in BUILTIN}
_RETURN_DELETED = {
    ("", "pods"),
    ("", "persistentvolumeclaims"),
    ("", "resourcequotas"),
    ("", "services"),
    ("", "serviceaccounts"),
    ("", "persistentvolumes"),
    ("storage.k8s.io", "storageclasses"),
}
"""Kinds whose DELETE answers with the object (the others answer with a Status)."""
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass
class Seen:
    """One request the fake API answered."""

    method: str
    path: str
    query: dict[str, str]
    user: str
    """The authenticated user name ('' when authentication failed)."""
    verb: str = ""
    """The RBAC verb (get, list, watch, create, update, patch, delete, deletecollection)."""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    code: int = 0
    at: float = field(default_factory=time.time)


@dataclass
class Route:
    res: Resource
    namespace: str | None
    name: str
    sub: str
    verb: str


def _scale(obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale a `/scale` subresource answers for a scalable object."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    keep = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in keep if k in meta},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(ApiError(code, reason, message).status(), status=code)


def _parse(store: Store, method: str, parts: list[str], query: Any) -> Route | None:
    """Resolve /api/v1/... or /apis/G/V/... into a resource route."""
    if parts[0] == "api" and len(parts) >= 3:
        gv, rest = parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    watch = query.get("watch") in ("true", "1")
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and store.resource(gv, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    res = store.resource(gv, rest[0]) if rest else None
    if res is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in res.subresources:
        return None
    verb = _VERBS.get(method, method.lower())
    if not name and method == "GET":
        verb = "watch" if watch else "list"
    elif not name and method == "DELETE":
        verb = "deletecollection"
    if res.namespaced and namespace is None and name:
        return None
    return Route(res, namespace if res.namespaced else None, name, sub, verb)


class Api:
    def __init__(self, fake: FakeKube) -> None:
        self.fake = fake
        self.store: Store = fake.store
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = asyncio.Event()
        self.watches = Watches(self.store, self.stopping)

    # --- plumbing ---------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Called under the store's lock from any thread: hand the change to each watch."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        self.watches.notify(change, loop)
        if self.store.gc_wanted.is_set():
            loop.call_soon_threadsafe(self._schedule_gc)

    def stop(self) -> None:
        """On the server's loop: stalled requests and watches end now."""
        self.stopping.set()
        self.watches.stop()

    def _schedule_gc(self) -> None:
        if not getattr(self, "_gc_pending", False):
            self._gc_pending = True
            asyncio.get_running_loop().call_later(0.005, self._gc)

    def _gc(self) -> None:
        self._gc_pending = False
        while self.store.collect():
            pass

    async def handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(request.method, request.path, dict(request.query), "")
        self.fake.requests.append(seen)
        try:
            response = await self._handle(request, seen)
        except ApiError as e:
            response = web.json_response(e.status(), status=e.code)
        seen.code = response.status
        return response

    async def _handle(self, request: web.Request, seen: Seen) -> web.StreamResponse:
        injected = self.fake.injected(request.method, request.path)
        if injected == 0:
            await self.stopping.wait()
            return _status(503, "ServiceUnavailable", "the fake API is stopping")
        if injected is not None:
            return _status(
                injected,
                "InternalError" if injected >= 500 else "Injected",
                f"injected failure {injected}",
            )
        user = self.fake.identity.authenticate(request.headers.get("Authorization", ""))
        if user is None:
            return _status(401, "Unauthorized", "Unauthorized")
        seen.user = user.name
        path = request.path.rstrip("/") or "/"
        if _NON_RESOURCE.match(path) or path.count("/") <= (2 if path.startswith("/api/") else 3):
            doc = self._non_resource(path)
            if doc is None:
                return _status(404, "NotFound", "the server could not find the requested resource")
            return web.json_response(doc)
        route = _parse(self.store, request.method, path.strip("/").split("/"), request.query)
        if route is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        seen.verb, seen.resource, seen.subresource = route.verb, route.res.plural, route.sub
        seen.namespace, seen.name = route.namespace or "", route.name
        attrs = Attributes(
            route.verb,
            route.res.group,
            route.res.plural,
            route.sub,
            route.namespace or "",
            route.name,
        )
        if not self.fake.identity.authorize(user, attrs):
            raise ApiError(
                403,
                "Forbidden",
                attrs.describe(user),
                name=route.name,
                group=route.res.group,
                kind=route.res.plural,
            )
        return await self._serve(request, route, user)

    def _non_resource(self, path: str) -> dict[str, Any] | None:
        served = list(self.store.served.values())
        if path in ("/healthz", "/livez", "/readyz"):
            return {"status": "ok"}
        if path == "/version":
            return _discovery.VERSION
        if path == "/api":
            return _discovery.api_versions(self.fake.url.removeprefix("https://"))
        if path == "/apis":
            return _discovery.api_groups(served)
        if path == "/openapi/v3":
            return _discovery.openapi_root(served)
        if path.startswith("/openapi/v3/"):
            return _discovery.openapi_doc(served, path.removeprefix("/openapi/v3/"))
        if path == "/":
            return {"paths": sorted({"/api", "/apis", "/version", "/openapi/v3", "/healthz"})}
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            return _discovery.resource_list(served, parts[1])
        if parts[0] == "apis" and len(parts) == 2:
            return _discovery.api_group(served, parts[1])
        if parts[0] == "apis" and len(parts) == 3:
            return _discovery.resource_list(served, f"{parts[1]}/{parts[2]}")
        return None

    # --- verbs ------------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        kind = request.content_type
        if kind == _protobuf.CONTENT_TYPE:
            try:
                return _protobuf.decode(raw)
            except ValueError as e:
                raise ApiError(415, "UnsupportedMediaType", str(e)) from None
        try:
            return yaml.safe_load(raw) if "yaml" in kind else json.loads(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"the body could not be decoded: {e}") from None

    async def _serve(self, request: web.Request, route: Route, user: User) -> web.StreamResponse:
        q = request.query
        res, ns, name, sub = route.res, route.namespace or "", route.name, route.sub
        dry = q.get("dryRun") == "All"
        if route.verb in ("list", "watch"):
            select = self._selector(q)
            if route.verb == "watch":
                return await self.watches.serve(request, route.res, route.namespace, select)
            items, rv = self.store.list(res, route.namespace, select)
            return self._list_response(request, res, items, rv)
        if request.method == "GET":
            if sub == "log":
                return await self.fake.logs.serve(request, self.store.get(res, ns, name), q)
            if sub == "scale":
                return web.json_response(_scale(self.store.get(res, ns, name)))
            obj = self.store.get(res, ns, name)
            if "as=Table" in request.headers.get("Accept", ""):
                return web.json_response(
                    _discovery.table(res, [obj], self.store.now(), False, self.store.rv)
                )
            return web.json_response(obj)
        body = await self._body(request)
        if sub == "scale" and request.method in ("PUT", "PATCH"):
            # The Scale view and its parent share spec.replicas: change that on the parent.
            replicas = (body.get("spec") or {}).get("replicas") if isinstance(body, dict) else None
            if not isinstance(replicas, int):
                raise ApiError(422, "Invalid", "spec.replicas: an integer is required")
            patch = {"spec": {"replicas": replicas}}
            obj, _ = self.store.patch(res, ns, name, "merge", patch, dry_run=dry)
            return web.json_response(_scale(obj))
        if request.method == "POST":
            if sub == "token":
                return web.json_response(
                    self.fake.identity.token_request(ns, name, body), status=201
                )
            if sub == "eviction":
                self.store.delete(self.store.storage("", "pods"), ns, name, dry_run=dry)
                return web.json_response(
                    {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201},
                    status=201,
                )
            if res.plural.endswith("reviews"):
                return web.json_response(self.fake.identity.review(res, body, user), status=201)
            obj = self.store.create(res, ns, body, dry_run=dry)
            return web.json_response(obj, status=201)
        if request.method == "PUT":
            return web.json_response(self.store.update(res, ns, name, body, sub, dry_run=dry))
        if request.method == "PATCH":
            kind = _PATCH_TYPES.get(request.content_type)
            if kind is None:
                raise ApiError(
                    415, "UnsupportedMediaType", f"unknown patch type {request.content_type!r}"
                )
            obj, created = self.store.patch(
                res,
                ns,
                name,
                kind,
                body,
                sub=sub,
                manager=q.get("fieldManager", ""),
                force=q.get("force") == "true",
                dry_run=dry,
            )
            return web.json_response(obj, status=201 if created else 200)
        if route.verb == "deletecollection":
            items, _ = self.store.list(res, route.namespace, self._selector(q))
            for item in items:
                meta = item["metadata"]
                self.store.delete(res, meta.get("namespace", ""), meta["name"], dry_run=dry)
            return self._list_response(request, res, items, self.store.rv)
        return self._delete(res, ns, name, body if isinstance(body, dict) else {}, q, dry)

    def _delete(
        self, res: Resource, ns: str, name: str, opts: dict[str, Any], q: Any, dry: bool
    ) -> web.Response:
        propagation = q.get("propagationPolicy") or opts.get("propagationPolicy") or ""
        if opts.get("orphanDependents") is True or q.get("orphanDependents") == "true":
            propagation = propagation or "Orphan"
        grace_raw = q.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        grace = int(grace_raw) if grace_raw is not None else None
        dry = dry or "All" in (opts.get("dryRun") or [])
        obj, gone = self.store.delete(
            res,
            ns,
            name,
            propagation=propagation,
            grace=grace,
            preconditions=opts.get("preconditions"),
            dry_run=dry,
        )
        builtin = (res.group, res.plural) in _BUILTIN
        if not gone or (res.group, res.plural) in _RETURN_DELETED or not builtin:
            return web.json_response(obj)
        meta = obj["metadata"]
        return web.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": meta["name"],
                    "group": res.group,
                    "kind": res.plural,
                    "uid": meta["uid"],
                },
            }
        )

    def _selector(self, q: Any) -> Callable[[dict[str, Any]], bool]:
        try:
            by_label = _select.labels(q.get("labelSelector", ""))
            by_field = _select.fields(q.get("fieldSelector", ""))
        except _select.SelectorError as e:
            raise ApiError(400, "BadRequest", str(e)) from None
        return lambda o: by_label(o) and by_field(o)

    def _list_response(
        self, request: web.Request, res: Resource, items: list[dict[str, Any]], rv: int
    ) -> web.Response:
        if "as=Table" in request.headers.get("Accept", ""):
            full = request.query.get("includeObject") == "Object"
            return web.json_response(_discovery.table(res, items, self.store.now(), full, rv))
        return web.json_response(
            {
                "kind": f"{res.kind}List",
                "apiVersion": res.group_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            }
        )
