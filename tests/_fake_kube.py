"""A fake Kubernetes API server over real HTTPS, enough for the real kubectl and helm: /version,
legacy discovery (/api, /apis, /api/v1), core objects (list with label selectors, get, Table
output, create, replace, server-side apply, delete; each with or without dryRun), events, pod
logs, and the protobuf bodies Helm's release storage sends (tests/_kube_protobuf.py). It
records every request (method, path, query, token).
HTTPS because kubectl sends no bearer token over plain HTTP; the certificate is a throwaway
self-signed one made with `openssl`.

No kube-apiserver can be installed on these machines; kmock (the PyPI fake) serves discovery
and objects but not Table output, pod logs or the events a `describe` asks for.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tests import _kube_protobuf

TOKEN = "fake-token-0123456789"
CREATED = "2026-11-01T00:00:00Z"

_RESOURCES = [
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
     "shortNames": ["po"], "verbs": ["get", "list", "create", "patch", "delete"]},
    {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
    {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
     "shortNames": ["cm"], "verbs": ["get", "list", "create", "patch", "delete"]},
    {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
     "verbs": ["get", "list", "create", "patch", "update", "delete"]},
    {"name": "services", "singularName": "service", "namespaced": True, "kind": "Service",
     "shortNames": ["svc"], "verbs": ["get", "list", "create", "patch", "update", "delete"]},
    {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event",
     "shortNames": ["ev"], "verbs": ["get", "list"]},
    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
     "shortNames": ["ns"], "verbs": ["get", "list"]},
]  # fmt: skip
# The OpenAPI v3 kubectl reads before `apply`: only whether PATCH takes `fieldValidation`
# (then the server validates, and kubectl needs no schema of its own).
_OPENAPI_ROOT = {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=1"}}}
_NAMESPACED = "/api/v1/namespaces/{{namespace}}/{plural}/{{name}}"
_OPENAPI_V1 = {
    "openapi": "3.0.0",
    "info": {"title": "Kubernetes", "version": "v1.37.0"},
    "paths": {
        path.format(plural=plural): {
            "patch": {
                "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": kind},
                "parameters": [{"name": "fieldValidation", "in": "query",
                                "schema": {"type": "string"}}],
                "responses": {},
            }
        }
        for path, plural, kind in (
            *((_NAMESPACED, p, k) for p, k in (("pods", "Pod"), ("configmaps", "ConfigMap"),
                                               ("secrets", "Secret"), ("services", "Service"))),
            ("/api/v1/{plural}/{{name}}", "namespaces", "Namespace"),
        )
    },
}  # fmt: skip
_KINDS = {"pods": "Pod", "configmaps": "ConfigMap", "secrets": "Secret", "events": "Event",
          "services": "Service"}  # fmt: skip
VERSION = {"major": "1", "minor": "35", "gitVersion": "v1.35.0", "platform": "linux/amd64"}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    token: str


@dataclass
class FakeKube:
    """The server's state: objects by (resource, namespace, name), logs, and what it saw."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=lambda: {})
    logs: dict[str, str] = field(default_factory=lambda: {})
    requests: list[Seen] = field(default_factory=lambda: [])
    hang: asyncio.Event = field(default_factory=asyncio.Event)
    """Log requests for the pod `slow` wait on this (never set by the server)."""
    url: str = ""
    ca: bytes = b""
    versions: itertools.count[int] = field(default_factory=lambda: itertools.count(2))
    delete_options: list[dict[str, Any]] = field(default_factory=lambda: [])
    """The DeleteOptions bodies of DELETE requests (where clients put dryRun)."""

    def add(
        self,
        resource: str,
        namespace: str,
        name: str,
        labels: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.objects[(resource, namespace, name)] = {
            "apiVersion": "v1",
            "kind": _KINDS[resource],
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                         "creationTimestamp": CREATED, "resourceVersion": "1",
                         **({"labels": labels} if labels else {})},
            **extra,
        }  # fmt: skip

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def kubeconfig(self, folder: Path, token: str = TOKEN) -> Path:
        path = folder / "kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca).decode()}}],
                    "users": [{"name": "fake", "user": {"token": token}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                     "namespace": "default"}}
                    ],
                    "current-context": "fake",
                }
            )
        )  # fmt: skip
        return path

    # --- handlers ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        self.requests.append(
            Seen(request.method, request.path, dict(request.query), auth.removeprefix("Bearer "))
        )
        if auth != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "Unauthorized")
        parts = request.path.strip("/").split("/")
        if request.path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if request.path == "/apis":
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        if request.path == "/openapi/v3":
            return web.json_response(_OPENAPI_ROOT)
        if request.path == "/openapi/v3/api/v1":
            return web.json_response(_OPENAPI_V1)
        if request.path == "/api/v1":
            return web.json_response(
                {"kind": "APIResourceList", "groupVersion": "v1", "resources": _RESOURCES}
            )
        if request.path == "/version":
            return web.json_response(VERSION)
        # /api/v1/namespaces/NS/RESOURCE[/NAME[/log]]
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) >= 5:
            namespace, resource, rest = parts[3], parts[4], parts[5:]
            if resource == "pods" and len(rest) == 2 and rest[1] == "log":
                return await self._log(rest[0], namespace)
            if request.method == "GET" and not rest and request.query.get("watch") == "true":
                return await self._watch(request, resource, namespace)
            if request.method == "GET" and not rest:
                return self._list(request, resource, namespace)
            if len(rest) <= 1 and resource in _KINDS:
                return await self._write(request, resource, namespace, rest[0] if rest else None)
        return _status(404, "NotFound", f"the server could not find {request.path}")

    async def _write(
        self, request: web.Request, resource: str, namespace: str, name: str | None
    ) -> web.Response:
        """GET one object, POST (create), PUT (replace), PATCH (apply or merge), DELETE."""
        found = self.objects.get((resource, namespace, name or ""))
        dry = request.query.get("dryRun") == "All"
        if request.method == "GET" and name:
            if found is None:
                return _status(404, "NotFound", f'{resource} "{name}" not found')
            return web.json_response(found)
        if request.method == "DELETE" and name:
            if found is None:
                return _status(404, "NotFound", f'{resource} "{name}" not found')
            options = await _body(request) if request.can_read_body else {}
            self.delete_options.append(options)
            if not (dry or options.get("dryRun") == ["All"]):
                del self.objects[resource, namespace, name]
            return web.json_response(found)
        body = await _body(request)
        name = name or str(body.get("metadata", {}).get("name", ""))
        key = (resource, namespace, name)
        found = self.objects.get(key)
        if request.method == "POST" and found is not None:
            return _status(409, "AlreadyExists", f'{resource} "{name}" already exists')
        if request.method == "PUT" and found is None:
            return _status(404, "NotFound", f'{resource} "{name}" not found')
        if request.method == "PATCH":
            apply = request.content_type == "application/apply-patch+yaml"
            if found is None and not apply:
                return _status(404, "NotFound", f'{resource} "{name}" not found')
            body = _merge(found or {}, body)
        elif request.method not in ("POST", "PUT"):
            return _status(405, "MethodNotAllowed", f"{request.method} is not served here")
        obj = self._stamp(resource, namespace, name, body, found)
        if not dry:
            self.objects[key] = obj
        return web.json_response(obj, status=201 if found is None else 200)

    def _stamp(
        self,
        resource: str,
        namespace: str,
        name: str,
        body: dict[str, Any],
        found: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """What the API server stores: apiVersion/kind, uid, resourceVersion, stringData folded
        into data (Secrets)."""
        obj = {**body, "apiVersion": "v1", "kind": _KINDS[resource]}
        old = (found or {}).get("metadata", {})
        obj["metadata"] = {
            **body.get("metadata", {}),
            "name": name,
            "namespace": namespace,
            "uid": old.get("uid", f"uid-{name}"),
            "creationTimestamp": old.get("creationTimestamp", CREATED),
            "resourceVersion": str(next(self.versions)),
        }
        if resource == "secrets" and "stringData" in obj:
            data = dict(obj.get("data") or {})
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        return obj

    async def _watch(
        self, request: web.Request, resource: str, namespace: str
    ) -> web.StreamResponse:
        """A watch: with sendInitialEvents (client-go's streaming list) the current objects as
        ADDED and the initial-events-end bookmark; then nothing new (nothing changes behind a
        client's back here) until its timeoutSeconds (at most 5 s), as a real one would end."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        if request.query.get("sendInitialEvents") == "true":
            for obj in self._matching(request, resource, namespace):
                await response.write(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
            bookmark = {"kind": _KINDS[resource], "apiVersion": "v1", "metadata": {
                "resourceVersion": str(next(self.versions)),
                "annotations": {"k8s.io/initial-events-end": "true"}}}  # fmt: skip
            await response.write(json.dumps({"type": "BOOKMARK", "object": bookmark}).encode())
            await response.write(b"\n")
        timeout = min(5.0, float(request.query.get("timeoutSeconds", "5")))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hang.wait(), timeout)
        return response

    def _matching(
        self, request: web.Request, resource: str, namespace: str
    ) -> list[dict[str, Any]]:
        wanted = _selector(request.query.get("labelSelector", ""))
        field = request.query.get("fieldSelector", "")
        name = field.removeprefix("metadata.name=") if field.startswith("metadata.name=") else None
        return [
            o
            for (r, ns, n), o in sorted(self.objects.items())
            if r == resource
            and ns == namespace
            and (name is None or n == name)
            and wanted.items() <= (o["metadata"].get("labels") or {}).items()
        ]

    async def _log(self, pod: str, namespace: str) -> web.StreamResponse:
        if pod == "slow":
            await self.hang.wait()
        if (("pods", namespace, pod)) not in self.objects:
            return _status(404, "NotFound", f'pods "{pod}" not found')
        return web.Response(text=self.logs.get(pod, ""))

    def _list(self, request: web.Request, resource: str, namespace: str) -> web.Response:
        items = self._matching(request, resource, namespace)
        if "as=Table" in request.headers.get("Accept", ""):
            return web.json_response(
                {
                    "kind": "Table",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"resourceVersion": "1"},
                    "columnDefinitions": [
                        {"name": "Name", "type": "string", "format": "name", "priority": 0,
                         "description": "Name"},
                    ],
                    "rows": [
                        {"cells": [o["metadata"]["name"]],
                         "object": {"kind": "PartialObjectMetadata",
                                    "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}}
                        for o in items
                    ],
                }
            )  # fmt: skip
        kind = _KINDS.get(resource, "Object")
        return web.json_response(
            {"kind": f"{kind}List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
             "items": items}
        )  # fmt: skip


async def _body(request: web.Request) -> dict[str, Any]:
    """A request body: Kubernetes protobuf (Secrets, ConfigMaps), JSON or YAML."""
    raw = await request.read()
    if request.content_type == _kube_protobuf.CONTENT_TYPE:
        return _kube_protobuf.decode(raw)
    loaded = yaml.safe_load(raw) if raw else {}
    return loaded if isinstance(loaded, dict) else {}


def _merge(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386); also how this fake applies server-side apply bodies."""
    out = dict(old)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _selector(text: str) -> dict[str, str]:
    """Equality label selectors (`a=b,c==d`); a set-based one is not filtered on (kept whole)."""
    wanted: dict[str, str] = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep or key.endswith("!") or " " in part:
            return {}
        wanted[key] = value.removeprefix("=")
    return wanted


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
         "reason": reason, "code": code},
        status=code,
    )  # fmt: skip


@asynccontextmanager
async def fake_kube() -> AsyncIterator[FakeKube]:
    """Serve a FakeKube on 127.0.0.1 (a free port) for the duration of the block."""
    kube = FakeKube()
    with tempfile.TemporaryDirectory(prefix="fake-kube-") as folder:
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=fake",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        kube.ca = cert.read_bytes()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", kube.handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # pyright: ignore[reportOptionalMemberAccess, reportAttributeAccessIssue, reportUnknownMemberType, reportPrivateUsage]
    kube.url = f"https://127.0.0.1:{port}"
    try:
        yield kube
    finally:
        kube.hang.set()
        await runner.cleanup()
