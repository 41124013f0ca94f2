"""The custom resources, `AgentRun` and `Skill` (group podium.dev, version v1alpha1), as
pydantic models: the one source of truth for the CRD schemas (`controller.crd.schema` turns
them into structural openAPIV3Schema with CEL rules) and for what the controller reads.

Field names are the Kubernetes ones (camelCase); the docstrings become `kubectl explain`.
Cross-field rules are standard CEL with `has()` guards (`x-kubernetes-validations`), so they
run on every API server from 1.25 and can be checked offline with cel-python.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "GROUP",
    "PHASES",
    "TERMINAL_PHASES",
    "VERSION",
    "AgentRun",
    "AgentRunSpec",
    "AgentRunStatus",
    "ApprovalRecord",
    "Condition",
    "Decision",
    "Limits",
    "LocalRef",
    "Memory",
    "ModelRef",
    "PendingApproval",
    "Phase",
    "Policy",
    "PolicyRule",
    "Resources",
    "RunSkill",
    "SecretEnv",
    "SecretKeyRef",
    "Skill",
    "SkillRBAC",
    "SkillSpec",
    "ToolRule",
    "Usage",
]

GROUP = "podium.dev"
VERSION = "v1alpha1"
Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled", "TimedOut"]
PHASES: tuple[Phase, ...] = ("Pending", "Running", "Succeeded", "Failed", "Cancelled", "TimedOut")
TERMINAL_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed", "Cancelled", "TimedOut"})
BUILTINS = ("workspace", "memory", "mcp", "kubectl", "helm")

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
QUANTITY = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$"

Name = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253)]
EnvName = Annotated[str, Field(min_length=1, max_length=128, pattern=ENV_NAME)]
Short = Annotated[str, Field(max_length=256)]
FreeForm = Annotated[dict[str, Any], Field(json_schema_extra={"x-podium-free-form": True})]


def _cel(*rules: tuple[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, use_attribute_docstrings=True, frozen=False
    )


# ---------------------------------------------------------------- shared parts


class SecretKeyRef(_Model):
    """A key of a Secret in the run's namespace."""

    name: ObjectName
    """The Secret's name."""
    key: Annotated[str, Field(min_length=1, max_length=253)]
    """The key inside the Secret."""


class SecretEnv(_Model):
    """An environment variable whose value comes from a Secret, for one skill only."""

    name: EnvName
    """The variable's name inside the skill's container."""
    secretKeyRef: SecretKeyRef
    """Where the value is kept."""


class LocalRef(_Model):
    """A reference to an object in the run's namespace."""

    name: ObjectName


class Resources(_Model):
    """Container limits, in Kubernetes notation."""

    cpu: Annotated[str | None, Field(max_length=32, pattern=QUANTITY)] = None
    """CPU limit ("500m", "2")."""
    memory: Annotated[str | None, Field(max_length=32, pattern=QUANTITY)] = None
    """Memory limit ("256Mi")."""


class PolicyRule(_Model):
    """One RBAC rule, as in a Role."""

    apiGroups: Annotated[list[Short], Field(max_length=16)] = Field(default_factory=list)
    """API groups ("" is the core group)."""
    resources: Annotated[list[Short], Field(min_length=1, max_length=32)]
    """Resources, with subresources as `pods/log`."""
    verbs: Annotated[list[Short], Field(min_length=1, max_length=16)]
    """Verbs: get, list, watch, create, update, patch, delete..."""
    resourceNames: Annotated[list[ObjectName], Field(max_length=32)] = Field(default_factory=list)
    """Only these objects (empty: all of them)."""


class SkillRBAC(
    _Model,
    json_schema_extra=_cel(
        (
            "!has(self.clusterScope) || !self.clusterScope || "
            "(has(self.clusterRoles) && size(self.clusterRoles) > 0) || "
            "(has(self.rules) && size(self.rules) > 0)",
            "clusterScope needs clusterRoles or rules to grant",
        ),
    ),
):
    """The Kubernetes permissions a skill needs; the controller grants them to a
    ServiceAccount of this run and skill only, within what the administrator allowed."""

    rules: Annotated[list[PolicyRule], Field(max_length=16)] = Field(
        default_factory=lambda: list[PolicyRule]()
    )
    """Inline rules: a Role (or ClusterRole with clusterScope) made for this run and skill."""
    clusterRoles: Annotated[list[Name], Field(max_length=8)] = Field(default_factory=list)
    """Existing ClusterRoles to bind (in each namespace, or cluster-wide with clusterScope)."""
    namespaces: Annotated[list[Name], Field(max_length=16)] = Field(default_factory=list)
    """Namespaces the grants apply in (default: the run's own)."""
    clusterScope: bool = False
    """Grant cluster-wide (a ClusterRoleBinding): only where the administrator allows it."""


