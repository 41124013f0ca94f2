"""What the kubelet prepares before a container starts: the Pod's volumes as host folders
(emptyDir, configMap, secret, projected with a real TokenRequest, downwardAPI, a folder per
PersistentVolumeClaim, hostPath) and each container's environment (valueFrom, envFrom, the
KUBERNETES_SERVICE_* variables every real kubelet sets)."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

from tests.kube._kclient import Client


class ConfigError(Exception):
    """A container cannot be configured (waiting reason CreateContainerConfigError)."""


class MountError(Exception):
    """A volume cannot be set up (the pod stays ContainerCreating, as with FailedMount)."""


def _write(folder: Path, name: str, data: bytes, mode: int | None) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode if mode is not None else 0o644)


def _pick(
    keys: dict[str, bytes], items: list[dict[str, Any]] | None, what: str
) -> dict[str, tuple[bytes, int | None]]:
    if not items:
        return {k: (v, None) for k, v in keys.items()}
    out: dict[str, tuple[bytes, int | None]] = {}
    for item in items:
        if item["key"] not in keys:
            raise MountError(f"configmap or secret {what}: key {item['key']!r} not found")
        out[item.get("path", item["key"])] = (keys[item["key"]], item.get("mode"))
    return out


_OWNED_KINDS = {"configMap", "secret", "projected", "downwardAPI"}


def _own(folder: Path, fs_group: int | None) -> None:
    """What the kubelet does to a volume when the Pod sets fsGroup: every file's group becomes
    fsGroup and gains group read (these volumes are read-only), folders get setgid. As
    non-root (no chown to another group) the files become world-readable instead."""
    if fs_group is None:
        return
    for path in [folder, *folder.rglob("*")]:
        mask = 0o2550 if path.is_dir() else 0o440
        try:
            os.chown(path, -1, int(fs_group))
        except PermissionError:
            mask |= 0o004 | (0o001 if path.is_dir() else 0)
        path.chmod(path.stat().st_mode | mask)


def field(pod: dict[str, Any], path: str) -> str:
    """A downward-API fieldPath's value."""
    meta, spec = pod["metadata"], pod.get("spec", {})
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldPath {path!r}")
    return str(simple[path] or "")


