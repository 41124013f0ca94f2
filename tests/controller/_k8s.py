"""Checks every controller test shares: strict schema validation of built-in kinds
(kubernetes-validate, for the oldest and newest Kubernetes we support), jsonschema + CEL
(cel-python) for custom resources, and the restricted Pod Security profile."""

from __future__ import annotations

from typing import Any

import celpy
import jsonschema
import kubernetes_validate
from celpy.adapter import json_to_cel

VERSIONS = ("1.30", kubernetes_validate.latest_version())


def validate_builtin(obj: dict[str, Any]) -> None:
    for version in VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def _cel(rule: str, value: Any, old: Any = None) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule))
    activation: dict[str, Any] = {"self": json_to_cel(value)}
    if old is not None:
        activation["oldSelf"] = json_to_cel(old)
    result = program.evaluate(activation)
    if isinstance(result, Exception):
        raise result
    return bool(result)


def cel_errors(schema: dict[str, Any], value: Any, old: Any = None, path: str = "") -> list[str]:
    """The messages of every CEL rule `value` breaks (transition rules only when `old`)."""
    errors: list[str] = []
    for rule in schema.get("x-kubernetes-validations", []):
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue
        if not _cel(rule["rule"], value, old if transition else None):
            errors.append(f"{path or '.'}: {rule['message']}")
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties", {})
        for key, sub in props.items():
            if key in value:
                child_old = old.get(key) if isinstance(old, dict) else None
                errors += cel_errors(sub, value[key], child_old, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += cel_errors(schema["items"], item, None, f"{path}[{i}]")
    return errors


def validate_custom(
    crd: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None
) -> list[str]:
    """Schema errors (jsonschema) and CEL errors for a custom resource against its CRD."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    return errors + cel_errors(schema, obj, old)


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """The `restricted` Pod Security Standard, checked rule by rule (Kubernetes 1.30+)."""
    bad: list[str] = []
    pod_sc = pod_spec.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(key):
            bad.append(key)
    allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
               "persistentVolumeClaim", "projected", "secret"}  # fmt: skip
    for vol in pod_spec.get("volumes", []):
        kinds = set(vol) - {"name"}
        if not kinds <= allowed:
            bad.append(f"volume {vol['name']}: {sorted(kinds - allowed)}")
    for c in [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]:
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("privileged"):
            bad.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{name}: allowPrivilegeEscalation must be false")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            bad.append(f"{name}: runAsNonRoot")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            bad.append(f"{name}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{name}: seccompProfile")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            bad.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            bad.append(f"{name}: adds capabilities")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            bad.append(f"{name}: hostPort")
    return bad
