"""Anthropic's native Messages API, via the official `anthropic` SDK.

The system prompt travels apart from the messages; tool calls are `tool_use` blocks and
their results `tool_result` blocks in a user message (all results of one turn in one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anthropic

from runtime._json import integer, items, obj, string
from runtime.agent.base import (
    AssistantMessage,
    Message,
    ModelError,
    ModelResponse,
    ModelSettings,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    Usage,
    UserMessage,
)
from runtime.agent.models._retry import (
    Failure,
    RetryCallback,
    RetryPolicy,
    status_failure,
    with_retries,
)

if TYPE_CHECKING:
    from anthropic.types import ContentBlockParam, MessageParam, ToolParam

PLACEHOLDER_KEY = "podium-no-key"
DEFAULT_MAX_TOKENS = 8192
"""The Messages API requires max_tokens; used when the settings do not say."""

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}


class AnthropicModel:
    """`anthropic:MODEL`. Key and endpoint from the arguments, else ANTHROPIC_API_KEY and
    ANTHROPIC_BASE_URL (or the SDK's other credential sources)."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        on_retry: RetryCallback | None = None,
    ) -> None:
        if not model:
            raise ModelError(
                "anthropic: no model name given (expected e.g. 'anthropic:claude-sonnet-4-5')"
            )
        base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        key = api_key or os.environ.get("ANTHROPIC_API_KEY") or None
        if key is None and base_url and not os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            key = PLACEHOLDER_KEY  # a local endpoint: do not go looking for profiles on disk
        self.name = f"anthropic:{model}"
        self.model = model
        self.retry = retry
        self.on_retry = on_retry
        self._key = key or ""
        try:
            # max_retries=0: `with_retries` owns retrying, so attempts and events are ours.
            self._client = anthropic.AsyncAnthropic(api_key=key, base_url=base_url, max_retries=0)
        except anthropic.AnthropicError as exc:
            raise ModelError(f"anthropic: {exc}") from None
        client = self._client
        if not (client.api_key or client.auth_token or client.credentials):
            # Otherwise the SDK raises a TypeError at the first request.
            raise ModelError("anthropic: no API key; set ANTHROPIC_API_KEY (or "
                             "ANTHROPIC_BASE_URL for a local server)")  # fmt: skip

    async def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> ModelResponse:
        system, wire = to_anthropic_messages(messages)
        extra: dict[str, Any] = {}
        if settings.temperature is not None:
            # No longer a messages.create argument in anthropic 2.x; the API still takes it.
            extra["temperature"] = settings.temperature

        async def call() -> ModelResponse:
            reply = await self._client.messages.create(
                model=self.model,
                max_tokens=settings.max_output_tokens or DEFAULT_MAX_TOKENS,
                messages=wire,
                system=system or anthropic.omit,
                tools=to_anthropic_tools(tools) if tools else anthropic.omit,
                # A little over ours, so `with_retries`' own deadline is the one that fires.
                timeout=settings.timeout_s + 1,
                extra_body=extra or None,
            )
            # warnings=False: odd values (a gateway's, the mock's raw arguments) are read below.
            return from_anthropic_message(reply.model_dump(warnings=False))

        return await with_retries(
            call,
            provider="anthropic",
            classify=classify_anthropic_error,
            timeout_s=settings.timeout_s,
            policy=self.retry,
            on_retry=self.on_retry,
            redact=(self._key,),
            endpoint=str(self._client.base_url),
        )

    async def aclose(self) -> None:
        await self._client.close()


def to_anthropic_messages(messages: Sequence[Message]) -> tuple[str, list[MessageParam]]:
    """(system prompt, messages). Consecutive user-side content (tool results, then any user
    text) is merged into one user message, as the API expects after a tool_use turn."""
    system: list[str] = []
    out: list[MessageParam] = []
    pending: list[ContentBlockParam] = []  # the user message being assembled

    def flush() -> None:
        if pending:
            out.append({"role": "user", "content": list(pending)})
            pending.clear()

    for message in messages:
        match message:
            case SystemMessage(text=text):
                system.append(text)
            case UserMessage(text=text):
                pending.append({"type": "text", "text": text})
            case ToolResultMessage(call_id=call_id, text=text, is_error=is_error):
                # Results go before any text in the user message (an API rule).
                at = sum(1 for block in pending if block["type"] == "tool_result")
                pending.insert(
                    at,
                    {
                        "type": "tool_result",
                        "tool_use_id": call_id,
                        "content": text,
                        "is_error": is_error,
                    },
                )
            case AssistantMessage(text=text, tool_calls=calls):
                flush()
                blocks: list[ContentBlockParam] = []
                if text:  # the API rejects empty text blocks
                    blocks.append({"type": "text", "text": text})
                blocks.extend(
                    {
                        "type": "tool_use",
                        "id": c.id,
                        "name": c.name,
                        "input": _tool_input(c.arguments),
                    }
                    for c in calls
                )
                if blocks:
                    out.append({"role": "assistant", "content": blocks})
    flush()
    return "\n\n".join(system), out


def to_anthropic_tools(tools: Sequence[ToolSpec]) -> list[ToolParam]:
    return [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema}
        for t in tools
    ]


def from_anthropic_message(data: Mapping[str, object]) -> ModelResponse:
    texts: list[str] = []
    calls: list[tuple[str, str, str]] = []
    for raw in items(data.get("content")):
        block = obj(raw)
        kind = block.get("type")
        if kind == "text":
            texts.append(string(block.get("text")))
        elif kind == "tool_use":
            value = block.get("input")
            # A string input is arguments that were never valid JSON; keep them as they are.
            arguments = value if isinstance(value, str) else json.dumps(value or {})
            calls.append((string(block.get("id")), string(block.get("name")), arguments))
    usage = obj(data.get("usage"))
    # Cached input is still input: count it, so token budgets see the whole prompt.
    input_tokens = sum(
        integer(usage.get(k))
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    reason = string(data.get("stop_reason"))
    return ModelResponse(
        text="".join(texts),
        tool_calls=tuple(ToolCall(i, n, a) for i, n, a in calls),
        usage=Usage(input_tokens, integer(usage.get("output_tokens"))),
        stop_reason=_STOP_REASONS.get(reason, reason),
    )


def classify_anthropic_error(exc: BaseException) -> Failure | None:
    if isinstance(exc, anthropic.APITimeoutError):
        return Failure(True, None, "request timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        return Failure(True, None, f"connection error: {exc}")
    if isinstance(exc, anthropic.APIStatusError):
        headers = {k.lower(): v for k, v in exc.response.headers.items()}
        return status_failure(exc.status_code, exc.api_message or exc.message, headers)
    if isinstance(exc, anthropic.AnthropicError):
        return Failure(False, None, str(exc))
    return None


def _tool_input(arguments: str) -> dict[str, object]:
    """tool_use input must be an object; arguments that are not one are kept under a key."""
    try:
        value: object = json.loads(arguments or "{}")
    except ValueError:
        value = None
    fields = obj(value)
    return dict(fields) if fields or value == {} else {"_raw_arguments": arguments}
