"""A small async API client for the test kubelet and job controller: they talk to the fake API
over HTTPS like their real counterparts (their requests are recorded under their own users)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp


class KubeError(Exception):
    def __init__(self, code: int, body: str) -> None:
        super().__init__(f"{code}: {body[:300]}")
        self.code = code


def _path(
    api_version: str, plural: str, namespace: str | None, name: str = "", sub: str = ""
) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    if name:
        base += f"/{name}"
    if sub:
        base += f"/{sub}"
    return base


class Client:
    def __init__(self, url: str, ca_path: str, token: str) -> None:
        self.url, self.token = url, token
        self.tls = ssl.create_default_context(cafile=ca_path)
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self.session = aiohttp.ClientSession(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            connector=aiohttp.TCPConnector(ssl=self.tls),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Any:
        assert self.session is not None
        data = None if body is None else json.dumps(body)
        async with self.session.request(
            method, path, data=data, params=params, headers={"Content-Type": content}
        ) as r:
            text = await r.text()
            if r.status >= 400:
                raise KubeError(r.status, text)
            return json.loads(text) if text else None

    async def get(
        self, api_version: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        try:
            return await self.call("GET", _path(api_version, plural, namespace, name))
        except KubeError as e:
            if e.code == 404:
                return None
            raise

    async def create(
        self,
        api_version: str,
        plural: str,
        namespace: str | None,
        body: Any,
        sub: str = "",
        name: str = "",
    ) -> Any:
        return await self.call("POST", _path(api_version, plural, namespace, name, sub), body)

    async def patch(
        self,
        api_version: str,
        plural: str,
        namespace: str | None,
        name: str,
        body: Any,
        sub: str = "",
    ) -> Any:
        path = _path(api_version, plural, namespace, name, sub)
        return await self.call("PATCH", path, body, content="application/merge-patch+json")

    async def delete(
        self, api_version: str, plural: str, namespace: str | None, name: str, **options: Any
    ) -> None:
        try:
            await self.call("DELETE", _path(api_version, plural, namespace, name), options or None)
        except KubeError as e:
            if e.code != 404:
                raise

    async def watch(
        self, api_version: str, plural: str
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Every object (as ADDED), then changes; re-lists when the watch falls too far behind."""
        assert self.session is not None
        path = _path(api_version, plural, None)
        version = ""
        while True:
            if not version:
                listed = await self.call("GET", path)
                version = listed["metadata"]["resourceVersion"]
                for item in listed["items"]:
                    yield "ADDED", item
            params = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "300"}
            try:
                async with self.session.get(
                    path, params=params, timeout=aiohttp.ClientTimeout(total=None)
                ) as r:
                    async for line in r.content:
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            version = ""
                            break
                        obj = event["object"]
                        version = obj["metadata"].get("resourceVersion", version)
                        if event["type"] != "BOOKMARK":
                            yield event["type"], obj
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.2)
