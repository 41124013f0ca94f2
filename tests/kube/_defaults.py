"""What a real API server adds to objects on create (defaulting and admission), for the kinds
where controllers notice: Pods (container defaults, the ServiceAccount token volume), Jobs
(selector and labels, backoffLimit), Namespaces and CRDs (their status)."""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def _suffix(n: int = 5) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def generate_name(prefix: str) -> str:
    return prefix + _suffix()


def _container(c: dict[str, Any]) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = str(c.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = ":" not in tag or tag.endswith(":latest")
    c.setdefault("imagePullPolicy", "Always" if latest and "@" not in tag else "IfNotPresent")
    c.setdefault("resources", {})


def pod_spec(spec: dict[str, Any]) -> None:
    """PodSpec defaults (also applied to Job templates, as the real server does)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for c in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        _container(c)


def service_account_admission(pod: dict[str, Any], sa: dict[str, Any]) -> None:
    """The ServiceAccount admission plugin: a projected token volume mounted into every
    container, unless the Pod or its ServiceAccount opts out."""
    spec = pod["spec"]
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = sa.get("automountServiceAccountToken", True)
    if not automount:
        return
    containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
    if any(m.get("mountPath") == SA_MOUNT for c in containers for m in c.get("volumeMounts", [])):
        return
    name = f"kube-api-access-{_suffix()}"
    spec.setdefault("volumes", []).append(
        {
            "name": name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for c in containers:
        c.setdefault("volumeMounts", []).append(
            {"name": name, "mountPath": SA_MOUNT, "readOnly": True}
        )


def pod(obj: dict[str, Any]) -> None:
    pod_spec(obj.setdefault("spec", {}))
    obj["status"] = {"phase": "Pending", "qosClass": _qos(obj["spec"])}


def _qos(spec: dict[str, Any]) -> str:
    res = [c.get("resources") or {} for c in spec.get("containers", [])]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    if all(
        (r.get("limits") or {}).get(k)
        and (r.get("requests") or r.get("limits") or {}).get(k) == (r.get("limits") or {}).get(k)
        for r in res
        for k in ("cpu", "memory")
    ):
        return "Guaranteed"
    return "Burstable"


def job(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    uid = obj["metadata"]["uid"]
    name = obj["metadata"]["name"]
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = spec.setdefault("template", {})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    if not spec.get("manualSelector"):
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
        )
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    pod_spec(template.setdefault("spec", {}))
    obj["status"] = {}


def namespace(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"][
        "name"
    ]


def crd(obj: dict[str, Any]) -> None:
    names = obj.get("spec", {}).get("names", {})
    obj["status"] = {
        "acceptedNames": names,
        "storedVersions": [
            v["name"] for v in obj.get("spec", {}).get("versions", []) if v.get("storage")
        ],
        "conditions": [
            {
                "type": t,
                "status": "True",
                "reason": r,
                "message": m,
                "lastTransitionTime": obj["metadata"]["creationTimestamp"],
            }
            for t, r, m in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ],
    }


def secret(obj: dict[str, Any]) -> None:
    """stringData is write-only: folded into data (base64), as the real API does."""
    strings = obj.pop("stringData", None)
    if isinstance(strings, dict):
        data = obj.setdefault("data", {})
        for key, value in strings.items():  # pyright: ignore[reportUnknownVariableType]
            data[key] = base64.b64encode(str(value).encode()).decode()  # pyright: ignore[reportUnknownArgumentType]
    obj.setdefault("type", "Opaque")


ON_WRITE = {("", "secrets"): secret}
"""Run on every write of the main resource (create, update, patch, apply)."""

ON_CREATE = {
    ("", "pods"): pod,
    ("batch", "jobs"): job,
    ("", "namespaces"): namespace,
    ("apiextensions.k8s.io", "customresourcedefinitions"): crd,
}
