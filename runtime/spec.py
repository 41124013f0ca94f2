"""The run spec: what to run (task, model, limits, skills, policy) and the provider
environment a model string implies.

A launcher writes the spec to `/workspace/.podium/run.json` (in a Pod it is mounted from the
run's ConfigMap); the agent and the skills read it. It is the one input every backend (local,
docker, kubernetes) shares. Where things go is `runtime.layout`.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from protos.policy import Action, ApproveMode, ToolPolicy
from runtime._validation import SpecError, explain, read_data
from runtime.layout import write_atomic
from skills.catalog import BUILTINS

# A skill's name becomes a socket file and a container name: keep it a DNS label.
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
DEFAULT_MODEL = "openai:gpt-4.1-mini"
# The environment each provider's adapter reads (keys, base URLs): passed by name, never value.
MODEL_ENV = {
    "openai": ["OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"],
    "anthropic": ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Resources(_Strict):
    cpu: str | None = None
    """CPU limit, Kubernetes notation ("500m", "2")."""
    memory: str | None = None
    """Memory limit, Kubernetes notation ("256Mi")."""


class SkillSpec(_Strict):
    name: str
    """Instance name: the socket is `sockets/NAME.sock`, the container `skill-NAME`."""
    source: str | None = None
    """A Python skill: a built-in (`workspace`, `memory`, `mcp`...), `module:attr` or
    `file.py:attr`, served by `podium skill serve`. None for a sidecar in another language,
    which has a `command` (local backend) and/or an `image` (its own entrypoint runs)."""
    command: list[str] | None = None
    """Local backend: the program (and arguments; never a shell string) that serves this
    skill, instead of `podium skill serve SOURCE`. It gets the launch contract's environment
    (protos/README.md) and the workspace as its working directory."""
    image: str | None = None
    """Container image for docker/kubernetes; built-ins default to Podium's own images. With
    no `source`, the image's own entrypoint runs (no `podium` needed inside it)."""
    config: str | None = None
    """A config file for the skill (the MCP bridge's servers.json); given as PODIUM_SKILL_CONFIG."""
    env: dict[str, str] = Field(default_factory=dict)
    """Plain environment for this skill only."""
    secret_env: list[str] = Field(default_factory=list)
    """Names of secret environment variables only this skill receives (from the launcher's
    environment locally, from the run's Secret in a cluster). Never logged."""
    resources: Resources = Field(default_factory=Resources)
    allow_no_tools: bool = False
    """Start the run even if this skill offers no tools when the run starts (for the MCP
    bridge: every server failed, or the filters removed every tool). By default such a run
    fails before the first model turn, naming the skill and its warnings
    (`podium run --mcp-allow-no-tools` sets this for `--mcp`)."""

    @field_validator("source")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in BUILTINS and ":" not in value:
            raise ValueError(
                f"unknown skill {value!r}: use a built-in ({', '.join(sorted(BUILTINS))}), "
                "MODULE:ATTR or path/to/file.py:ATTR"
            )
        return value

    @field_validator("command")
    @classmethod
    def _argv(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or not all(value)):
            raise ValueError("command must be a non-empty list of non-empty arguments")
        return value

    @model_validator(mode="after")
    def _runnable(self) -> SkillSpec:
        if self.source is None and self.command is None and self.image is None:
            raise ValueError(
                f"skill {self.name!r} needs a `source` (a Python skill), a `command` (any "
                "program, for the local backend) or an `image` (docker/kubernetes)"
            )
        return self

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(
                f"skill name {value!r} must be lowercase letters, digits and '-' "
                "(at most 40 characters)"
            )
        return value


class Limits(_Strict):
    max_turns: Annotated[int, Field(ge=1)] = 30
    """Model turns before the run fails."""
    timeout_s: Annotated[float, Field(gt=0)] = 600
    """Deadline for the whole run; in-flight tool calls are cancelled at the skill."""
    max_tokens: Annotated[int | None, Field(ge=1)] = None
    """Token budget (input + output) for the whole run."""
    tool_timeout_s: Annotated[float, Field(gt=0)] = 300
    """Deadline for one tool call."""
    max_tool_output_chars: Annotated[int, Field(ge=200)] = 16_000
    """Tool output beyond this is cut for the model and kept whole in `.podium/outputs/`."""
    readiness_timeout_s: Annotated[float, Field(gt=0)] = 30
    """How long the agent waits for every skill to answer its health check."""


class ToolRule(_Strict):
    tool: str = Field(min_length=1)
    """Glob pattern of tool names (`kubectl_*`)."""
    action: Action
    """allow, deny, or ask (a person approves each call)."""


