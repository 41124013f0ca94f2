"""The mock LLM's side of the two wire formats it speaks (OpenAI Chat Completions and
Anthropic Messages): reading a request's last text, writing answers and error bodies."""

from __future__ import annotations

import http
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime._json import items, obj, string
from runtime.mock_llm.script import ScriptError, ScriptReply, estimate_tokens

NewId = Callable[[str], str]
"""Makes a unique id with a prefix (`call`, `toolu`, ...)."""

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Wire:
    """What differs between the two APIs."""

    last_text: Callable[[list[object]], str]
    """The text `{{last}}` and rules see, from the request's messages."""
    answer: Callable[[NewId, str, ScriptReply, int], dict[str, Any]]
    """(new_id, model, reply, prompt tokens) -> response body."""
    error_body: Callable[[str, str], dict[str, Any]]
    """(error type, message) -> error body."""


def error_parts(error: ScriptError) -> tuple[str, str, dict[str, str]]:
    """(error type, message, headers) for a scripted error."""
    try:
        phrase = http.HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "Error"
    fallback = "api_error" if error.status >= 500 else "invalid_request_error"
    kind = _ERROR_TYPES.get(error.status, fallback)
    headers = {} if error.retry_after is None else {"retry-after": str(error.retry_after)}
    return kind, error.message or phrase, headers


def _openai_last_text(messages: list[object]) -> str:
    # A parallel turn ends with several tool messages: all of them are "the last".
    trailing = list(itertools.takewhile(_is_tool, reversed(messages)))
    chosen = list(reversed(trailing)) or messages[-1:]
    return "\n".join(_content_text(obj(m).get("content")) for m in chosen)


def _is_tool(message: object) -> bool:
    return obj(message).get("role") == "tool"


def _anthropic_last_text(messages: list[object]) -> str:
    return _content_text(obj(messages[-1]).get("content")) if messages else ""


def _content_text(content: object) -> str:
    """Text of a content string or block list (text blocks and tool results)."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for block in map(obj, items(content)):
        if block.get("type") == "tool_result":
            texts.append(_content_text(block.get("content")))
        elif "text" in block:
            texts.append(string(block.get("text")))
    return "\n".join(texts)


def _openai_answer(new_id: NewId, model: str, reply: ScriptReply, prompt: int) -> dict[str, Any]:
    calls = [
        {
            "id": new_id("call"),
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments_text()},
        }
        for c in reply.tool_calls
    ]
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if calls:
        message["tool_calls"] = calls
    completion = estimate_tokens(reply.content + json.dumps(calls))
    finish = "tool_calls" if calls else "stop"
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _anthropic_answer(new_id: NewId, model: str, reply: ScriptReply, prompt: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.content:
        content.append({"type": "text", "text": reply.content})
    for call in reply.tool_calls:
        text = call.arguments_text()
        try:
            arguments: object = json.loads(text)
        except ValueError:  # malformed on purpose: send the text as it is
            arguments = text
        block = {"type": "tool_use", "id": new_id("toolu"), "name": call.name, "input": arguments}
        content.append(block)
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_sequence": None,
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "usage": {"input_tokens": prompt, "output_tokens": estimate_tokens(json.dumps(content))},
    }


OPENAI = Wire(
    _openai_last_text,
    _openai_answer,
    lambda kind, text: {"error": {"message": text, "type": kind, "param": None, "code": None}},
)
ANTHROPIC = Wire(
    _anthropic_last_text,
    _anthropic_answer,
    lambda kind, text: {"type": "error", "error": {"type": kind, "message": text}},
)