# ---------------------------------------------------------------- Skill (the kind)


class SkillSpec(_Model):
    """A reusable skill: its image, what it serves, its default config and the RBAC it needs."""

    image: Annotated[str, Field(min_length=1, max_length=512)]
    """The sidecar image."""
    source: Annotated[str | None, Field(min_length=1, max_length=256)] = None
    """What `podium skill serve` loads in the image (a built-in, MODULE:ATTR, FILE.py:ATTR);
    none: the image's own entrypoint serves skill.proto (any language; protos/README.md)."""
    description: Annotated[str | None, Field(max_length=1024)] = None
    config: FreeForm | None = None
    """The skill's default config file (JSON), unless the run gives its own."""
    env: Annotated[dict[EnvName, Annotated[str, Field(max_length=4096)]], Field(max_length=64)] = (
        Field(default_factory=dict)
    )
    """Plain environment for this skill."""
    resources: Resources = Field(default_factory=Resources)
    rbac: SkillRBAC | None = None
    """The permissions every run using this skill asks for."""


class Skill(_Model):
    apiVersion: Literal["podium.dev/v1alpha1"] = "podium.dev/v1alpha1"
    kind: Literal["Skill"] = "Skill"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: SkillSpec


# ---------------------------------------------------------------- AgentRun


class ModelRef(_Model):
    """The LLM: its name, its API key (from a Secret) and an optional base URL."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    """`openai:MODEL`, `anthropic:MODEL` or `litellm:...`."""
    apiKeySecretRef: SecretKeyRef | None = None
    """The API key, given to the agent container only."""
    apiKeyEnv: Annotated[str | None, Field(max_length=128, pattern=ENV_NAME)] = None
    """The variable the key goes in (default: OPENAI_API_KEY or ANTHROPIC_API_KEY)."""
    baseURL: Annotated[str | None, Field(max_length=2048)] = Field(default=None, alias="baseURL")
    """An OpenAI-compatible endpoint (vLLM, Ollama, a gateway), or the provider's own."""


class RunSkill(
    _Model,
    json_schema_extra=_cel(
        (
            "(has(self.builtin) ? 1 : 0) + (has(self.skillRef) ? 1 : 0) + "
            "(has(self.image) ? 1 : 0) == 1",
            "a skill is exactly one of builtin, skillRef or image",
        ),
        (
            "!has(self.source) || has(self.image)",
            "source is only for image skills (a Skill carries its own)",
        ),
    ),
):
    """One skill sidecar of the run."""

    name: Annotated[str, Field(min_length=1, max_length=40, pattern=DNS_LABEL)]
    """Instance name: the container is `skill-NAME`."""
    builtin: Literal["workspace", "memory", "mcp", "kubectl", "helm"] | None = None
    """One of Podium's built-in skills."""
    skillRef: LocalRef | None = None
    """A `Skill` in the run's namespace."""
    image: Annotated[str | None, Field(max_length=512)] = None
    """Any image serving skill.proto: with no `source`, its own entrypoint runs (any
    language, no Podium inside; protos/README.md)."""
    source: Annotated[str | None, Field(max_length=256)] = None
    """For a Python image: what `podium skill serve` loads (MODULE:ATTR or FILE.py:ATTR)."""
    config: FreeForm | None = None
    """The skill's config file (JSON); overrides a Skill's default."""
    env: Annotated[dict[EnvName, Annotated[str, Field(max_length=4096)]], Field(max_length=64)] = (
        Field(default_factory=dict)
    )
    """Plain environment for this skill only."""
    secretEnv: Annotated[list[SecretEnv], Field(max_length=32)] = Field(
        default_factory=lambda: list[SecretEnv]()
    )
    """Environment from Secrets, for this skill's container only."""
    resources: Resources | None = None
    rbac: SkillRBAC | None = None
    """Kubernetes permissions for this skill (added to a Skill's own)."""