class Materialiser:
    """Reads what a Pod refers to (through the API, as the kubelet's user) and lays it out."""

    def __init__(self, api: Client, pod: dict[str, Any], root: Path, claims: Path) -> None:
        self.api, self.pod, self.root, self.claims = api, pod, root, claims
        self.ns: str = pod["metadata"]["namespace"]
        self._cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    async def _get(self, plural: str, name: str) -> dict[str, Any] | None:
        if (plural, name) not in self._cache:
            self._cache[(plural, name)] = await self.api.get("v1", plural, self.ns, name)
        return self._cache[(plural, name)]

    async def _keys(self, plural: str, name: str, optional: bool) -> dict[str, bytes] | None:
        obj = await self._get(plural, name)
        if obj is None:
            if optional:
                return None
            raise MountError(f'{plural[:-1]} "{name}" not found')
        if plural == "secrets":
            return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        keys = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        keys.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return keys

    async def volumes(self) -> dict[str, Path]:
        """Volume name -> host folder."""
        out: dict[str, Path] = {}
        for volume in self.pod["spec"].get("volumes") or []:
            folder = self.root / "volumes" / volume["name"]
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o777)
            out[volume["name"]] = await self._volume(volume, folder)
            if _OWNED_KINDS & volume.keys():
                _own(folder, (self.pod["spec"].get("securityContext") or {}).get("fsGroup"))
        return out

    async def _volume(self, volume: dict[str, Any], folder: Path) -> Path:
        if "emptyDir" in volume:
            return folder
        if "configMap" in volume or "secret" in volume:
            await self._source(
                volume, folder, volume.get("configMap", volume.get("secret", {})).get("defaultMode")
            )
            return folder
        if "projected" in volume:
            mode = volume["projected"].get("defaultMode")
            for source in volume["projected"].get("sources") or []:
                await self._source(source, folder, mode)
            return folder
        if "downwardAPI" in volume:
            await self._source(volume, folder, volume["downwardAPI"].get("defaultMode"))
            return folder
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if await self._get("persistentvolumeclaims", claim) is None:
                raise MountError(f'persistentvolumeclaim "{claim}" not found')
            path = self.claims / self.ns / claim
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)
            return path
        if "hostPath" in volume:
            return Path(volume["hostPath"]["path"])
        raise MountError(
            f"volume {volume['name']!r}: this kind is not supported by the test kubelet"
        )

    async def _source(self, source: dict[str, Any], folder: Path, mode: int | None) -> None:
        if "configMap" in source or "secret" in source:
            plural = "configmaps" if "configMap" in source else "secrets"
            ref = source.get("configMap") or source.get("secret") or {}
            name = ref.get("name") or ref.get("secretName", "")
            keys = await self._keys(plural, name, bool(ref.get("optional")))
            if keys is not None:
                for path, (data, item_mode) in _pick(keys, ref.get("items"), name).items():
                    _write(folder, path, data, item_mode if item_mode is not None else mode)
        elif "serviceAccountToken" in source:
            ref = source["serviceAccountToken"]
            token = await self.token(ref.get("audience"), int(ref.get("expirationSeconds", 3600)))
            _write(folder, ref["path"], token.encode(), mode)
        elif "downwardAPI" in source:
            for item in source["downwardAPI"].get("items") or []:
                value = field(self.pod, item["fieldRef"]["fieldPath"]) if "fieldRef" in item else ""
                _write(folder, item["path"], value.encode(), item.get("mode", mode))

    async def token(self, audience: str | None, seconds: int) -> str:
        meta = self.pod["metadata"]
        body = {
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": max(seconds, 600),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            }
        }
        sa = self.pod["spec"].get("serviceAccountName", "default")
        made = await self.api.create("v1", "serviceaccounts", self.ns, body, sub="token", name=sa)
        return made["status"]["token"]

    async def env(self, container: dict[str, Any], service: dict[str, str]) -> dict[str, str]:
        """The container's environment, as the kubelet resolves it."""
        env = dict(service)
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, plural in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
                if kind in source:
                    ref = source[kind]
                    keys = await self._ref_keys(plural, ref["name"], bool(ref.get("optional")))
                    env.update({prefix + k: v.decode() for k, v in keys.items()})
        for item in container.get("env") or []:
            name = item["name"]
            if "valueFrom" not in item:
                env[name] = re.sub(
                    r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                    lambda m: env.get(m.group(1), m.group(0)),
                    str(item.get("value", "")),
                )
                continue
            source = item["valueFrom"]
            if "fieldRef" in source:
                env[name] = field(self.pod, source["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in source:
                ref = source["resourceFieldRef"]
                kind, _, res = ref["resource"].partition(".")
                env[name] = str((container.get("resources") or {}).get(kind, {}).get(res, "0"))
            else:
                kind = "secretKeyRef" if "secretKeyRef" in source else "configMapKeyRef"
                plural = "secrets" if kind == "secretKeyRef" else "configmaps"
                ref = source[kind]
                keys = await self._ref_keys(plural, ref["name"], bool(ref.get("optional")))
                if ref["key"] in keys:
                    env[name] = keys[ref["key"]].decode()
                elif not ref.get("optional"):
                    what = "Secret" if plural == "secrets" else "ConfigMap"
                    raise ConfigError(
                        f"couldn't find key {ref['key']} in {what} {self.ns}/{ref['name']}"
                    )
        return env

    async def _ref_keys(self, plural: str, name: str, optional: bool) -> dict[str, bytes]:
        try:
            return await self._keys(plural, name, optional) or {}
        except MountError as e:
            raise ConfigError(str(e)) from None


def service_env(port: int) -> dict[str, str]:
    """The `kubernetes` service's variables: a real kubelet sets them in every container
    (enableServiceLinks and automountServiceAccountToken do not change that)."""
    return {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://127.0.0.1:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://127.0.0.1:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
        f"KUBERNETES_PORT_{port}_TCP_ADDR": "127.0.0.1",
    }
