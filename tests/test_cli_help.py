"""What a newcomer reads: every flag has help, internal commands stay out of the top-level
help, each `podium memory` command describes its own flags, the mock-llm script format is
documented with a complete, valid example, `--version` works, and the README links only
files a clone has."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.cli import main
from runtime.mock_llm.script import Script

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [
    ["run"], ["demo"], ["agent"], ["skill"], ["skill", "serve"], ["skill", "health"],
    ["memory"], ["memory", "search"], ["memory", "list"], ["memory", "export"],
    ["memory", "import"], ["memory", "stats"], ["mcp"], ["mcp", "tools"], ["render"],
    ["mock-llm"], ["runs"], ["show"],
]  # fmt: skip


def help_of(*argv: str) -> str:
    out = io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.suppress(SystemExit),
    ):
        main([*argv, "--help"])
    return out.getvalue()


def test_every_flag_has_help(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, argparse.Action]] = []
    original = argparse._ActionsContainer.add_argument  # pyright: ignore[reportPrivateUsage]

    def recording(self: Any, *args: Any, **kwargs: Any) -> argparse.Action:
        action = original(self, *args, **kwargs)
        seen.append((getattr(self, "prog", "?"), action))
        return action

    monkeypatch.setattr(argparse._ActionsContainer, "add_argument", recording)  # pyright: ignore[reportPrivateUsage]
    for command in [[], *COMMANDS]:
        help_of(*command)
    assert len(seen) > 40
    missing = [
        f"{prog} {'/'.join(a.option_strings) or a.dest}"
        for prog, a in seen
        if not a.help and not isinstance(a, argparse._HelpAction)  # pyright: ignore[reportPrivateUsage]
    ]
    assert missing == []


def test_internal_commands_are_not_in_the_top_level_help() -> None:
    text = help_of()
    listed = re.findall(r"^    (\S+)", text.split("options:")[0], re.MULTILINE)
    assert {"run", "demo", "memory", "mcp"} <= set(listed)
    assert "agent" not in listed and "agent" not in text.splitlines()[0]
    assert "Run the agent process" in help_of("agent")  # still there for launchers


def test_each_memory_command_describes_its_own_flags() -> None:
    own = {
        "search": "search only",
        "list": "list only",
        "export": "export only",
        "import": "rows that name none",
        "stats": "count only",
    }
    helps = set()
    for command, words in own.items():
        text = " ".join(help_of("memory", command).split())
        found = re.search(r"--scope SCOPE (.*?)(?: --|$)", text)
        assert found is not None and words in found.group(1), text
        helps.add(found.group(1))
    assert len(helps) == len(own)


def test_the_mock_llm_help_documents_every_step_kind_with_a_valid_example() -> None:
    text = help_of("mock-llm")
    example = text.split("with every kind of step:", 1)[1].split("\nA step has", 1)[0]
    script = Script.model_validate(yaml.safe_load(example))
    steps = script.steps
    assert any(s.tool_calls and not s.content for s in steps)
    assert any(s.content and not s.tool_calls for s in steps)
    assert any(s.content and s.tool_calls for s in steps)
    assert any(s.error and s.error.retry_after for s in steps)
    assert any(s.delay for s in steps)
    assert any(c.raw_arguments for s in steps for c in s.tool_calls)
    assert script.rules and script.rules[0].times == 1
    assert "scripted:" in text and "OPENAI_BASE_URL" in text


def test_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and re.fullmatch(r"podium \d+\.\d+\.\d+\S*\n", proc.stdout)


# Paths in backticks that start like a file of this repository: they must exist too.
_REPO_PATH = re.compile(r"`((?:\.\./|protos/|runtime/|skills/|mcp_bridge/|controller/|scripts/"
                        r"|bench/|images/|examples/|deploy/|tests/)[^`\s]*)`")  # fmt: skip


def test_the_readme_links_only_files_a_clone_has() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    paths = [p for p in links if not re.match(r"[a-z]+://|mailto:", p)]
    paths += _REPO_PATH.findall(readme)
    assert paths, "the README links nothing?"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    folders = {str(Path(f).parent) for f in tracked} | {
        str(p) for f in tracked for p in Path(f).parents
    }
    missing = [p for p in paths if p.rstrip("/") not in {*tracked, *folders}]
    assert missing == [], f"README names files a clone does not have: {missing}"
