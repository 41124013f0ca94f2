"""Who may do what on the fake API: bearer tokens (fixed ones and ServiceAccount tokens from
TokenRequest, checked against the live ServiceAccount and bound object), RBAC authorization
over the stored Roles and bindings, and the answers to TokenReview and (Self)SubjectAccessReview."""

from __future__ import annotations

import secrets
from typing import Any

from tests.kube._auth import RBAC, Attributes, Tokens, User, rule_allows
from tests.kube._auth import rules_for as _rules_for
from tests.kube._resources import Resource
from tests.kube._store import ApiError, Change, Store, iso

AUDIENCE = "https://kubernetes.default.svc"


class Identity:
    """Authentication and authorization for a FakeKube's store."""

    def __init__(self, store: Store, min_token_seconds: int) -> None:
        self._store = store
        self.min_token_seconds = min_token_seconds
        """TokenRequest refuses shorter expirationSeconds (the real minimum is 600)."""
        self.tokens = Tokens()
        self.issued: list[dict[str, Any]] = []
        """Every token minted: namespace, serviceaccount, expires (epoch s), audiences, bound."""
        self._rbac_cache: dict[tuple[str, tuple[str, ...], str], list[dict[str, Any]]] = {}

    def on_change(self, change: Change) -> None:
        if change.group == RBAC:
            self._rbac_cache.clear()

    def authenticate(self, header: str) -> User | None:
        if not header.startswith("Bearer "):
            return None
        token = header.removeprefix("Bearer ").strip()
        if token in self.tokens.fixed:
            return self.tokens.fixed[token]
        claims = self.tokens.claims(token)
        if claims is None or claims.get("exp", 0) <= self._store.now():
            return None
        k8s = claims.get("kubernetes.io", {})
        ns, sa = k8s.get("namespace", ""), k8s.get("serviceaccount", {})
        found = self._store.objects.get(("", "serviceaccounts", ns, sa.get("name", "")))
        if found is None or found["metadata"]["uid"] != sa.get("uid"):
            return None
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            bound = k8s.get(kind)
            if bound:
                obj = self._store.objects.get(("", plural, ns, bound.get("name", "")))
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
        with self._store.lock:
            bindings = [
                o
                for (g, p, ns, _), o in self._store.objects.items()
                if g == RBAC
                and (
                    p == "clusterrolebindings"
                    or (p == "rolebindings" and namespace and ns == namespace)
                )
            ]

            def lookup(plural: str, ns: str, name: str) -> dict[str, Any] | None:
                return self._store.objects.get((RBAC, plural, ns, name))

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
        sa = self._store.get(self._store.storage("", "serviceaccounts"), namespace, name)
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
        now = self._store.now()
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
            obj = self._store.get(
                self._store.storage("", f"{kind}s"), namespace, ref.get("name", "")
            )
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
