"""The terminal view: readable lines, and no escape sequences from model or tool text."""

from __future__ import annotations

import io
import json

from runtime.cli.display import TerminalDisplay


def show(*events: dict[str, object], as_json: bool = False) -> str:
    out = io.StringIO()
    display = TerminalDisplay(out, color=False, as_json=as_json)
    for event in events:
        display.show(event)
    return out.getvalue()


def test_a_tool_call_and_its_result() -> None:
    text = show(
        {"type": "tool_call", "id": "1", "name": "workspace_read", "arguments": '{"path": "a"}'},
        {
            "type": "tool_result",
            "id": "1",
            "name": "workspace_read",
            "is_error": True,
            "error_kind": "tool",
            "chars": 20,
            "preview": "no such file: a",
            "saved_to": None,
            "duration_ms": 3.2,
        },
    )
    assert text == '  ▸ workspace_read(path="a")\n    ✗ workspace_read  3 ms   no such file: a\n'


def test_model_text_cannot_drive_the_terminal() -> None:
    text = show(
        {
            "type": "run_finished",
            "status": "succeeded",
            "duration_s": 1.0,
            "turns": 1,
            "tool_calls": 0,
            "usage": {},
            "output": "hi\x1b]0;owned\x07\nnext",
        }
    )
    assert "\x1b" not in text and "\x07" not in text and "hi�]0;owned�\nnext" in text


def test_json_mode_prints_events_verbatim() -> None:
    event = {"type": "custom", "value": 1}
    assert json.loads(show(event, as_json=True)) == event
