"""How objects go away in the fake API's store: DELETE (preconditions, propagation policy,
graceful deletion of pods bound to a node, finalizers, namespaces turning Terminating), and the
garbage collection that finishes it: dependents of deleted owners (Background, Foreground,
Orphan), and the contents of deleted namespaces."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from tests.kube import _merge
from tests.kube._types import conflict, iso, not_found

if TYPE_CHECKING:
    from tests.kube._resources import Resource

Key = tuple[str, str, str, str]


class Collector:
    """Mixed into Store (which provides these attributes and methods)."""

    lock: threading.RLock
    rv: int
    objects: dict[Key, dict[str, Any]]
    by_uid: dict[str, Key]
    dependents: defaultdict[str, set[Key]]
    gc_wanted: threading.Event

    def storage(self, group: str, plural: str) -> Resource:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def _key(self, res: Resource, namespace: str, name: str) -> Key:
        raise NotImplementedError

    def _commit(self, key: Key, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _remove(self, key: Key, last: dict[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def delete(
        self,
        res: Resource,
        namespace: str,
        name: str,
        *,
        propagation: str = "",
        grace: int | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Delete (or start deleting) an object; (its last state, whether it is gone now)."""
        with self.lock:
            key = self._key(res, namespace, name)
            old = self.objects.get(key)
            if old is None:
                raise not_found(res, name)
            pre = preconditions or {}
            meta = old["metadata"]
            if pre.get("uid") not in (None, meta["uid"]) or pre.get("resourceVersion") not in (
                None,
                meta["resourceVersion"],
            ):
                raise conflict(res, name)
            if dry_run:
                return old, False
            if meta.get("deletionTimestamp"):
                if key[:2] != ("", "pods") or grace != 0:
                    return old, False
                new = _merge.copy(old)  # pyright: ignore[reportUnknownVariableType]
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._commit(key, old, new), key not in self.objects
            if not propagation:
                propagation = (
                    "Orphan" if (res.group, res.plural) == ("batch", "jobs") else "Background"
                )
            if propagation == "Orphan":
                self._orphan(meta["uid"])
            new: dict[str, Any] = _merge.copy(old)  # pyright: ignore[reportUnknownVariableType]
            nmeta = new["metadata"]
            if propagation == "Foreground":
                nmeta["finalizers"] = [*(nmeta.get("finalizers") or []), "foregroundDeletion"]
            if key[:2] == ("", "pods") and old.get("spec", {}).get("nodeName"):
                wait: int = old["spec"].get("terminationGracePeriodSeconds", 30)
                wait = wait if grace is None else grace
                if wait > 0:
                    nmeta["deletionGracePeriodSeconds"] = wait
                    nmeta["deletionTimestamp"] = iso(self.now() + wait)
                    return self._commit(key, old, new), False
            if key[:2] == ("", "namespaces"):
                new["status"] = {"phase": "Terminating"}
            if nmeta.get("finalizers") or key[:2] == ("", "namespaces"):
                nmeta.setdefault("deletionTimestamp", iso(self.now()))
                nmeta["deletionGracePeriodSeconds"] = 0
                self.gc_wanted.set()
                return self._commit(key, old, new), False
            return self._remove(key), True

    def _orphan(self, uid: str) -> None:
        for dep in list(self.dependents.get(uid, ())):
            obj = self.objects.get(dep)
            if obj is None:
                continue
            new: dict[str, Any] = _merge.copy(obj)  # pyright: ignore[reportUnknownVariableType]
            refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            new["metadata"]["ownerReferences"] = refs
            if not refs:
                del new["metadata"]["ownerReferences"]
            self._commit(dep, obj, new)

    def collect(self) -> bool:
        """One garbage-collection pass; True when it changed something."""
        with self.lock:
            self.gc_wanted.clear()
            before = self.rv
            for key, obj in list(self.objects.items()):
                if key not in self.objects:
                    continue
                meta = obj["metadata"]
                if key[:2] == ("", "namespaces") and meta.get("deletionTimestamp"):
                    self._empty_namespace(key, obj)
                elif "foregroundDeletion" in (meta.get("finalizers") or []):
                    self._foreground(key, obj)
                elif (
                    meta.get("ownerReferences")
                    and not meta.get("deletionTimestamp")
                    and not any(r.get("uid") in self.by_uid for r in meta["ownerReferences"])
                ):
                    self.delete(self.storage(key[0], key[1]), key[2], key[3])
            return self.rv != before

    def _foreground(self, key: Key, obj: dict[str, Any]) -> None:
        deps = [d for d in self.dependents.get(obj["metadata"]["uid"], ()) if d in self.objects]
        for dep in deps:
            if not self.objects[dep]["metadata"].get("deletionTimestamp"):
                self.delete(self.storage(dep[0], dep[1]), dep[2], dep[3], propagation="Foreground")
        if any(d in self.objects for d in deps):
            return
        new: dict[str, Any] = _merge.copy(obj)  # pyright: ignore[reportUnknownVariableType]
        new["metadata"]["finalizers"] = [
            f for f in new["metadata"]["finalizers"] if f != "foregroundDeletion"
        ]
        self._commit(key, obj, new)

    def _empty_namespace(self, key: Key, obj: dict[str, Any]) -> None:
        name = key[3]
        inside = [k for k in self.objects if k[2] == name and self.storage(k[0], k[1]).namespaced]
        for k in inside:
            if k in self.objects and not self.objects[k]["metadata"].get("deletionTimestamp"):
                self.delete(self.storage(k[0], k[1]), k[2], k[3])
        if any(k in self.objects for k in inside):
            return
        self._remove(key)
