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
from tests.kube._auth import RBAC, User, default_cluster_roles
from tests.kube._identity import Identity
from tests.kube._logs import Logs
from tests.kube._resources import Resource
from tests.kube._store import ApiError, Change, Store

T = TypeVar("T")
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
        self.requests: list[Seen] = []
        """Every request answered, in order."""
        self.logs = Logs()
        self.folder = Path(tempfile.mkdtemp(prefix="fake-kube-"))
        cert, self._key = _cert(self.folder)
        self.ca_path = cert
        """The CA (self-signed server certificate) file clients verify against."""
        self.ca_pem = cert.read_text()
        self.store = Store(self._on_change, self.ca_pem)
        self.identity = Identity(self.store, min_token_seconds)
        self.tokens = self.identity.tokens
        self.issued = self.identity.issued
        """Every token minted: namespace, serviceaccount, expires (epoch s), audiences, bound."""
        self.admin_token = "admin-" + secrets.token_hex(16)
        self.tokens.fixed[self.admin_token] = User("admin", ADMIN_GROUPS)
        self.url = ""
        """https://127.0.0.1:PORT once started."""
        self.port = 0
        self._api = Api(self)
        self._failures: list[_Failure] = []
        self._clients: list[Any] = []
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
        self._api.stop()
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
        self.identity.on_change(change)
        self._api.on_change(change)

    def authenticate(self, header: str) -> User | None:
        """The user an Authorization header stands for (None: unauthenticated)."""
        return self.identity.authenticate(header)

    # --- failure injection ------------------------------------------------------------------

    def fail(self, code: int, path: str = ".*", method: str | None = None, times: int = 1) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `code`."""
        self._failures.append(_Failure(code, method, re.compile(path), times))

    def stall(self, path: str = ".*", method: str | None = None, times: int = 1) -> None:
        """Leave the next `times` requests whose path matches regex `path` unanswered until the
        fake stops: a hung API server, as a client with a deadline meets it."""
        self._failures.append(_Failure(0, method, re.compile(path), times))

    def injected(self, method: str, path: str) -> int | None:
        """The status code to answer with instead of serving (0: never answer), or None."""
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
        return self.identity.token_request(namespace, serviceaccount, body)["status"]["token"]

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

    def add(
        self,
        kind: str,
        name: str,
        namespace: str = "default",
        labels: dict[str, str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create a core (v1) object from its top-level fields: `add("Pod", "web", spec=...)`."""
        meta = {"name": name, "namespace": namespace, **({"labels": labels} if labels else {})}
        return self.create({"apiVersion": "v1", "kind": kind, "metadata": meta, **fields})

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

    def seen(self, method: str, path: str) -> list[Seen]:
        """The recorded requests with this method and (exact) path, in order."""
        return [r for r in list(self.requests) if (r.method, r.path) == (method, path)]

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
