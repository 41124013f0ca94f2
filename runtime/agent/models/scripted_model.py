"""ScriptedModel: an in-process fake model for tests and offline demos.

Give it a queue of steps (responses to return, exceptions to raise, or functions of the
conversation); it records every call and `assert_complete()` checks nothing was left over:

    model = ScriptedModel([tool_response(("workspace_list", {})), text_response("done")])
    ...  # run the loop
    model.assert_complete()
    assert model.calls[1].messages[-1].text == "..."

`scripted:FILE` (via `get_model`) plays a mock-LLM script file in process instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.agent.base import (
    Message,
    ModelError,
    ModelResponse,
    ModelSettings,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    Usage,
)
from runtime.mock_llm.script import Script, ScriptPlayer, estimate_tokens

StepFunction = Callable[[Sequence[Message], Sequence[ToolSpec]], ModelResponse]
Step = ModelResponse | BaseException | StepFunction
"""A response to return, an exception to raise, or a function that builds the response."""

_ids = itertools.count(1)


@dataclass(frozen=True)
class ScriptedCall:
    """One request the model received (a snapshot: later changes to the list do not show)."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]
    settings: ModelSettings


class ScriptedModel:
    def __init__(
        self,
        steps: Iterable[Step] = (),
        *,
        name: str = "scripted",
        player: ScriptPlayer | None = None,
    ) -> None:
        self.name = name
        self.calls: list[ScriptedCall] = []
        self._steps: deque[Step] = deque(steps)
        self._player = player
        """Answers once the queue is empty (`scripted:FILE`); without one, running dry fails."""

    @classmethod
    def from_script(cls, path: Path) -> ScriptedModel:
        return cls(name=f"scripted:{path}", player=ScriptPlayer(Script.load(path)))

    def add(self, *steps: Step) -> None:
        self._steps.extend(steps)

    @property
    def steps_left(self) -> int:
        return len(self._steps)

    async def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> ModelResponse:
        self.calls.append(ScriptedCall(tuple(messages), tuple(tools), settings))
        if self._steps:
            step = self._steps.popleft()
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, ModelResponse):
                return step
            return step(messages, tools)
        if self._player is not None:
            return await self._play(self._player, messages)
        raise AssertionError(
            f"ScriptedModel {self.name!r} has no step left for call {len(self.calls)}"
        )

    def assert_complete(self) -> None:
        """Fail if some scripted steps were never used."""
        if self._steps:
            left = ", ".join(_describe(step) for step in self._steps)
            raise AssertionError(
                f"{len(self._steps)} scripted step(s) never used "
                f"after {len(self.calls)} call(s): {left}"
            )

    async def _play(self, player: ScriptPlayer, messages: Sequence[Message]) -> ModelResponse:
        last = last_text(messages)
        reply = player.reply(last)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.error is not None:
            message = reply.error.message or "scripted error"
            raise ModelError(f"{self.name}: {reply.error.status}: {message} ({reply.source})")
        calls = tuple(ToolCall(_next_id(), c.name, c.arguments_text()) for c in reply.tool_calls)
        out_text = reply.content + "".join(c.name + c.arguments for c in calls)
        prompt = "".join(m.text for m in messages)
        return ModelResponse(
            text=reply.content,
            tool_calls=calls,
            usage=Usage(estimate_tokens(prompt), estimate_tokens(out_text)),
            stop_reason="tool_calls" if calls else "stop",
        )


def text_response(text: str, *, usage: Usage | None = None) -> ModelResponse:
    """A final answer."""
    return ModelResponse(text=text, usage=usage or Usage(), stop_reason="stop")


def tool_response(
    *calls: tuple[str, Mapping[str, Any] | str], text: str = "", usage: Usage | None = None
) -> ModelResponse:
    """A turn that asks for tool calls: `(name, arguments)` pairs, where arguments are a
    mapping (sent as JSON) or raw text (to send malformed JSON on purpose). Ids are unique."""
    tool_calls = tuple(
        ToolCall(_next_id(), name, args if isinstance(args, str) else json.dumps(dict(args)))
        for name, args in calls
    )
    return ModelResponse(
        text=text, tool_calls=tool_calls, usage=usage or Usage(), stop_reason="tool_calls"
    )


def last_text(messages: Sequence[Message]) -> str:
    """The last message's text; when the conversation ends with several tool results (a
    parallel turn), their texts joined by newlines. What `{{last}}` stands for."""
    trailing: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, ToolResultMessage):
            break
        trailing.append(message.text)
    if trailing:
        return "\n".join(reversed(trailing))
    return messages[-1].text if messages else ""


def _next_id() -> str:
    return f"call_{next(_ids):04d}"


def _describe(step: Step) -> str:
    if isinstance(step, ModelResponse):
        names = ", ".join(c.name for c in step.tool_calls)
        return f"tool calls ({names})" if names else f"text {step.text[:40]!r}"
    if isinstance(step, BaseException):
        return f"raise {step!r}"
    return f"function {getattr(step, '__name__', step)!r}"
