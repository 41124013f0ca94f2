"""The OpenAI and Anthropic adapters against the real mock server, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from runtime.agent.base import (
    AssistantMessage,
    ModelSettings,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)
from tests.models.conftest import Adapter, Serve, recorded

pytestmark = pytest.mark.anyio

KINDS = ["openai", "anthropic"]
LIST_TOOL = ToolSpec("workspace_list", "List files.", {"type": "object", "properties": {}})
WRITE_TOOL = ToolSpec(
    "workspace_write",
    "Write a file.",
    {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}},
)
PARALLEL = {
    "steps": [
        {
            "tool_calls": [
                {"name": "workspace_write", "arguments": {"path": "notes.txt", "content": "hi"}},
                {"name": "workspace_list", "arguments": {}},
            ]
        },
        {"content": "Done. The list was: {{last}}"},
    ]
}


@pytest.mark.parametrize("kind", KINDS)
async def test_text_reply_with_usage(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    server = serve({"steps": [{"content": "Hello there."}]})
    model = connect(kind, server)

    reply = await model.request([UserMessage("hi")], [], ModelSettings())

    assert reply.text == "Hello there."
    assert reply.tool_calls == ()
    assert reply.stop_reason == "stop"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert model.name == f"{kind}:mock-model"


@pytest.mark.parametrize("kind", KINDS)
async def test_parallel_tool_calls_and_results_round_trip(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    server = serve(PARALLEL)
    model = connect(kind, server)
    messages = [SystemMessage("You are terse."), UserMessage("write and list")]

    first = await model.request(messages, [WRITE_TOOL, LIST_TOOL], ModelSettings())

    assert first.stop_reason == "tool_calls"
    assert [c.name for c in first.tool_calls] == ["workspace_write", "workspace_list"]
    assert json.loads(first.tool_calls[0].arguments) == {"path": "notes.txt", "content": "hi"}
    assert json.loads(first.tool_calls[1].arguments) == {}
    assert len({c.id for c in first.tool_calls}) == 2  # ids unique

    messages.append(AssistantMessage(first.text, first.tool_calls))
    messages += [ToolResultMessage(c.id, c.name, f"ok: {c.name}") for c in first.tool_calls]
    second = await model.request(messages, [WRITE_TOOL, LIST_TOOL], ModelSettings())

    assert second.text == "Done. The list was: ok: workspace_write\nok: workspace_list"
    assert second.tool_calls == ()

    # The results reached the server in the provider's own shape, paired with the call ids.
    body = recorded(server)[1]["body"]
    ids = [c.id for c in first.tool_calls]
    if kind == "openai":
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}
        assert [m["role"] for m in body["messages"]] == [
            "system", "user", "assistant", "tool", "tool",
        ]  # fmt: skip
        assert [m["tool_call_id"] for m in body["messages"][3:]] == ids
        assert [t["function"]["name"] for t in body["tools"]] == [
            "workspace_write",
            "workspace_list",
        ]
    else:
        assert body["system"] == "You are terse."
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert [b["id"] for b in body["messages"][1]["content"]] == ids
        results = body["messages"][2]["content"]  # both results merged into one user message
        assert [(b["type"], b["tool_use_id"]) for b in results] == [
            ("tool_result", ids[0]), ("tool_result", ids[1]),
        ]  # fmt: skip
        assert [t["name"] for t in body["tools"]] == ["workspace_write", "workspace_list"]


@pytest.mark.parametrize("kind", KINDS)
async def test_error_results_and_settings_on_the_wire(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    server = serve({"steps": [{"content": "noted"}]})
    model = connect(kind, server)
    call = ("call_1", "workspace_list")
    messages = [
        UserMessage("go"),
        AssistantMessage("", (ToolCall(call[0], call[1], "{}"),)),
        ToolResultMessage(call[0], call[1], "no such dir", is_error=True),
        UserMessage("and then?"),
    ]
    await model.request(messages, [], ModelSettings(temperature=0.3, max_output_tokens=99))

    body = recorded(server)[0]["body"]
    assert body["temperature"] == 0.3
    assert "tools" not in body  # no tools: none sent, some servers reject an empty list
    if kind == "openai":
        assert body["max_tokens"] == 99  # a custom base URL: the name local servers know
        assert body["messages"][2]["content"] == "ERROR: no such dir"
        assert body["messages"][1]["content"] is None
    else:
        assert body["max_tokens"] == 99
        user = body["messages"][2]["content"]
        assert user[0] == {
            "type": "tool_result", "tool_use_id": "call_1", "content": "no such dir",
            "is_error": True,
        }  # fmt: skip
        assert user[1] == {"type": "text", "text": "and then?"}  # text after the results


@pytest.mark.parametrize("kind", KINDS)
async def test_malformed_arguments_reach_the_loop_verbatim(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    server = serve({"steps": [{"tool_calls": [{"name": "x", "raw_arguments": "{not json"}]}]})
    model = connect(kind, server)

    reply = await model.request([UserMessage("go")], [LIST_TOOL], ModelSettings())

    assert reply.tool_calls[0].name == "x"
    assert reply.tool_calls[0].arguments == "{not json"


async def test_openai_key_is_sent_and_placeholder_used_without_one(
    serve: Serve, connect: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve({"steps": [{"content": "a"}, {"content": "b"}]})
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    from runtime.agent.models.openai_model import PLACEHOLDER_KEY, OpenAIModel

    keyless = OpenAIModel("m")  # base URL from the environment, no key: a placeholder
    assert keyless._key == PLACEHOLDER_KEY  # pyright: ignore[reportPrivateUsage]
    assert (await keyless.request([UserMessage("hi")], [], ModelSettings())).text == "a"
    await keyless.aclose()

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456")
    keyed = OpenAIModel("m")
    assert (await keyed.request([UserMessage("hi")], [], ModelSettings())).text == "b"
    await keyed.aclose()
    # The server saw a bearer token both times, and its log never shows it.
    assert all(r["headers"]["authorization"] == "<redacted>" for r in recorded(server))