class Limits(_Model):
    maxTurns: Annotated[int, Field(ge=1, le=1000)] = 30
    """Model turns before the run fails."""
    timeoutSeconds: Annotated[int, Field(ge=1, le=86400)] = 600
    """Deadline for the whole run (the Job's activeDeadlineSeconds adds start-up time)."""
    maxTokens: Annotated[int | None, Field(ge=1)] = None
    """Token budget (input + output) for the run."""
    toolTimeoutSeconds: Annotated[int, Field(ge=1, le=86400)] = 300
    """Deadline for one tool call."""
    maxToolOutputChars: Annotated[int, Field(ge=200, le=1_000_000)] = 16_000
    """Tool output beyond this is cut for the model and kept whole in the workspace."""
    readinessTimeoutSeconds: Annotated[int, Field(ge=1, le=3600)] = 60
    """How long the agent waits for every skill to answer its health check."""


class ToolRule(_Model):
    """`{tool: GLOB, action: allow | deny | ask}`: the first rule whose glob matches decides."""

    tool: Annotated[str, Field(min_length=1, max_length=256)]
    action: Literal["allow", "deny", "ask"]


class Policy(_Model):
    readOnly: bool = False
    """Offer the model only tools annotated read-only."""
    denyTools: Annotated[list[Short], Field(max_length=64)] = Field(default_factory=list)
    """Glob patterns of tool names never offered to the model."""
    rules: Annotated[list[ToolRule], Field(max_length=64)] = Field(
        default_factory=lambda: list[ToolRule]()
    )
    """Per-tool rules (first match wins); tools no rule matches: destructive ones ask."""
    approve: Literal["ask", "never", "auto"] = "ask"
    """How an `ask` is resolved: a person decides (`podium approve RUN CALL --kubernetes`, or a
    `spec.decisions` entry), `never` (denied), `auto` (approved)."""
    approvalTimeoutSeconds: Annotated[int, Field(ge=1, le=86400)] = 300
    """How long a call waits for a decision; then it is denied and the run goes on."""


class Decision(_Model):
    """A person's decision on a call that waits for approval. `podium approve RUN CALL
    --kubernetes` appends one; so can a plain `kubectl patch` (see the README)."""

    call: Annotated[str, Field(min_length=1, max_length=256)]
    """The call's id or number, as `status.pendingApprovals` shows it."""
    decision: Literal["approve", "deny"]
    by: Annotated[str, Field(max_length=256)] = ""
    """Who decided (as they said; the API server's audit log has who patched)."""
    reason: Annotated[str, Field(max_length=1024)] = ""
    """Why (a denial's reason is told to the model)."""
    time: Annotated[str | None, Field(max_length=64)] = None


class Memory(_Model):
    claim: Annotated[str | None, Field(max_length=253)] = None
    """PersistentVolumeClaim with the memory database (none: memories last for this run only).
    Runs sharing a claim never write it at the same time: a later one waits."""
    scope: Annotated[str, Field(min_length=1, max_length=253)] = "default"
    """Memories belong to a scope (e.g. `team/agent`); a run sees only its own."""
    recall: bool = False
    """Put the memories most relevant to the task in the system prompt."""
    recallLimit: Annotated[int, Field(ge=1, le=50)] = 5
    summary: bool = False
    """Store a summary of a successful run as a memory."""