class Policy(_Strict):
    """Which tool calls run. The agent offers the model only what is not denied; each skill
    applies the same rules itself (protos.policy) and refuses what they forbid."""

    read_only: bool = False
    """Only tools annotated read-only may run."""
    deny_tools: list[str] = Field(default_factory=list)
    """Glob patterns of tool names that never run."""
    rules: list[ToolRule] = Field(default_factory=lambda: list[ToolRule]())
    """`{tool: GLOB, action}` rules; the first whose glob matches decides."""
    annotations: dict[Literal["read_only", "destructive", "idempotent", "open_world"], Action] = (
        Field(default_factory=lambda: {"destructive": "ask"})
    )
    """Actions for tools no rule matched, by annotation (the strictest applies)."""
    default: Action = "allow"
    """The action when neither a rule nor an annotation decides."""
    approve: ApproveMode | None = None
    """How `ask` is resolved: `ask` a person, `auto` approve, `never` approve (deny). Unset:
    `ask` when a person is at the terminal, `auto` otherwise (`podium run` and the local
    launchers resolve it before the run starts; a skill that reads it unset asks)."""
    approval_timeout_s: Annotated[float, Field(gt=0)] = 300
    """How long a call waits for a person's decision; then it is denied."""

    def tool_policy(self) -> ToolPolicy:
        """The rules engine both the agent and the skills run."""
        return ToolPolicy.from_dict(self.model_dump(exclude_none=True))

    def resolve_approve(self, someone_to_ask: bool) -> None:
        """Fix an unset `approve`: ask when a person can answer, approve otherwise."""
        if self.approve is None:
            self.approve = "ask" if someone_to_ask else "auto"


class MemorySettings(_Strict):
    scope: str = "default"
    """Memories are kept per scope (e.g. `tenant/agent`); a run sees only its own."""
    recall: bool = False
    """Before the first turn, put the memories most relevant to the task in the system prompt."""
    recall_limit: Annotated[int, Field(ge=1, le=50)] = 5
    summary: bool = False
    """After a successful run, store a short summary as a memory."""


class Sandbox(_Strict):
    runtime_class: str | None = None
    """Kubernetes RuntimeClass (`gvisor` maps to Docker's `runsc` runtime)."""
    network: Literal["bridge", "host", "none"] = "bridge"
    """Docker backend only: the Pod's network (tests use `host` to stay on loopback)."""


class RunSpec(_Strict):
    run_id: str = Field(default_factory=lambda: "run-" + secrets.token_hex(4))
    task: str = Field(min_length=1)
    model: str = Field(default_factory=lambda: os.environ.get("PODIUM_MODEL", DEFAULT_MODEL))
    system_prompt: str | None = None
    temperature: float | None = None
    skills: list[SkillSpec] = Field(default_factory=lambda: list[SkillSpec]())
    limits: Limits = Field(default_factory=Limits)
    policy: Policy = Field(default_factory=Policy)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    sandbox: Sandbox = Field(default_factory=Sandbox)
    agent_image: str | None = None
    """Container image for the agent (docker/kubernetes)."""
    model_env: list[str] = Field(default_factory=list)
    """More environment variables the agent needs for its model (API keys, base URLs), beyond
    those its provider implies (`provider_env`). Names only: values never enter the spec."""

    @field_validator("skills")
    @classmethod
    def _unique(cls, skills: list[SkillSpec]) -> list[SkillSpec]:
        names = [s.name for s in skills]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"skill names must be unique; repeated: {', '.join(dupes)}")
        return skills

    def provider_env(self) -> list[str]:
        """The names of the environment the agent's model adapter reads: what the model
        string's provider implies (`MODEL_ENV`) plus `model_env`. Passed by reference: from
        the launcher's environment locally, from the run's Secret in a cluster."""
        provider = self.model.split(":", 1)[0]
        return sorted({*MODEL_ENV.get(provider, []), *self.model_env})

    @classmethod
    def load(cls, path: Path) -> RunSpec:
        """A spec file (JSON, or YAML by content); SpecError says in one line what is wrong."""
        return cls.from_data(read_data(path), where=str(path))

    @classmethod
    def from_data(
        cls, data: object, *, where: str = "run spec", flags: Mapping[str, str] | None = None
    ) -> RunSpec:
        if not isinstance(data, dict):
            raise SpecError(f"{where}: expected a mapping of fields (task, model, skills, ...)")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(explain(exc, cls, where=where, flags=flags)) from None

    def save(self, path: Path) -> None:
        write_atomic(path, self.model_dump_json(indent=2, exclude_none=True))
