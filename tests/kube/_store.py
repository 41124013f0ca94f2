"""The fake API's state: objects with uid/resourceVersion/generation, a change history for
watches, create/update/patch/apply/delete with the status subresource kept apart, finalizers,
and garbage collection by ownerReference (background, foreground, orphan) and by namespace.

Thread-safe (one lock): the server thread and test code may both call it."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from tests.kube import _defaults, _merge
from tests.kube._gc import Collector
from tests.kube._resources import BUILTIN, VIRTUAL, Resource, from_crd
from tests.kube._types import ApiError, Change, conflict, iso, not_found, what

Key = tuple[str, str, str, str]
"""(group, plural, namespace, name); namespace is '' for cluster-scoped objects."""
HISTORY = 100_000
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "name",
    "namespace",
    "managedFields",
)


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(o: dict[str, Any]) -> dict[str, Any]:
        meta = {
            k: v
            for k, v in o.get("metadata", {}).items()
            if k not in ("resourceVersion", "managedFields")
        }
        return {**o, "metadata": meta}

    return strip(a) == strip(b)


class Store(Collector):
    def __init__(self, on_change: Callable[[Change], None], ca_pem: str = "") -> None:
        self.lock = threading.RLock()
        self.on_change = on_change
        self.ca_pem = ca_pem
        self.offset = 0.0
        """Seconds added to the wall clock (tests move time with FakeKube.advance)."""
        self.rv = 0
        self.objects: dict[Key, dict[str, Any]] = {}
        self.by_uid: dict[str, Key] = {}
        self.dependents: defaultdict[str, set[Key]] = defaultdict(set)
        self.history: deque[Change] = deque(maxlen=HISTORY)
        self.applied: dict[Key, dict[str, Any]] = {}
        self.served: dict[tuple[str, str], Resource] = {}
        self.gc_wanted = threading.Event()
        for res in BUILTIN:
            self.served[(res.group_version, res.plural)] = res

    def now(self) -> float:
        return time.time() + self.offset

    # --- resource types ---------------------------------------------------------------------

    def resource(self, group_version: str, plural: str) -> Resource | None:
        return self.served.get((group_version, plural))

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        return next(
            (r for r in self.served.values() if r.group_version == api_version and r.kind == kind),
            None,
        )

    def storage(self, group: str, plural: str) -> Resource:
        """Any served version of a group's plural (objects are stored once for all versions)."""
        return next(r for r in self.served.values() if (r.group, r.plural) == (group, plural))

    def _register(self, crd: dict[str, Any]) -> None:
        for res in from_crd(crd):
            self.served[(res.group_version, res.plural)] = res

    def _unregister(self, crd: dict[str, Any]) -> None:
        group = crd.get("spec", {}).get("group")
        plural = crd.get("spec", {}).get("names", {}).get("plural")
        for key in [k for k, r in self.served.items() if (r.group, r.plural) == (group, plural)]:
            del self.served[key]
        for key in [k for k in self.objects if k[:2] == (group, plural)]:
            self._remove(key)

    # --- reads ------------------------------------------------------------------------------

    def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            found = self.objects.get(
                (res.group, res.plural, namespace if res.namespaced else "", name)
            )
            if found is None:
                raise not_found(res, name)
            return found

    def list(
        self, res: Resource, namespace: str | None, select: Callable[[dict[str, Any]], bool]
    ) -> tuple[list[dict[str, Any]], int]:
        """Objects of `res` (in `namespace`, or everywhere for None) and the list's RV."""
        with self.lock:
            items = [
                o
                for (g, p, ns, _), o in self.objects.items()
                if (g, p) == (res.group, res.plural) and namespace in (None, ns) and select(o)
            ]
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            return items, self.rv

    # --- writes -----------------------------------------------------------------------------

    def create(
        self,
        res: Resource,
        namespace: str,
        body: Any,
        *,
        dry_run: bool = False,
        manager: str = "",
        applied: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was not an object")
        if res.plural in VIRTUAL:
            raise ApiError(405, "MethodNotAllowed", "reviews are answered, not stored")
        with self.lock:
            obj: dict[str, Any] = _merge.copy(body)  # pyright: ignore[reportUnknownVariableType]
            if obj.get("kind") not in (None, res.kind):
                raise ApiError(
                    400,
                    "BadRequest",
                    f"the kind {obj.get('kind')!r} does not match the resource {res.plural!r}",
                )
            obj["apiVersion"], obj["kind"] = res.group_version, res.kind
            meta: dict[str, Any] = obj.setdefault("metadata", {})
            for k in (*_SYSTEM_META[:5], "resourceVersion", "selfLink"):
                meta.pop(k, None)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise ApiError(
                        422,
                        "Invalid",
                        "metadata.name: Required value: name or generateName is required",
                    )
                meta["name"] = _defaults.generate_name(meta["generateName"])
            name = meta["name"]
            if res.namespaced:
                if meta.get("namespace") not in (None, "", namespace):
                    raise ApiError(
                        400,
                        "BadRequest",
                        "the namespace of the provided object does "
                        "not match the namespace sent on the request",
                    )
                meta["namespace"] = namespace
                self._check_namespace(namespace)
            else:
                meta.pop("namespace", None)
                namespace = ""
            key = (res.group, res.plural, namespace, name)
            if key in self.objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f"{what(res, name)} already exists",
                    name=name,
                    group=res.group,
                    kind=res.plural,
                )
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = iso(self.now())
            meta["generation"] = 1
            if res.has_status:
                obj.pop("status", None)
            for hooks in (_defaults.ON_WRITE, _defaults.ON_CREATE):
                hook = hooks.get((res.group, res.plural))
                if hook is not None:
                    hook(obj)
            if (res.group, res.plural) == ("", "pods"):
                self._admit_pod(obj)
            if manager and applied is not None:
                meta["managedFields"] = [self._managed(manager, res, applied)]
            if dry_run:
                return obj
            self._commit(key, None, obj)
            if applied is not None:
                self.applied[key] = {manager: applied}
            if (res.group, res.plural) == CRDS:
                self._register(obj)
            if (res.group, res.plural) == ("", "namespaces"):
                self._seed_namespace(name)
            return obj

    def _check_namespace(self, namespace: str) -> None:
        ns = self.objects.get(("", "namespaces", "", namespace))
        if ns is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                name=namespace,
                kind="namespaces",
            )
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace "
                f"{namespace} because it is being terminated",
            )

    def _admit_pod(self, pod: dict[str, Any]) -> None:
        ns, sa_name = pod["metadata"]["namespace"], pod["spec"]["serviceAccountName"]
        sa = self.objects.get(("", "serviceaccounts", ns, sa_name))
        if sa is None:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{pod["metadata"]["name"]}" is forbidden: '
                f"error looking up service account {ns}/{sa_name}: serviceaccount "
                f'"{sa_name}" not found',
            )
        _defaults.service_account_admission(pod, sa)

    def _seed_namespace(self, namespace: str) -> None:
        sa = self.storage("", "serviceaccounts")
        cm = self.storage("", "configmaps")
        if ("", "serviceaccounts", namespace, "default") not in self.objects:
            self.create(sa, namespace, {"metadata": {"name": "default"}})
        if ("", "configmaps", namespace, "kube-root-ca.crt") not in self.objects:
            self.create(
                cm,
                namespace,
                {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": self.ca_pem}},
            )

    def _managed(self, manager: str, res: Resource, applied: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in applied.items() if k not in ("apiVersion", "kind")}
        return {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": res.group_version,
            "time": iso(self.now()),
            "fieldsType": "FieldsV1",
            "fieldsV1": _merge.fields_v1(fields),
        }

    def _commit(self, key: Key, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
        """Store `new` (a fresh dict) in place of `old`: bump RV and generation, tell watchers."""
        if old is not None:
            if _same(old, new):
                return old
            if _content(old) != _content(new):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        meta = new["metadata"]
        if old is not None and meta.get("deletionTimestamp") and not meta.get("finalizers"):
            held = (key[:2] == ("", "namespaces") and new.get("spec", {}).get("finalizers")) or (
                key[:2] == ("", "pods") and meta.get("deletionGracePeriodSeconds", 0) > 0
            )
            if not held:
                return self._remove(key, new)
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        self.objects[key] = new
        self.by_uid[meta["uid"]] = key
        for ref in (old or {}).get("metadata", {}).get("ownerReferences") or []:
            self.dependents[ref.get("uid", "")].discard(key)
        for ref in meta.get("ownerReferences") or []:
            self.dependents[ref.get("uid", "")].add(key)
        change = Change(self.rv, key[0], key[1], "ADDED" if old is None else "MODIFIED", old, new)
        self.history.append(change)
        self.on_change(change)
        return new

    def _remove(self, key: Key, last: dict[str, Any] | None = None) -> dict[str, Any]:
        old = self.objects.pop(key)
        gone: dict[str, Any] = _merge.copy(last if last is not None else old)  # pyright: ignore[reportUnknownVariableType]
        self.rv += 1
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self.by_uid.pop(old["metadata"]["uid"], None)
        for ref in old["metadata"].get("ownerReferences") or []:
            self.dependents[ref.get("uid", "")].discard(key)
        self.applied.pop(key, None)
        self.gc_wanted.set()
        change = Change(self.rv, key[0], key[1], "DELETED", old, gone)
        self.history.append(change)
        self.on_change(change)
        if key[:2] == CRDS:
            self._unregister(old)
        return gone

    def _key(self, res: Resource, namespace: str, name: str) -> Key:
        return (res.group, res.plural, namespace if res.namespaced else "", name)

    def _write(
        self, res: Resource, old: dict[str, Any], candidate: Any, sub: str
    ) -> dict[str, Any]:
        """The object after a write of `candidate` to the main resource or to /status."""
        if not isinstance(candidate, dict):
            raise ApiError(400, "BadRequest", "the body of the request was not an object")
        if sub == "status":
            new: dict[str, Any] = _merge.copy(old)  # pyright: ignore[reportUnknownVariableType]
            if "status" in candidate:
                new["status"] = _merge.copy(candidate["status"])
            else:
                new.pop("status", None)
            return new
        new = _merge.copy(candidate)  # pyright: ignore[reportUnknownVariableType]
        new["apiVersion"], new["kind"] = res.group_version, res.kind
        meta: dict[str, Any] = new.setdefault("metadata", {})
        if meta.get("name", old["metadata"]["name"]) != old["metadata"]["name"]:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        for k in _SYSTEM_META:
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
            else:
                meta.pop(k, None)
        if meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
            if added:
                raise ApiError(
                    422,
                    "Invalid",
                    "metadata.finalizers: Forbidden: no new finalizers "
                    "can be added if the object is being deleted",
                )
        if res.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        hook = _defaults.ON_WRITE.get((res.group, res.plural))
        if hook is not None:
            hook(new)
        return new

    def update(
        self,
        res: Resource,
        namespace: str,
        name: str,
        body: Any,
        sub: str = "",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        with self.lock:
            key = self._key(res, namespace, name)
            old = self.objects.get(key)
            if old is None:
                raise not_found(res, name)
            self._precondition(res, old, body)
            new = self._write(res, old, body, sub)
            return new if dry_run else self._commit(key, old, new)

    def _precondition(self, res: Resource, old: dict[str, Any], body: Any) -> None:
        meta = body.get("metadata") if isinstance(body, dict) else None
        rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(res, old["metadata"]["name"])

    def patch(
        self,
        res: Resource,
        namespace: str,
        name: str,
        kind: str,
        body: Any,
        *,
        sub: str = "",
        manager: str = "",
        force: bool = False,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Apply a patch of `kind` (merge, strategic, json, apply); (object, created)."""
        with self.lock:
            key = self._key(res, namespace, name)
            old = self.objects.get(key)
            if kind == "apply":
                return self._apply(res, key, old, body, sub, manager, force, dry_run)
            if old is None:
                raise not_found(res, name)
            if kind == "json":
                if not isinstance(body, list):
                    raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
                try:
                    candidate = _merge.json_patch(old, body)  # pyright: ignore[reportUnknownArgumentType]
                except (_merge.PatchError, KeyError, ValueError) as e:
                    raise ApiError(422, "Invalid", f"the JSON patch failed: {e}") from None
            elif not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the patch was not an object")
            elif kind == "strategic":
                if res.group not in {r.group for r in BUILTIN}:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in "
                        "an unknown format - accepted media types include: "
                        "application/json-patch+json, application/merge-patch+json, "
                        "application/apply-patch+yaml",
                    )
                self._precondition(res, old, body)
                candidate = _merge.strategic_merge(old, body)
            else:
                self._precondition(res, old, body)
                candidate = _merge.merge_patch(old, body)
            new = self._write(res, old, candidate, sub)
            return (new if dry_run else self._commit(key, old, new)), False

    def _apply(
        self,
        res: Resource,
        key: Key,
        old: dict[str, Any] | None,
        body: Any,
        sub: str,
        manager: str,
        force: bool,
        dry_run: bool,
    ) -> tuple[dict[str, Any], bool]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the applied configuration was not an object")
        if not manager:
            raise ApiError(422, "Invalid", "fieldManager is required for apply requests")
        if not body.get("apiVersion") or not body.get("kind"):
            raise ApiError(
                400, "BadRequest", "apiVersion and kind must be set in an applied configuration"
            )
        applied = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}  # pyright: ignore[reportUnknownVariableType]
        if old is None:
            obj = self.create(res, key[2], body, dry_run=dry_run, manager=manager, applied=applied)
            return obj, True
        managers = self.applied.setdefault(key, {}) if not dry_run else {}
        if not force:
            for other, theirs in managers.items():
                clash = _merge.conflicts(old, applied, theirs) if other != manager else []
                if clash:
                    raise ApiError(
                        409,
                        "Conflict",
                        f"Apply failed with {len(clash)} conflict: "
                        f'conflict with "{other}": {", ".join(clash)}',
                    )
        candidate = _merge.apply(old, applied, managers.get(manager, {}))
        new = self._write(res, old, candidate, sub)
        entries = [
            m for m in old["metadata"].get("managedFields") or [] if m.get("manager") != manager
        ]
        new["metadata"]["managedFields"] = [*entries, self._managed(manager, res, applied)]
        if dry_run:
            return new, False
        committed = self._commit(key, old, new)
        managers[manager] = applied
        return committed, False
