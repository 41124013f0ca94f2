"""The terminal prompt, driven through a real pseudo-terminal: `podium run` at a TTY asks,
shows the arguments safely, and takes y / n REASON / a (all calls of this tool)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from tests._runs import call
from tests.policy._live import OPS_SKILL

pytestmark = pytest.mark.e2e

# The prompt's own ending: a bare "> " also matches the "destructive -> ask" line printed
# before the arguments, and a loaded machine can deliver the arguments in a later read.
PROMPT = "s) > "


class Terminal:
    """`podium run ...` with a pty as its terminal."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.screen = ""

    def expect(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared; the screen:\n{self.screen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the process closed the terminal
                    assert text in self.screen, f"{text!r} never appeared:\n{self.screen}"
        return self.screen

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        code = self.proc.wait(60)
        os.close(self.master)
        return code

    def kill(self) -> None:
        """After a failed expectation: no `podium run` left behind (nor its skills)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(60)
        with contextlib.suppress(OSError):
            os.close(self.master)


def run_at_terminal(workspace: Path, script: dict[str, Any], *args: str) -> tuple[Terminal, Any]:
    (workspace / "ops_skill.py").write_text(OPS_SKILL)
    server = MockLLMServer(Script.model_validate(script))
    running = server.running()
    base_url = running.__enter__()
    term = Terminal(
        [sys.executable, "-m", "runtime.cli", "run", "tidy up", "--model", "openai:mock",
         "--workspace", str(workspace / "ws"), "--skill", f"ops={workspace / 'ops_skill.py'}:skill",
         *args],
        {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    return term, running


def events(workspace: Path) -> list[dict[str, Any]]:
    lines = (workspace / "ws" / ".podium" / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_the_prompt_approves_and_shows_arguments_safely(workspace: Path) -> None:
    nasty = "users\x1b[2J\x1b]0;pwned\x07\u202eevil"
    script = {"steps": [{"tool_calls": [call("drop", table=nasty)]}, {"content": "{{last}}"}]}
    term, server = run_at_terminal(workspace, script)
    try:
        screen = term.expect(PROMPT)
        assert "approval needed: drop (skill ops" in screen
        assert "why: annotated destructive -> ask" in screen
        assert "annotations: destructive" in screen
        assert "\x1b[2J" not in screen and "\x1b]0;" not in screen and "\u202e" not in screen
        assert '"table": "users\\u001b[2J' in screen  # the escape is shown, not obeyed
        term.type("y")
        term.expect("✔ succeeded")
        assert term.close() == 0
    finally:
        term.kill()
        server.__exit__(None, None, None)
    decided = next(e for e in events(workspace) if e["type"] == "approval_decided")
    assert decided["decision"] == "approved" and "(terminal)" in decided["by"]
    assert (workspace / "ws" / "dropped.txt").read_text() == nasty + "\n"


def test_the_prompt_denies_with_a_reason_and_approves_all_of_a_tool(workspace: Path) -> None:
    script = {
        "steps": [
            {"tool_calls": [call("drop", table="users")]},
            {"tool_calls": [call("drop", table="orders")]},
            {"tool_calls": [call("drop", table="invoices")]},
            {"content": "done"},
        ]
    }
    term, server = run_at_terminal(workspace, script)
    try:
        term.expect(PROMPT)
        term.type("n too risky")
        term.expect("too risky")
        term.expect("orders")
        term.expect(PROMPT)
        term.type("a")
        term.expect("✔ succeeded")
        assert term.close() == 0
        assert term.screen.count("approval needed") == 2  # invoices was not asked about
    finally:
        term.kill()
        server.__exit__(None, None, None)
    decided = [e for e in events(workspace) if e["type"] == "approval_decided"]
    assert [d["decision"] for d in decided] == ["denied", "approved", "approved"]
    assert decided[0]["reason"] == "too risky"
    assert "all calls of this tool" in decided[2]["by"]
    assert (workspace / "ws" / "dropped.txt").read_text() == "orders\ninvoices\n"


def test_no_answer_at_the_terminal_denies_the_call(workspace: Path) -> None:
    script = {"steps": [{"tool_calls": [call("drop", table="users")]}, {"content": "{{last}}"}]}
    term, server = run_at_terminal(workspace, script, "--approval-timeout", "1")
    try:
        term.expect("no answer: denied")
        term.expect("✔ succeeded")
        assert term.close() == 0
    finally:
        term.kill()
        server.__exit__(None, None, None)
    assert not (workspace / "ws" / "dropped.txt").exists()
