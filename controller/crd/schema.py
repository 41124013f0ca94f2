"""The CRDs, generated from the pydantic models in `controller.crd.models`.

pydantic's JSON Schema uses `$ref`, `anyOf` with null for optional fields, titles and
`additionalProperties: false`; a CRD needs a *structural* schema: every node typed, no
references, no `anyOf` of types. `structural()` rewrites one into the other, keeps the CEL
rules (`x-kubernetes-validations`) and descriptions, and marks free-form objects
`x-kubernetes-preserve-unknown-fields`. `deploy/crds/*.yaml` is this module's output
(`python -m controller.crd.schema` rewrites it and the Helm chart's copy; a test fails
when either is stale).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from controller.crd.agentschedule import MAX_NAME, AgentScheduleSpec, AgentScheduleStatus
from controller.crd.mcpserver import MCPServerSpec, MCPServerStatus
from controller.crd.models import GROUP, VERSION, AgentRunSpec, AgentRunStatus, SkillSpec

__all__ = [
    "agentrun_crd",
    "agentschedule_crd",
    "crds",
    "mcpserver_crd",
    "skill_crd",
    "structural",
    "write",
]

_KEEP = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "format",
    "x-kubernetes-validations",
}


def structural(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as a structural CRD schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = raw.get("$defs", {})
    return _node(raw, defs)


def _node(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _node(merged, defs)
    if "anyOf" in node:  # Optional[X] is X here: a missing field is the null
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"a CRD field cannot be a union of types: {node}")
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        return _node({**options[0], **rest}, defs)
    if "const" in node:
        node = {**node, "enum": [node["const"]], "type": node.get("type", "string")}
    out: dict[str, Any] = {k: v for k, v in node.items() if k in _KEEP}
    if node.get("x-podium-free-form"):
        return {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            **({"description": out["description"]} if "description" in out else {}),
        }
    if "properties" in node:
        out["type"] = "object"
        out["properties"] = {k: _node(v, defs) for k, v in node["properties"].items()}
        if "required" in node:
            out["required"] = list(node["required"])
    elif node.get("type") == "object":
        extra: Any = node.get("additionalProperties")
        patterned: dict[str, Any] = node.get("patternProperties", {})
        if patterned:  # keys with a pattern: a map of values, the keys checked by CEL
            ((pattern, extra),) = patterned.items()
            rules = out.setdefault("x-kubernetes-validations", [])
            rules.append(
                {
                    "rule": f"self.all(k, k.matches('{pattern}'))",
                    "message": f"keys must match {pattern}",
                }
            )
        if isinstance(extra, dict):
            out["additionalProperties"] = _node(extra, defs)  # pyright: ignore[reportUnknownArgumentType]
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    if "items" in node:
        out["items"] = _node(node["items"], defs)
    if "type" not in out:
        raise ValueError(f"a CRD schema node needs a type: {node}")
    return out


def _conditions_list(status: dict[str, Any]) -> dict[str, Any]:
    conditions = status["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    conditions["items"]["required"] = ["type", "status"]
    return status


def _crd(
    kind: str,
    plural: str,
    short: list[str],
    spec: dict[str, Any],
    status: dict[str, Any] | None,
    columns: list[dict[str, Any]],
    description: str,
    root_rules: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec,
    }
    if status is not None:
        properties["status"] = status
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "description": description,
                "required": ["spec"],
                "properties": properties,
                **({"x-kubernetes-validations": root_rules} if root_rules else {}),
            }
        },
        "additionalPrinterColumns": columns,
    }
    if status is not None:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "podium", "app.kubernetes.io/part-of": "podium"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": ["podium"],
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def agentrun_crd() -> dict[str, Any]:
    def column(name: str, path: str, kind: str = "string") -> dict[str, Any]:
        return {"name": name, "type": kind, "jsonPath": path}

    return _crd(
        "AgentRun",
        "agentruns",
        ["ar", "arun"],
        structural(AgentRunSpec),
        _conditions_list(structural(AgentRunStatus)),
        [
            column("Phase", ".status.phase"),
            column("Model", ".spec.model.name"),
            column("Turns", ".status.turns", "integer"),
            column("Tool calls", ".status.toolCalls", "integer"),
            column("Age", ".metadata.creationTimestamp", "date"),
        ],
        "One agent run: a task, a model and skills, run once as a Job.",
        [
            {
                "rule": "size(self.metadata.name) <= 40",
                "message": "an AgentRun's name is at most 40 characters (it names its Job)",
            }
        ],
    )


def skill_crd() -> dict[str, Any]:
    return _crd(
        "Skill",
        "skills",
        ["sk"],
        structural(SkillSpec),
        None,
        [
            {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
            {"name": "Source", "type": "string", "jsonPath": ".spec.source"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        "A reusable skill (image, default config, the RBAC it needs) runs refer to by name.",
    )


def _without_transition_rules(node: dict[str, Any]) -> dict[str, Any]:
    """A schema minus rules that compare with `oldSelf`: an AgentRun's spec is immutable
    where a run is, but a schedule's run template may be edited."""
    out = dict(node)
    rules = [r for r in node.get("x-kubernetes-validations", []) if "oldSelf" not in r["rule"]]
    out.pop("x-kubernetes-validations", None)
    if rules:
        out["x-kubernetes-validations"] = rules
    for key in ("properties",):
        if key in node:
            out[key] = {k: _without_transition_rules(v) for k, v in node[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out[key] = _without_transition_rules(node[key])
    return out


def agentschedule_crd() -> dict[str, Any]:
    spec = structural(AgentScheduleSpec)
    template = spec["properties"]["runTemplate"]
    template["properties"]["spec"] = _without_transition_rules(template["properties"]["spec"])
    return _crd(
        "AgentSchedule",
        "agentschedules",
        ["asched"],
        spec,
        _conditions_list(structural(AgentScheduleStatus)),
        [
            {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
            {"name": "Time zone", "type": "string", "jsonPath": ".spec.timeZone"},
            {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
            {"name": "Active", "type": "integer", "jsonPath": ".status.activeCount"},
            {"name": "Last", "type": "date", "jsonPath": ".status.lastScheduleTime"},
            {"name": "Next", "type": "string", "jsonPath": ".status.nextScheduleTime"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        "An AgentRun started on a cron schedule, with a CronJob's concurrency, deadline, "
        "suspend and history rules.",
        [
            {
                "rule": f"size(self.metadata.name) <= {MAX_NAME}",
                "message": f"an AgentSchedule's name is at most {MAX_NAME} characters "
                "(NAME-<minutes> names each run)",
            }
        ],
    )


def mcpserver_crd() -> dict[str, Any]:
    ready = '.status.conditions[?(@.type=="Ready")].status'
    return _crd(
        "MCPServer",
        "mcpservers",
        ["mcps"],
        structural(MCPServerSpec),
        _conditions_list(structural(MCPServerStatus)),
        [
            {"name": "Ready", "type": "string", "jsonPath": ready},
            {"name": "Tools", "type": "integer", "jsonPath": ".status.toolCount"},
            {"name": "Protocol", "type": "string", "jsonPath": ".status.protocolVersion"},
            {"name": "URL", "type": "string", "jsonPath": ".status.url", "priority": 1},
            {"name": "Error", "type": "string", "jsonPath": ".status.lastError", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        "An MCP server runs share: external (a URL) or managed (a Deployment and Service), "
        "with the bridge's filters; its tools are discovered into .status.",
    )


def crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD, as `deploy/crds/` holds them."""
    return {
        "agentruns.yaml": agentrun_crd(),
        "skills.yaml": skill_crd(),
        "agentschedules.yaml": agentschedule_crd(),
        "mcpservers.yaml": mcpserver_crd(),
    }


HEADER = "# Generated by `python -m controller.crd.schema` from controller/crd/models.py.\n"


def dump(obj: dict[str, Any]) -> str:
    from controller import _yaml

    return HEADER + _yaml.dump(obj)


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, crd in crds().items():
        path = folder / name
        path.write_text(dump(crd), encoding="utf-8")
        written.append(path)
    return written


FOLDERS = ("deploy/crds", "deploy/helm/podium/crds")
"""Where the CRDs live (relative to the repository): kustomize's and the Helm chart's."""

if __name__ == "__main__":
    for folder in sys.argv[1:] or FOLDERS:
        for p in write(Path(folder)):
            print(p)
