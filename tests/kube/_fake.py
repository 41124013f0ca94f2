"""FakeKube: the fake API server on 127.0.0.1 over HTTPS, in a thread of its own (so sync tests,
async tests and subprocesses can all talk to it), with the helpers tests use."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from tests.kube import _select
from tests.kube._api import Api, Seen
from tests.kube._auth import RBAC, Attributes, Tokens, User, default_cluster_roles, rule_allows
from tests.kube._auth import rules_for as _rules_for
from tests.kube._logs import Logs
from tests.kube._resources import Resource
from tests.kube._store import ApiError, Change, Store, iso

T = TypeVar("T")
AUDIENCE = "https://kubernetes.default.svc"
ADMIN_GROUPS = ("system:masters", "system:authenticated")


@dataclass
class _Failure:
    code: int
    method: str | None
    path: re.Pattern[str]
    times: int


def _cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "ca.crt", folder / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=fake-kube",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


class FakeKube:
    """A stateful fake Kubernetes API server; see the package docstring for what it does."""

    def __init__(self, *, min_token_seconds: int = 600) -> None:
        self.min_token_seconds = min_token_seconds
        """TokenRequest refuses shorter expirationSeconds (the real minimum is 600)."""
        self.requests: list[Seen] = []
        """Every request answered, in order."""
        self.issued: list[dict[str, Any]] = []
        """Every token minted: namespace, serviceaccount, expires (epoch s), audiences, bound."""
        self.logs = Logs()
        self.tokens = Tokens()
        self.admin_token = "admin-" + secrets.token_hex(16)
        self.tokens.fixed[self.admin_token] = User("admin", ADMIN_GROUPS)
        self.folder = Path(tempfile.mkdtemp(prefix="fake-kube-"))
        cert, self._key = _cert(self.folder)
        self.ca_path = cert
        """The CA (self-signed server certificate) file clients verify against."""
        self.ca_pem = cert.read_text()
        self.store = Store(self._on_change, self.ca_pem)
        self.url = ""
        """https://127.0.0.1:PORT once started."""
        self.port = 0
        self._api = Api(self)
        self._failures: list[_Failure] = []
        self._clients: list[Any] = []
        self._rbac_cache: dict[tuple[str, tuple[str, ...], str], list[dict[str, Any]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._bootstrap()

    # --- lifecycle --------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        ns = self.store.storage("", "namespaces")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(ns, "", {"metadata": {"name": name}})
        roles = self.store.storage(RBAC, "clusterroles")
        for role in default_cluster_roles():
            self.store.create(roles, "", role)

    def start(self) -> FakeKube:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), daemon=True, name="fake-kube"
        )
        self._thread.start()
        if not ready.wait(30) or not self.url:
            raise RuntimeError("the fake Kubernetes API did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._api.loop = loop
        self.logs.loop = loop
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.ca_path, self._key)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._api.handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls)
        loop.run_until_complete(site.start())
        listener: Any = site._server  # pyright: ignore[reportPrivateUsage]
        self.port = listener.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        ready.set()
        loop.run_forever()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    async def _shutdown(self) -> None:
        self._api.stopping.set()
        assert self._runner is not None
        server: Any = self._runner.server
        for transport in list(server._connections.values()):  # pyright: ignore[reportPrivateUsage]
            transport.abort()  # a TLS close would wait for the peer's close_notify
        await self._runner.cleanup()

    def stop(self) -> None:
        for made in self._clients:
            made.close()
            made.rest_client.pool_manager.clear()
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                done.result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_change(self, change: Change) -> None:
        if change.group == RBAC:
            self._rbac_cache.clear()
        self._api.on_change(change)

    # --- authentication and authorization ---------------------------------------------------

    def authenticate(self, header: str) -> User | None:
        if not header.startswith("Bearer "):
            return None
        token = header.removeprefix("Bearer ").strip()
        if token in self.tokens.fixed:
            return self.tokens.fixed[token]
        claims = self.tokens.claims(token)
        if claims is None or claims.get("exp", 0) <= self.store.now():
            return None
        k8s = claims.get("kubernetes.io", {})
        ns, sa = k8s.get("namespace", ""), k8s.get("serviceaccount", {})
        found = self.store.objects.get(("", "serviceaccounts", ns, sa.get("name", "")))
        if found is None or found["metadata"]["uid"] != sa.get("uid"):
            return None
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            bound = k8s.get(kind)
            if bound:
                obj = self.store.objects.get(("", plural, ns, bound.get("name", "")))
                if obj is None or obj["metadata"]["uid"] != bound.get("uid"):
                    return None
        return User(
            f"system:serviceaccount:{ns}:{sa['name']}",
            ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"),
            sa.get("uid", ""),
        )

    def rules(self, user: User, namespace: str) -> list[dict[str, Any]]:
        """The RBAC rules that apply to `user` in `namespace` ('' = cluster-wide only)."""
        key = (user.name, user.groups, namespace)
        cached = self._rbac_cache.get(key)
        if cached is not None:
            return cached
        with self.store.lock:
            bindings = [
                o
                for (g, p, ns, _), o in self.store.objects.items()
                if g == RBAC
                and (
                    p == "clusterrolebindings"
                    or (p == "rolebindings" and namespace and ns == namespace)
                )
            ]

            def lookup(plural: str, ns: str, name: str) -> dict[str, Any] | None:
                return self.store.objects.get((RBAC, plural, ns, name))

            found = _rules_for(user, namespace, bindings, lookup)
        self._rbac_cache[key] = found
        return found

    def authorize(self, user: User, attrs: Attributes) -> bool:
        if user.admin:
            return True
        if attrs.path or (attrs.resource == "selfsubjectaccessreviews" and attrs.verb == "create"):
            return True
        return any(rule_allows(r, attrs) for r in self.rules(user, attrs.namespace))

    def token_request(self, namespace: str, name: str, body: Any) -> dict[str, Any]:
        """Mint a token for ServiceAccount namespace/name (the TokenRequest subresource)."""
        sa = self.store.get(self.store.storage("", "serviceaccounts"), namespace, name)
        spec = dict((body or {}).get("spec") or {})
        seconds = int(spec.get("expirationSeconds") or 3600)
        if seconds < self.min_token_seconds:
            raise ApiError(
                422,
                "Invalid",
                f'TokenRequest.authentication.k8s.io "{name}" is '
                f"invalid: spec.expirationSeconds: Invalid value: {seconds}: may not "
                "specify a duration less than 10 minutes",
            )
        now = self.store.now()
        audiences = list(spec.get("audiences") or [AUDIENCE])
        k8s: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]},
        }
        ref = spec.get("boundObjectRef")
        if ref:
            kind = str(ref.get("kind", "")).lower()
            if kind not in ("pod", "secret"):
                raise ApiError(
                    422,
                    "Invalid",
                    f"boundObjectRef.kind {ref.get('kind')!r} is not supported (Pod or Secret)",
                )
            obj = self.store.get(self.store.storage("", f"{kind}s"), namespace, ref.get("name", ""))
            if ref.get("uid") not in (None, "", obj["metadata"]["uid"]):
                raise ApiError(
                    409,
                    "Conflict",
                    f"the UID in the bound object reference "
                    f"({ref.get('uid')}) does not match the UID in record",
                )
            k8s[kind] = {"name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}
        claims = {
            "iss": AUDIENCE,
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "aud": audiences,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + seconds),
            "jti": secrets.token_hex(8),
            "kubernetes.io": k8s,
        }
        token = self.tokens.mint(claims)
        self.issued.append(
            {
                "namespace": namespace,
                "serviceaccount": name,
                "expires": now + seconds,
                "audiences": audiences,
                "bound": ref,
            }
        )
        return {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": iso(now)},
            "spec": {**spec, "audiences": audiences, "expirationSeconds": seconds},
            "status": {"token": token, "expirationTimestamp": iso(now + seconds)},
        }

    def review(self, res: Resource, body: Any, user: User) -> dict[str, Any]:
        """Answer a TokenReview, SelfSubjectAccessReview or SubjectAccessReview."""
        body = dict(body or {})
        spec = body.get("spec") or {}
        if res.plural == "tokenreviews":
            found = self.authenticate(f"Bearer {spec.get('token', '')}")
            status: dict[str, Any] = {"authenticated": found is not None}
            if found is not None:
                status["user"] = {
                    "username": found.name,
                    "uid": found.uid,
                    "groups": list(found.groups),
                }
            return {**body, "status": status}
        if res.plural == "subjectaccessreviews":
            user = User(spec.get("user", ""), tuple(spec.get("groups") or ()))
        if "nonResourceAttributes" in spec:
            a = spec["nonResourceAttributes"]
            attrs = Attributes(a.get("verb", "get"), path=a.get("path", "/"))
        else:
            a = spec.get("resourceAttributes") or {}
            attrs = Attributes(
                a.get("verb", ""),
                a.get("group", ""),
                a.get("resource", ""),
                a.get("subresource", ""),
                a.get("namespace", ""),
                a.get("name", ""),
            )
        allowed = self.authorize(user, attrs)
        return {
            **body,
            "status": {"allowed": allowed, "reason": "allowed by the fake RBAC" if allowed else ""},
        }

    # --- failure injection ------------------------------------------------------------------

    def fail(self, code: int, path: str = ".*", method: str | None = None, times: int = 1) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `code`."""
        self._failures.append(_Failure(code, method, re.compile(path), times))

    def injected(self, method: str, path: str) -> int | None:
        for f in self._failures:
            if f.times > 0 and f.method in (None, method) and f.path.search(path):
                f.times -= 1
                return f.code
        return None

    # --- helpers for tests ------------------------------------------------------------------

    def kubeconfig(
        self, token: str | None = None, namespace: str = "default", path: Path | None = None
    ) -> Path:
        """Write a kubeconfig for `token` (the admin's by default); returns its path."""
        token = token or self.admin_token
        path = path or self.folder / f"kubeconfig-{secrets.token_hex(4)}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "fake",
            "clusters": [
                {
                    "name": "fake",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(
                            self.ca_pem.encode()
                        ).decode(),
                    },
                }
            ],
            "users": [{"name": "fake", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake", "namespace": namespace},
                }
            ],
        }
        path.write_text(json.dumps(config))
        return path

    def env(self, token: str | None = None, namespace: str = "default") -> dict[str, str]:
        """KUBECONFIG (and a private kubectl cache dir) for a subprocess."""
        cache = self.folder / "kubectl-cache"
        return {"KUBECONFIG": str(self.kubeconfig(token, namespace)), "KUBECACHEDIR": str(cache)}

    def client(self, token: str | None = None) -> Any:
        """An official `kubernetes.client.ApiClient` for `token` (the admin's by default)."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.ssl_ca_cert = str(self.ca_path)
        config.api_key = {"authorization": token or self.admin_token}
        config.api_key_prefix = {"authorization": "Bearer"}
        made = client.ApiClient(config)
        self._clients.append(made)
        return made

    def add_user(self, name: str, groups: tuple[str, ...] = ()) -> str:
        """A bearer token for a plain user (RBAC applies to it like to anyone)."""
        token = f"user-{secrets.token_hex(12)}"
        self.tokens.fixed[token] = User(name, (*groups, "system:authenticated"))
        return token

    def mint(self, namespace: str, serviceaccount: str, seconds: int = 3600) -> str:
        """A ServiceAccount token, as TokenRequest would issue it."""
        body = {"spec": {"expirationSeconds": seconds}}
        return self.token_request(namespace, serviceaccount, body)["status"]["token"]

    def resource(self, api_version: str, kind: str) -> Resource:
        res = self.store.by_kind(api_version, kind)
        if res is None:
            raise KeyError(f"{api_version} {kind} is not served")
        return res

    def get(
        self, api_version: str, kind: str, name: str, namespace: str = "default"
    ) -> dict[str, Any] | None:
        try:
            return self.store.get(self.resource(api_version, kind), namespace, name)
        except ApiError:
            return None

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, labels: str = ""
    ) -> list[dict[str, Any]]:
        items, _ = self.store.list(
            self.resource(api_version, kind), namespace, _select.labels(labels)
        )
        return items

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        res = self.resource(obj["apiVersion"], obj["kind"])
        return self.store.create(res, obj.get("metadata", {}).get("namespace", "default"), obj)

    def apply(self, obj: dict[str, Any], manager: str = "test", sub: str = "") -> dict[str, Any]:
        """Server-side apply (force) as `manager`; `sub="status"` applies to the status."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata", {})
        ns = meta.get("namespace", "default") if res.namespaced else ""
        found, _ = self.store.patch(
            res, ns, meta["name"], "apply", obj, sub=sub, manager=manager, force=True
        )
        return found

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str = "default",
        propagation: str = "Background",
    ) -> None:
        self.store.delete(
            self.resource(api_version, kind), namespace, name, propagation=propagation
        )

    def advance(self, seconds: float) -> None:
        """Move the API's clock forward (token expiry, timestamps)."""
        self.store.offset += seconds

    def count(
        self,
        *,
        verb: str | None = None,
        user: str | None = None,
        resource: str | None = None,
        method: str | None = None,
    ) -> int:
        """How many recorded requests match every given field."""
        return sum(
            1
            for r in list(self.requests)
            if verb in (None, r.verb)
            and user in (None, r.user)
            and resource in (None, r.resource)
            and method in (None, r.method)
        )

    def wait_for(self, check: Callable[[], T | None], timeout: float = 10.0) -> T:
        """Poll `check` until it returns something truthy; raise TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(0.01)