class AgentRunSpec(
    _Model,
    json_schema_extra=_cel(
        (
            "!has(self.skills) || self.skills.all(s, self.skills.exists_one(t, t.name == s.name))",
            "skill names must be unique",
        ),
        (
            "!has(self.mcp) || !has(self.skills) || !self.skills.exists(s, s.name == 'mcp')",
            "spec.mcp adds a skill named mcp: do not name another one so",
        ),
        (
            "!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",
            "a cancelled run stays cancelled",
        ),
        ("self.task == oldSelf.task", "task is immutable: create another AgentRun"),
        (
            "!has(oldSelf.decisions) || (has(self.decisions) && "
            "size(self.decisions) >= size(oldSelf.decisions))",
            "decisions are only ever added",
        ),
    ),
):
    """What to run: the task, the model, the skills, limits and policy."""

    task: Annotated[str, Field(min_length=1, max_length=65536)]
    """What the agent should do."""
    model: ModelRef
    systemPrompt: Annotated[str | None, Field(max_length=65536)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    skills: Annotated[list[RunSkill], Field(max_length=16)] = Field(
        default_factory=lambda: list[RunSkill]()
    )
    mcp: FreeForm | None = None
    """An MCP servers config (`{"mcpServers": {...}}`): adds the MCP bridge skill `mcp`."""
    limits: Limits = Field(default_factory=Limits)
    policy: Policy = Field(default_factory=Policy)
    memory: Memory = Field(default_factory=Memory)
    runtimeClassName: Annotated[str | None, Field(max_length=253)] = None
    """A RuntimeClass for the Pod (gVisor, Kata)."""
    ttlSecondsAfterFinished: Annotated[int | None, Field(ge=0)] = None
    """How long the finished Job and Pod stay (default: the controller's)."""
    cancel: bool = False
    """Set true to stop the run: its Job is deleted and the run ends Cancelled."""
    decisions: Annotated[list[Decision], Field(max_length=256)] = Field(
        default_factory=lambda: list[Decision]()
    )
    """Decisions on calls waiting for approval; the controller signs and delivers each."""


class Usage(_Model):
    inputTokens: int = 0
    outputTokens: int = 0


class Condition(_Model):
    type: Annotated[str, Field(max_length=64)]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[str, Field(max_length=64)] = ""
    message: Annotated[str, Field(max_length=4096)] = ""
    lastTransitionTime: str | None = None


class PendingApproval(_Model):
    """A tool call that waits for a person's approval (reported by the run's pod)."""

    number: int
    """The call's number in the run."""
    callId: Annotated[str, Field(max_length=256)]
    tool: Annotated[str, Field(max_length=256)]
    skill: Annotated[str, Field(max_length=256)] = ""
    arguments: Annotated[str, Field(max_length=4096)] = ""
    """The call's arguments (JSON), secret-looking values redacted, cut to fit."""
    argumentsSha256: Annotated[str, Field(max_length=64)] = ""
    """SHA-256 of the exact arguments: the approval the controller signs is bound to it."""
    reason: Annotated[str, Field(max_length=1024)] = ""
    """Why the policy asks."""
    since: Annotated[str | None, Field(max_length=64)] = None
    timeoutSeconds: float | None = None


class ApprovalRecord(_Model):
    """What became of a call that waited: who decided, or that nobody did in time."""

    number: int
    callId: Annotated[str, Field(max_length=256)]
    tool: Annotated[str, Field(max_length=256)] = ""
    decision: Literal["Approved", "Denied", "TimedOut"]
    by: Annotated[str, Field(max_length=256)] = ""
    reason: Annotated[str, Field(max_length=1024)] = ""
    time: Annotated[str | None, Field(max_length=64)] = None


class AgentRunStatus(_Model):
    """What was observed: the phase, the result from the agent's termination message, and
    conditions saying why."""

    phase: Phase = "Pending"
    jobName: str | None = None
    startTime: str | None = None
    completionTime: str | None = None
    output: Annotated[str | None, Field(max_length=8192)] = None
    """The final answer (cut to fit the termination message)."""
    error: Annotated[str | None, Field(max_length=4096)] = None
    usage: Usage | None = None
    turns: int | None = None
    toolCalls: int | None = None
    durationSeconds: float | None = None
    observedGeneration: int | None = None
    conditions: Annotated[list[Condition], Field(max_length=16)] = Field(
        default_factory=lambda: list[Condition]()
    )
    pendingApprovals: Annotated[list[PendingApproval], Field(max_length=32)] = Field(
        default_factory=lambda: list[PendingApproval]()
    )
    """Tool calls waiting for a person: `podium approve RUN CALL --kubernetes` decides."""
    approvals: Annotated[list[ApprovalRecord], Field(max_length=256)] = Field(
        default_factory=lambda: list[ApprovalRecord]()
    )
    """Every call that waited, and who decided it."""


class AgentRun(_Model):
    apiVersion: Literal["podium.dev/v1alpha1"] = "podium.dev/v1alpha1"
    kind: Literal["AgentRun"] = "AgentRun"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: AgentRunSpec
    status: AgentRunStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")
