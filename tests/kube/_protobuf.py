"""Decode the Kubernetes protobuf bodies a client sends for Secrets and ConfigMaps (what Helm's
release storage drivers send) and the DeleteOptions it deletes them with, into the JSON-shaped
dicts a fake API server keeps.

The wire format: the 4 magic bytes `k8s\\x00`, then a `runtime.Unknown` {1: TypeMeta {1:
apiVersion, 2: kind}, 2: raw (the object's own message), 3: contentEncoding, 4: contentType}.
Only the fields these kinds use are read (k8s.io/api/core/v1/generated.proto); others are
skipped by wire type, so a newer client's extra fields do no harm.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            yield number, data[pos : pos + size]
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _text(value: int | bytes) -> str:
    assert isinstance(value, bytes)
    return value.decode()


def _entry(value: int | bytes) -> tuple[str, bytes]:
    key, item = "", b""
    assert isinstance(value, bytes)
    for number, part in fields(value):
        if number == 1:
            key = _text(part)
        elif number == 2 and isinstance(part, bytes):
            item = part
    return key, item


def _metadata(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for number, value in fields(data):
        if number in names and _text(value):
            meta[names[number]] = _text(value)
        elif number in (11, 12):
            key, item = _entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item.decode()
    return meta


def _delete_options(data: bytes) -> dict[str, Any]:
    """meta/v1 DeleteOptions {1: gracePeriodSeconds, 2: preconditions {1: uid, 2:
    resourceVersion}, 3: orphanDependents, 4: propagationPolicy, 5: dryRun (repeated)}."""
    opts: dict[str, Any] = {}
    for number, value in fields(data):
        if number == 1 and isinstance(value, int):
            opts["gracePeriodSeconds"] = value
        elif number == 2 and isinstance(value, bytes):
            names = {1: "uid", 2: "resourceVersion"}
            opts["preconditions"] = {names[n]: _text(v) for n, v in fields(value) if n in names}
        elif number == 3 and isinstance(value, int):
            opts["orphanDependents"] = bool(value)
        elif number == 4:
            opts["propagationPolicy"] = _text(value)
        elif number == 5:
            opts.setdefault("dryRun", []).append(_text(value))
    return opts


def decode(body: bytes) -> dict[str, Any]:
    """A Secret or ConfigMap protobuf body as the JSON object the API would have stored."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body (no k8s\\x00 prefix)")
    api_version = kind = ""
    raw = b""
    for number, value in fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            for n, part in fields(value):
                if n == 1:
                    api_version = _text(part)
                elif n == 2:
                    kind = _text(part)
        elif number == 2 and isinstance(value, bytes):
            raw = value
    if kind == "DeleteOptions":
        return {"apiVersion": api_version, "kind": kind, **_delete_options(raw)}
    if kind not in ("Secret", "ConfigMap"):
        raise ValueError(f"this fake API reads no protobuf {kind} (Secrets and ConfigMaps only)")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    for number, value in fields(raw):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = _metadata(value)
        elif kind == "Secret" and number == 2:
            key, item = _entry(value)
            obj.setdefault("data", {})[key] = base64.b64encode(item).decode()
        elif kind == "Secret" and number == 3:
            obj["type"] = _text(value)
        elif kind == "Secret" and number == 4:
            key, item = _entry(value)
            obj.setdefault("stringData", {})[key] = item.decode()
        elif kind == "ConfigMap" and number == 2:
            key, item = _entry(value)
            obj.setdefault("data", {})[key] = item.decode()
        elif kind == "ConfigMap" and number == 3:
            key, item = _entry(value)
            obj.setdefault("binaryData", {})[key] = base64.b64encode(item).decode()
    return obj
