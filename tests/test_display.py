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


EVIL = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202e"


def test_nothing_a_model_skill_or_server_chooses_can_drive_the_terminal() -> None:
    """Tool names, skill names, descriptions in warnings, errors, progress and log lines."""
    events: list[dict[str, object]] = [
        {"type": "run_started", "run_id": "r", "model": f"openai:{EVIL}", "task": EVIL},
        {
            "type": "skills_ready",
            "duration_s": 0.1,
            "skills": [{"name": f"mcp{EVIL}", "tools": [f"t{EVIL}"], "warnings": [f"w{EVIL}"]}],
        },
        {"type": "model_retry", "reason": f"server said {EVIL}"},
        {"type": "tool_call", "id": "1", "name": f"tool{EVIL}", "arguments": f'{{"a": "{EVIL}"}}'},
        {"type": "tool_progress", "name": f"tool{EVIL}", "message": EVIL},
        {
            "type": "tool_result",
            "name": f"tool{EVIL}",
            "is_error": True,
            "chars": 5,
            "preview": EVIL,
            "saved_to": EVIL,
            "duration_ms": 1.0,
        },
        {"type": "tool_conflict", "name": EVIL, "kept": EVIL, "dropped": EVIL},
        {"type": "skill_exited", "name": EVIL, "code": 1, "log_tail": f"line\n{EVIL}"},
        {"type": "agent_output", "text": EVIL},
        {
            "type": "run_finished",
            "status": "failed",
            "duration_s": 1.0,
            "turns": 0,
            "tool_calls": 0,
            "usage": {},
            "error": {"type": f"E{EVIL}", "message": f"server error {EVIL}"},
        },
    ]
    text = show(*events)
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in text, repr(bad)
    assert text.count("\ufffd[2J") >= len(events)  # visibly replaced in every line kind
