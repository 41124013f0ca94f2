"""Who is asking (bearer tokens: the admin's, ones a test adds, ServiceAccount tokens minted
by TokenRequest) and what they may do (RBAC: Roles, ClusterRoles and their bindings)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

RBAC = "rbac.authorization.k8s.io"
ADMIN_GROUP = "system:masters"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""

    @property
    def admin(self) -> bool:
        return ADMIN_GROUP in self.groups

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) for a ServiceAccount user."""
        parts = self.name.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            return parts[2], parts[3]
        return None


def sa_user(namespace: str, name: str, uid: str = "") -> User:
    return User(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
        uid,
    )


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    """Set (and the rest empty) for a non-resource request such as /version."""

    def describe(self, user: User) -> str:
        """The message a real API server gives on 403."""
        if self.path:
            return f'forbidden: User "{user.name}" cannot {self.verb} path "{self.path}"'
        res = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        named = f' "{self.name}"' if self.name else ""
        where = (
            f' in the namespace "{self.namespace}"' if self.namespace else " at the cluster scope"
        )
        return (
            f'{res}{named} is forbidden: User "{user.name}" cannot {self.verb} resource '
            f'"{res}" in API group "{self.group}"{where}'
        )


def _match(values: Iterable[str], wanted: str) -> bool:
    values = list(values)
    return "*" in values or wanted in values


def rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    if attrs.path:
        urls: list[str] = rule.get("nonResourceURLs") or []
        return _match(rule.get("verbs", []), attrs.verb) and any(
            u == attrs.path or u == "*" or (u.endswith("*") and attrs.path.startswith(u[:-1]))
            for u in urls
        )
    if not _match(rule.get("verbs", []), attrs.verb):
        return False
    if not _match(rule.get("apiGroups", []), attrs.group):
        return False
    full = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources: list[str] = rule.get("resources", [])
    if not (
        "*" in resources
        or full in resources
        or (attrs.subresource and f"*/{attrs.subresource}" in resources)
    ):
        return False
    names: list[str] = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _subject_matches(subject: dict[str, Any], user: User, binding_ns: str) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        sa = user.service_account
        return sa == (subject.get("namespace") or binding_ns, subject.get("name"))
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    return False


Lookup = Callable[[str, str, str], dict[str, Any] | None]
"""(plural, namespace, name) -> the stored RBAC object, or None."""


def rules_for(
    user: User, namespace: str, bindings: Iterable[dict[str, Any]], lookup: Lookup
) -> list[dict[str, Any]]:
    """Every rule that applies to `user` in `namespace` ('' = cluster scope only)."""
    rules: list[dict[str, Any]] = []
    for binding in bindings:
        meta = binding.get("metadata", {})
        b_ns = meta.get("namespace", "")
        if binding.get("kind") == "RoleBinding" and b_ns != namespace:
            continue
        if not any(_subject_matches(s, user, b_ns) for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef", {})
        if ref.get("kind") == "Role":
            role = lookup("roles", b_ns, ref.get("name", ""))
        else:
            role = lookup("clusterroles", "", ref.get("name", ""))
        if role is not None:
            rules.extend(role.get("rules") or [])
    return rules


@dataclass
class Tokens:
    """Bearer tokens: fixed ones (admin, test users) and signed ServiceAccount tokens."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    fixed: dict[str, User] = field(default_factory=lambda: {})

    def mint(self, claims: dict[str, Any]) -> str:
        """A JWT-shaped token (HS256 with the server's key) carrying `claims`."""

        def enc(data: dict[str, Any]) -> str:
            raw = json.dumps(data, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        head = enc({"alg": "HS256", "kid": "fake", "typ": "JWT"})
        body = enc(claims)
        sig = hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this server signed, or None (expiry is checked by the caller)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        sig = hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        given = parts[2] + "=" * (-len(parts[2]) % 4)
        try:
            if not hmac.compare_digest(sig, base64.urlsafe_b64decode(given)):
                return None
            payload = parts[1] + "=" * (-len(parts[1]) % 4)
            data = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None  # pyright: ignore[reportUnknownVariableType]


def default_cluster_roles() -> list[dict[str, Any]]:
    """The user-facing ClusterRoles every cluster has (simplified rule sets)."""
    read = ["get", "list", "watch"]
    write = ["create", "delete", "deletecollection", "patch", "update"]
    core = [
        "pods",
        "pods/log",
        "pods/status",
        "configmaps",
        "services",
        "endpoints",
        "persistentvolumeclaims",
        "serviceaccounts",
        "events",
        "limitranges",
        "resourcequotas",
        "replicationcontrollers",
    ]
    groups = {
        "apps": ["deployments", "statefulsets", "daemonsets", "replicasets"],
        "batch": ["jobs", "cronjobs"],
        "networking.k8s.io": ["networkpolicies", "ingresses"],
        "policy": ["poddisruptionbudgets"],
        "events.k8s.io": ["events"],
    }
    view = [{"apiGroups": [""], "resources": core, "verbs": read}] + [
        {"apiGroups": [g], "resources": r, "verbs": read} for g, r in groups.items()
    ]
    edit = [{**r, "verbs": read + write} for r in view] + [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": read + write}
    ]
    admin = [
        *edit,
        {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": read + write},
    ]
    every = [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ]

    def role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": rules,
        }

    return [
        role("cluster-admin", every),
        role("admin", admin),
        role("edit", edit),
        role("view", view),
    ]
