"""What a cluster-facing skill (kubectl, helm) may reach: its namespaces, whether
cluster-scoped objects too, and which verbs the free-form `kubectl` tool accepts. The skill
enforces it itself (it holds the credentials), on every tool, whatever the arguments.

Settings, later ones winning: the skill's config file (`PODIUM_SKILL_CONFIG`, YAML or JSON,
the run spec's `config`), then the environment (the run spec's `env` for this skill):

    namespaces: [team-a, team-b]   PODIUM_KUBECTL_NAMESPACES=team-a,team-b   (default: any)
    cluster_scope: false           PODIUM_KUBECTL_CLUSTER_SCOPE=0            (default: true
                                                                  without namespaces, else false)
    verbs: [get, describe, logs]   PODIUM_KUBECTL_VERBS=get,describe,logs    (default: READ_VERBS)

The helm skill reads the same keys, with `PODIUM_HELM_` in the variables' names (`verbs` does
not apply to it). A confined skill runs every command with an explicit `--namespace` (the
first allowed one when none is asked for), refuses other namespaces, `--all-namespaces`, and
cluster-scoped types (nodes, namespaces, clusterroles...) unless `cluster_scope` is true.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from skills.sdk import ToolError

READ_VERBS = (
    "get", "describe", "logs", "events", "top", "explain", "api-resources", "api-versions",
    "version", "auth can-i", "rollout status", "rollout history",
)  # fmt: skip
"""What the `kubectl` tool accepts when nothing else is configured: nothing that changes."""
WRITE_VERBS = (
    "apply", "diff", "delete", "scale", "label", "annotate", "patch", "wait", "rollout restart",
    "rollout undo", "rollout pause", "rollout resume", "cordon", "uncordon",
)  # fmt: skip
"""Verbs a config may add. Anything else (exec, edit, config, proxy, port-forward, cp, run,
debug, attach, plugin, kustomize...) is never accepted: interactive, never-ending, reads local
files or prints credentials."""
KNOWN_VERBS = frozenset(READ_VERBS + WRITE_VERBS)

# Cluster-scoped resource types, by every name kubectl accepts for them (plural, singular,
# short name, kind, `plural.group`); the cluster's own list (api-resources) is added at run time.
_CLUSTER_SCOPED_NAMES = """
    nodes node no namespaces namespace ns persistentvolumes persistentvolume pv storageclasses
    storageclass sc clusterroles clusterrole clusterrolebindings clusterrolebinding
    customresourcedefinitions customresourcedefinition crd crds priorityclasses priorityclass pc
    ingressclasses ingressclass runtimeclasses runtimeclass csidrivers csidriver csinodes csinode
    volumeattachments volumeattachment mutatingwebhookconfigurations
    mutatingwebhookconfiguration validatingwebhookconfigurations validatingwebhookconfiguration
    validatingadmissionpolicies validatingadmissionpolicy validatingadmissionpolicybindings
    validatingadmissionpolicybinding apiservices apiservice certificatesigningrequests
    certificatesigningrequest csr componentstatuses componentstatus cs flowschemas flowschema
    prioritylevelconfigurations prioritylevelconfiguration ipaddresses ipaddress servicecidrs
    servicecidr selfsubjectreviews tokenreviews subjectaccessreviews
"""
CLUSTER_SCOPED = frozenset(_CLUSTER_SCOPED_NAMES.split())
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class Scope:
    namespaces: tuple[str, ...] = ()
    """Namespaces this skill may touch; empty: any."""
    cluster_scope: bool = True
    """Whether cluster-scoped objects (nodes, namespaces, ...) may be read or changed."""
    verbs: frozenset[str] = frozenset(READ_VERBS)
    """Verbs the `kubectl` tool accepts (`rollout status` for a two-word verb)."""

    @property
    def confined(self) -> bool:
        return bool(self.namespaces)

    def namespace(self, asked: str | None) -> str | None:
        """The namespace a command runs in: the one asked for (if allowed), else the first
        allowed one when confined, else None (the credentials' default)."""
        if asked is not None and not _LABEL.fullmatch(asked):
            raise ToolError(f"invalid namespace {asked!r}: expected something like 'default'")
        if not self.confined:
            return asked
        if asked is None:
            return self.namespaces[0]
        if asked not in self.namespaces:
            raise ToolError(
                f"namespace {asked!r} is outside this run's namespaces "
                f"({', '.join(self.namespaces)})"
            )
        return asked

    def all_namespaces(self) -> None:
        if self.confined:
            raise ToolError(
                "all namespaces cannot be read here: this run is limited to "
                f"{', '.join(self.namespaces)}"
            )

    def resource(self, kind: str, cluster_scoped: frozenset[str] = frozenset()) -> None:
        """Refuse a cluster-scoped type when cluster_scope is off."""
        if self.cluster_scope:
            return
        name = kind.lower()
        short = name.split(".")[0]
        if name in CLUSTER_SCOPED or short in CLUSTER_SCOPED or name in cluster_scoped:
            raise ToolError(
                f"{kind!r} is cluster-scoped, and this run may only reach objects in "
                f"{', '.join(self.namespaces) or 'its namespaces'}"
            )

    def verb(self, verb: str) -> None:
        if verb not in KNOWN_VERBS:
            raise ToolError(
                f"kubectl {verb} is not available through this skill (known verbs: "
                f"{', '.join(sorted(KNOWN_VERBS))})"
            )
        if verb not in self.verbs:
            raise ToolError(
                f"kubectl {verb} is not allowed in this run (allowed: "
                f"{', '.join(sorted(self.verbs))})"
            )


def load_scope(prefix: str = "KUBECTL") -> Scope:
    """The scope from the config file and the environment (`PODIUM_{prefix}_NAMESPACES`...)."""
    settings: dict[str, Any] = {}
    config = os.environ.get("PODIUM_SKILL_CONFIG")
    if config:
        try:
            loaded: Any = yaml.safe_load(Path(config).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ToolError(f"cannot read this skill's config {config}: {exc}") from None
        if isinstance(loaded, dict):
            settings.update(cast(dict[str, Any], loaded))
    for key, env in (("namespaces", "NAMESPACES"), ("verbs", "VERBS")):
        value = os.environ.get(f"PODIUM_{prefix}_{env}")
        if value is not None:
            settings[key] = [v.strip() for v in value.split(",") if v.strip()]
    flag = os.environ.get(f"PODIUM_{prefix}_CLUSTER_SCOPE")
    if flag is not None:
        settings["cluster_scope"] = flag.strip().lower() in ("1", "true", "yes")
    namespaces = tuple(str(n) for n in _list(settings.get("namespaces")))
    for ns in namespaces:
        if not _LABEL.fullmatch(ns):
            raise ToolError(f"this skill's config names an invalid namespace {ns!r}")
    verbs = frozenset(str(v) for v in _list(settings.get("verbs", READ_VERBS)))
    unknown = verbs - KNOWN_VERBS
    if unknown:
        raise ToolError(f"this skill's config allows unknown verbs: {', '.join(sorted(unknown))}")
    cluster = settings.get("cluster_scope", not namespaces)
    return Scope(namespaces=namespaces, cluster_scope=bool(cluster), verbs=verbs)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return list(cast(list[Any], value))
    raise ToolError(f"this skill's config has {json.dumps(value)} where a list belongs")
