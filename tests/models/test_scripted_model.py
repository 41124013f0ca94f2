"""ScriptedModel (the in-process fake) and the script format it shares with the mock server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from runtime.agent.base import (
    AssistantMessage,
    Message,
    ModelError,
    ModelResponse,
    ModelSettings,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)
from runtime.agent.models.scripted_model import ScriptedModel, text_response, tool_response
from runtime.mock_llm.script import Script, ScriptPlayer

pytestmark = pytest.mark.anyio
SETTINGS = ModelSettings()
TOOL = ToolSpec("t", "a tool", {"type": "object"})


async def test_steps_in_order_calls_recorded_and_complete() -> None:
    model = ScriptedModel([tool_response(("t", {"a": 1}), ("t", "{bad")), text_response("done")])
    messages: list[Message] = [UserMessage("go")]

    first = await model.request(messages, [TOOL], SETTINGS)
    messages.append(AssistantMessage("", first.tool_calls))
    second = await model.request(messages, [], SETTINGS)

    assert [json.loads(first.tool_calls[0].arguments), first.tool_calls[1].arguments] == [
        {"a": 1}, "{bad",
    ]  # fmt: skip
    assert first.tool_calls[0].id != first.tool_calls[1].id
    assert second.text == "done"
    # Each call is a snapshot: appending to the list afterwards does not change the record.
    assert [len(c.messages) for c in model.calls] == [1, 2]
    assert model.calls[0].tools == (TOOL,)
    model.assert_complete()


async def test_exceptions_and_functions_as_steps() -> None:
    def echo(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelResponse:
        return text_response(f"{messages[-1].text} ({len(tools)} tools)")

    model = ScriptedModel([ModelError("openai: 429 rate limited"), echo])

    with pytest.raises(ModelError, match="429"):
        await model.request([UserMessage("x")], [], SETTINGS)
    assert (await model.request([UserMessage("y")], [TOOL], SETTINGS)).text == "y (1 tools)"


async def test_leftover_and_missing_steps_fail_loudly() -> None:
    model = ScriptedModel([text_response("a"), tool_response(("ls", {}))])
    await model.request([UserMessage("x")], [], SETTINGS)
    with pytest.raises(
        AssertionError, match=r"1 scripted step\(s\) never used .*tool calls \(ls\)"
    ):
        model.assert_complete()

    model = ScriptedModel()
    with pytest.raises(AssertionError, match="no step left for call 1"):
        await model.request([UserMessage("x")], [], SETTINGS)


async def test_scripted_file_plays_rules_steps_and_last(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(
        """
steps:
  - tool_calls: [{name: ls, arguments: {}}, {name: cat, arguments: {path: a}}]
  - content: "saw: {{last}}"
  - error: {status: 503, message: overloaded}
rules:
  - match: "(?i)help"
    content: "rule answered"
    times: 1
final_content: "all done"
"""
    )
    model = ScriptedModel.from_script(script)

    assert (await model.request([UserMessage("HELP me")], [], SETTINGS)).text == "rule answered"
    first = await model.request([UserMessage("help again")], [], SETTINGS)  # rule used up
    assert [c.name for c in first.tool_calls] == ["ls", "cat"]
    results = [ToolResultMessage(c.id, c.name, f"out-{c.name}") for c in first.tool_calls]
    second = await model.request([UserMessage("x"), *results], [], SETTINGS)
    assert second.text == "saw: out-ls\nout-cat"
    assert second.usage.input_tokens > 0 and second.usage.output_tokens > 0
    with pytest.raises(ModelError, match="503: overloaded"):
        await model.request([UserMessage("x")], [], SETTINGS)
    assert (await model.request([UserMessage("x")], [], SETTINGS)).text == "all done"


def test_repeat_last_and_reset() -> None:
    player = ScriptPlayer(Script.model_validate({
        "steps": [{"content": "one"}, {"tool_calls": [{"name": "again"}]}],
        "repeat_last": True,
    }))  # fmt: skip
    sources = [player.reply("").source for _ in range(4)]
    assert sources == ["step 1", "step 2", "step 2 (repeated)", "step 2 (repeated)"]
    player.reset()
    assert player.reply("").content == "one"


def test_a_delay_only_step_answers_the_final_text() -> None:
    player = ScriptPlayer(Script.model_validate({"steps": [{"delay": 0.5}]}))
    reply = player.reply("")
    assert (reply.delay, reply.content) == (0.5, "Done.")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("steps: [{error: {status: 500}, content: hi}]", "cannot also have"),
        ("rules: [{match: '(', content: x}]", "bad regular expression"),
        ("steps: [{contnet: typo}]", "contnet"),
        ("steps: [{error: {status: 200}}]", "greater than or equal to 400"),
        ("steps: [unclosed", "not valid YAML/JSON"),
    ],
)
def test_bad_scripts_are_rejected_clearly(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.yaml") as caught:
        Script.load(path)
    assert problem in str(caught.value)


def test_json_scripts_load_too(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"steps": [{"content": "hi"}]}))
    assert Script.load(path).steps[0].content == "hi"
