"""The runtime's three interfaces (Model, SkillClient, Launcher) and the messages they pass.

Everything else in `runtime/` is an implementation of one of these, in a flat sibling
module: `models/openai_model.py`, `skill_client.py`, `launchers/local.py`, ...
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# ---------------------------------------------------------------- conversation messages


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for. `arguments` is the model's raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class SystemMessage:
    text: str
    role: Literal["system"] = "system"


@dataclass(frozen=True)
class UserMessage:
    text: str
    role: Literal["user"] = "user"


@dataclass(frozen=True)
class AssistantMessage:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    role: Literal["assistant"] = "assistant"


@dataclass(frozen=True)
class ToolResultMessage:
    call_id: str
    name: str
    text: str
    is_error: bool = False
    role: Literal["tool"] = "tool"


Message = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ModelSettings:
    temperature: float | None = None
    max_output_tokens: int | None = None
    timeout_s: float = 120.0
    """Per-request timeout; a timed-out request is retried like a 5xx."""


@dataclass(frozen=True)
class ModelResponse:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = ""


class ModelError(Exception):
    """The model provider failed for good (after retries, or a non-retryable error)."""


class Model(Protocol):
    """A chat model that can call tools. Adapters: `runtime.agent.models.*`."""

    name: str

    async def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> ModelResponse: ...


# ---------------------------------------------------------------- skills


@dataclass(frozen=True)
class ToolAnnotations:
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False


@dataclass(frozen=True)
class SkillTool:
    skill: str
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: ToolAnnotations = ToolAnnotations()

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.input_schema)


@dataclass(frozen=True)
class SkillInfo:
    """What a skill said about itself in Describe."""

    name: str
    version: str
    instructions: str
    tools: tuple[SkillTool, ...]
    dynamic_tools: bool = False
    warnings: tuple[tuple[str, str], ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    """(tool, why) for tools the agent will not offer: a name no provider accepts, a schema
    that is not JSON, not an object schema, or does not compile."""


@dataclass(frozen=True)
class ToolOutcome:
    """The end of one tool call, as the loop sees it."""

    text: str
    is_error: bool = False
    error_kind: str = ""
    structured: str = ""
    artifacts: tuple[str, ...] = ()


ProgressCallback = Callable[[str, str], None]
"""Called with (kind, message) for progress and log events streamed during a call."""


class SkillClient(Protocol):
    """Talks to one running skill. Implementation: `runtime.agent.skill_client.GrpcSkillClient`."""

    name: str

    async def describe(self) -> SkillInfo: ...

    async def invoke(
        self,
        call_id: str,
        tool: str,
        arguments: str,
        *,
        deadline: float | None,
        on_event: ProgressCallback | None = None,
        approval: str = "",
    ) -> ToolOutcome: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ApprovalRequest:
    """A call the policy says a person must approve."""

    number: int
    """Unique within the run (the call's number): names the decision's file."""
    call_id: str
    tool: str
    skill: str
    arguments: str
    """The arguments exactly as the skill will receive them (JSON text)."""
    annotations: ToolAnnotations
    reason: str
    """Why the policy asks (`annotated destructive -> ask`)."""


@dataclass(frozen=True)
class ApprovalAnswer:
    approved: bool
    token: str = ""
    """The signed approval the skill verifies (empty unless approved)."""
    by: str = ""
    reason: str = ""
    timed_out: bool = False


class Approver(Protocol):
    """Waits for a person's decision on a call. The agent cannot sign one: the approval key
    is held by the launcher (or controller) and the skills. Implementation:
    `runtime.agent.approvals.FileApprover`."""

    async def decide(self, request: ApprovalRequest, timeout: float) -> ApprovalAnswer: ...


# ---------------------------------------------------------------- launchers


class Launcher(Protocol):
    """Starts a run's skills and agent somewhere (processes, containers, a cluster) and
    streams the agent's events back. Implementations: `runtime.launchers.*`."""

    def launch(self) -> AsyncGenerator[dict[str, Any]]:
        """Start the run; yield its events; stop everything it started when closed."""
        ...
