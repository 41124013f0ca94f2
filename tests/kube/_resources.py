"""The resource types the fake API serves: built-in ones, and those CRDs register."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_RW = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One served resource type (a plural in a group/version)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _RW
    columns: tuple[dict[str, Any], ...] = ()
    """CRD additionalPrinterColumns (name, type, jsonPath): extra cells in `kubectl get`."""
    categories: tuple[str, ...] = ()
    schema: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def discovery(self) -> list[dict[str, Any]]:
        """Its entries in an APIResourceList (the resource and each subresource)."""
        main = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        subs = [
            {
                "name": f"{self.plural}/{sub}",
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": _SUB_KINDS.get(sub, self.kind),
                "verbs": list(_SUB_VERBS.get(sub, ("get", "patch", "update"))),
            }
            for sub in self.subresources
        ]
        return [main, *subs]


_SUB_KINDS = {"token": "TokenRequest", "log": "Pod", "eviction": "Eviction", "scale": "Scale"}
_SUB_VERBS = {"token": ("create",), "log": ("get",), "eviction": ("create",)}
_CREATE_ONLY = ("create",)


def _r(gv: str, plural: str, kind: str, *rest: Any, **kw: Any) -> Resource:
    group, _, version = gv.rpartition("/")
    return Resource(group, version, plural, kind, *rest, **kw)


BUILTIN: tuple[Resource, ...] = (
    _r("v1", "namespaces", "Namespace", False, ("status", "finalize"), ("ns",)),
    _r(
        "v1",
        "pods",
        "Pod",
        True,
        ("status", "log", "eviction", "ephemeralcontainers"),
        ("po",),
        categories=("all",),
    ),
    _r("v1", "configmaps", "ConfigMap", True, (), ("cm",)),
    _r("v1", "secrets", "Secret"),
    _r("v1", "serviceaccounts", "ServiceAccount", True, ("token",), ("sa",)),
    _r("v1", "events", "Event", True, (), ("ev",)),
    _r("v1", "services", "Service", True, ("status",), ("svc",), categories=("all",)),
    _r("v1", "endpoints", "Endpoints", True, (), ("ep",)),
    _r("v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("status",), ("pvc",)),
    _r("v1", "persistentvolumes", "PersistentVolume", False, ("status",), ("pv",)),
    _r("v1", "nodes", "Node", False, ("status",), ("no",)),
    _r("v1", "limitranges", "LimitRange", True, (), ("limits",)),
    _r("v1", "resourcequotas", "ResourceQuota", True, ("status",), ("quota",)),
    _r(
        "apps/v1",
        "deployments",
        "Deployment",
        True,
        ("status", "scale"),
        ("deploy",),
        categories=("all",),
    ),
    _r("apps/v1", "statefulsets", "StatefulSet", True, ("status", "scale"), ("sts",)),
    _r("apps/v1", "daemonsets", "DaemonSet", True, ("status",), ("ds",)),
    _r("apps/v1", "replicasets", "ReplicaSet", True, ("status", "scale"), ("rs",)),
    _r("batch/v1", "jobs", "Job", True, ("status",), categories=("all",)),
    _r("batch/v1", "cronjobs", "CronJob", True, ("status",), ("cj",), categories=("all",)),
    _r("rbac.authorization.k8s.io/v1", "roles", "Role"),
    _r("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    _r("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("status",),
        ("crd", "crds"),
    ),
    _r("events.k8s.io/v1", "events", "Event", True, (), ("ev",)),
    _r("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True, (), ("netpol",)),
    _r("networking.k8s.io/v1", "ingresses", "Ingress", True, ("status",), ("ing",)),
    _r("coordination.k8s.io/v1", "leases", "Lease"),
    _r("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("status",), ("pdb",)),
    _r("storage.k8s.io/v1", "storageclasses", "StorageClass", False, (), ("sc",)),
    _r("node.k8s.io/v1", "runtimeclasses", "RuntimeClass", False),
    _r("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", False, (), ("pc",)),
    _r("authentication.k8s.io/v1", "tokenreviews", "TokenReview", False, verbs=_CREATE_ONLY),
    _r(
        "authorization.k8s.io/v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        verbs=_CREATE_ONLY,
    ),
    _r(
        "authorization.k8s.io/v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        False,
        verbs=_CREATE_ONLY,
    ),
)

VIRTUAL = {"tokenreviews", "selfsubjectaccessreviews", "subjectaccessreviews"}
"""Create-only review resources: answered, never stored."""


def from_crd(crd: dict[str, Any]) -> list[Resource]:
    """The resources a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    out: list[Resource] = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subs = version.get("subresources") or {}
        columns = tuple(version.get("additionalPrinterColumns") or ())
        out.append(
            Resource(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                subresources=tuple(s for s in ("status", "scale") if s in subs),
                short_names=tuple(names.get("shortNames") or ()),
                columns=columns,
                categories=tuple(names.get("categories") or ()),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            )
        )
    return out
