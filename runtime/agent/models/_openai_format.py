"""The OpenAI Chat Completions wire format, shared by the OpenAI and LiteLLM adapters.

Requests are built as the SDK's TypedDicts (types only, imported for the checker); responses
are read from their plain JSON form (`model_dump()`), which the OpenAI SDK and litellm both
give, and which tolerates the small deviations of OpenAI-compatible servers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

from runtime._json import integer, items, obj, string
from runtime.agent.base import (
    AssistantMessage,
    Message,
    ModelError,
    ModelResponse,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    Usage,
    UserMessage,
)
from runtime.agent.models._retry import Failure, status_failure

if TYPE_CHECKING:
    from openai.types.chat import (
        ChatCompletionFunctionToolParam,
        ChatCompletionMessageFunctionToolCallParam,
        ChatCompletionMessageParam,
    )

# OpenAI has no error flag on tool results, so the model learns of a failure from the text.
ERROR_PREFIX = "ERROR: "

_STOP_REASONS = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
}


def to_openai_messages(messages: Sequence[Message]) -> list[ChatCompletionMessageParam]:
    out: list[ChatCompletionMessageParam] = []
    for message in messages:
        match message:
            case SystemMessage(text=text):
                out.append({"role": "system", "content": text})
            case UserMessage(text=text):
                out.append({"role": "user", "content": text})
            case AssistantMessage(text=text, tool_calls=()):
                out.append({"role": "assistant", "content": text})
            case AssistantMessage(text=text, tool_calls=calls):
                tool_calls: list[ChatCompletionMessageFunctionToolCallParam] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in calls
                ]
                # null content beside tool calls: some servers reject an empty string there.
                out.append({"role": "assistant", "content": text or None, "tool_calls": tool_calls})
            case ToolResultMessage(call_id=call_id, text=text, is_error=is_error):
                content = ERROR_PREFIX + text if is_error else text
                out.append({"role": "tool", "tool_call_id": call_id, "content": content})
    return out


def to_openai_tools(tools: Sequence[ToolSpec]) -> list[ChatCompletionFunctionToolParam]:
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.input_schema,
            },
        }
        for t in tools
    ]


def from_openai_completion(data: Mapping[str, object], provider: str) -> ModelResponse:
    """A Chat Completions response (as JSON) to our ModelResponse."""
    choices = items(data.get("choices"))
    if not choices:
        raise ModelError(f"{provider}: the response had no choices")
    choice = obj(choices[0])
    message = obj(choice.get("message"))
    calls: list[ToolCall] = []
    for raw in items(message.get("tool_calls")):
        call = obj(raw)
        function = obj(call.get("function"))
        arguments = function.get("arguments")
        calls.append(
            ToolCall(
                # Some local servers leave out ids; the loop needs one to pair results with calls.
                id=string(call.get("id")) or f"call_{uuid.uuid4().hex[:12]}",
                name=string(function.get("name")),
                # Some servers send arguments as an object rather than JSON text.
                arguments=arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
            )
        )
    usage = obj(data.get("usage"))
    finish = string(choice.get("finish_reason"))
    return ModelResponse(
        text=_text(message.get("content")),
        tool_calls=tuple(calls),
        usage=Usage(integer(usage.get("prompt_tokens")), integer(usage.get("completion_tokens"))),
        stop_reason=_STOP_REASONS.get(finish, finish),
    )


def classify_openai_error(exc: BaseException) -> Failure | None:
    """OpenAI SDK errors (and litellm's, which subclass them) to a retry decision."""
    import openai  # already imported by whoever raised this

    if isinstance(exc, openai.APITimeoutError):
        return Failure(True, None, "request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return Failure(True, None, f"connection error: {exc}")
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status_failure(status, _provider_message(exc), _headers(exc))
    if isinstance(exc, openai.OpenAIError):
        return Failure(False, None, str(exc))
    return None


def _provider_message(exc: BaseException) -> str:
    body = obj(getattr(exc, "body", None))
    message = string(obj(body.get("error")).get("message") or body.get("message"))
    if message:
        return message
    return str(getattr(exc, "message", "") or exc)


def _headers(exc: BaseException) -> Mapping[str, str] | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:  # litellm keeps the provider's headers here instead
        headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        return None
    pairs = cast(Mapping[object, object], headers).items()
    return {str(k).lower(): str(v) for k, v in pairs}


def _text(content: object) -> str:
    """Message content: a string, null, or (some gateways) a list of text parts."""
    if isinstance(content, str):
        return content
    return "".join(string(obj(part).get("text")) for part in items(content))
