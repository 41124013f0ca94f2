"""The script format of Podium's fake model: what `runtime.mock_llm.server` (over HTTP) and
`ScriptedModel` (in process, `scripted:FILE`) answer, request by request.

The format is documented with examples in `runtime.mock_llm.server`'s module docstring.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

LAST = re.compile(r"\{\{\s*last\s*\}\}")
DEFAULT_FINAL = "Done."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScriptToolCall(_Strict):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw_arguments: str | None = None
    """Sent verbatim instead of `arguments`: malformed JSON on purpose, for instance."""

    def arguments_text(self) -> str:
        return self.raw_arguments if self.raw_arguments is not None else json.dumps(self.arguments)


class ScriptError(_Strict):
    status: int = Field(ge=400, le=599)
    message: str = ""
    """The error message in the response body (a standard phrase when empty)."""
    retry_after: float | str | None = None
    """Sent as the Retry-After header: seconds, or an HTTP date."""


class ScriptStep(_Strict):
    content: str | None = None
    """The answer's text; `{{last}}` is replaced by the last message's text."""
    tool_calls: list[ScriptToolCall] = Field(default_factory=list[ScriptToolCall])
    """Tool calls to ask for; several at once are parallel calls."""
    error: ScriptError | None = None
    """Fail this request with an HTTP error instead of answering."""
    delay: float = Field(0.0, ge=0)
    """Seconds to wait before answering (or failing)."""

    @model_validator(mode="after")
    def _error_alone(self) -> ScriptStep:
        if self.error is not None and (self.content is not None or self.tool_calls):
            raise ValueError("a step with `error` cannot also have `content` or `tool_calls`")
        return self


class ScriptRule(ScriptStep):
    match: str
    """A regular expression searched for in the last message's text."""
    times: int | None = Field(None, ge=1)
    """How many times the rule may answer (unlimited when absent)."""

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression {value!r}: {exc}") from None
        return value


class Script(_Strict):
    steps: list[ScriptStep] = Field(default_factory=list[ScriptStep])
    """Answers in order, one per request that no rule answered."""
    rules: list[ScriptRule] = Field(default_factory=list[ScriptRule])
    """Checked before the steps, in order; the first that matches answers."""
    repeat_last: bool = False
    """When the steps run out, repeat the last one (a model that never stops)."""
    final_content: str = DEFAULT_FINAL
    """The answer once the steps have run out (unless `repeat_last`)."""

    @classmethod
    def load(cls, path: Path) -> Script:
        """Read a YAML or JSON script; errors name the file and the bad field."""
        try:
            data: object = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"script not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML/JSON: {exc}") from None
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise ValueError(f"{path}: not a valid script:\n{exc}") from None


@dataclass(frozen=True)
class ScriptReply:
    """The answer chosen for one request."""

    source: str
    """What answered: `step 2`, `rule 1`, `step 3 (repeated)` or `final`."""
    content: str = ""
    tool_calls: tuple[ScriptToolCall, ...] = ()
    error: ScriptError | None = None
    delay: float = 0.0


class ScriptPlayer:
    """Plays a script: picks the reply to each request. Thread-safe."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._lock = threading.Lock()
        self._next = 0
        self._rule_uses = [0] * len(script.rules)

    @property
    def steps_left(self) -> int:
        return max(0, len(self.script.steps) - self._next)

    def reset(self) -> None:
        with self._lock:
            self._next = 0
            self._rule_uses = [0] * len(self.script.rules)

    def reply(self, last_text: str) -> ScriptReply:
        with self._lock:
            for number, rule in enumerate(self.script.rules, 1):
                used = self._rule_uses[number - 1]
                if (rule.times is None or used < rule.times) and re.search(rule.match, last_text):
                    self._rule_uses[number - 1] += 1
                    return _reply(f"rule {number}", rule, last_text, self.script.final_content)
            steps = self.script.steps
            if self._next < len(steps):
                self._next += 1
                return _reply(
                    f"step {self._next}",
                    steps[self._next - 1],
                    last_text,
                    self.script.final_content,
                )
            if self.script.repeat_last and steps:
                return _reply(
                    f"step {len(steps)} (repeated)", steps[-1], last_text, self.script.final_content
                )
            return ScriptReply("final", content=_fill(self.script.final_content, last_text))


def estimate_tokens(text: str) -> int:
    """About four characters a token: enough for usage figures from a fake model."""
    return max(1, (len(text) + 3) // 4)


def _reply(source: str, step: ScriptStep, last_text: str, final: str) -> ScriptReply:
    content = step.content
    if content is None and not step.tool_calls and step.error is None:
        content = final  # e.g. a step with only a delay: answer after it
    return ScriptReply(
        source, _fill(content or "", last_text), tuple(step.tool_calls), step.error, step.delay
    )


def _fill(template: str, last_text: str) -> str:
    return LAST.sub(lambda _: last_text, template)
