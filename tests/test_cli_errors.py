# ruff: noqa: E501  (each expected message is kept whole, exactly as a user reads it)
"""Every user mistake in `podium run` (and `podium render`) gives one line naming the flag or
field, exit status 2, no traceback or pydantic dump, and leaves no workspace and no process:
all of it is checked before anything starts. Through the real CLI, as a user types it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SKILL = "from skills.sdk import Skill\nskil = Skill('mine')\n"


@pytest.fixture
def here() -> Iterator[Path]:
    """A folder of inputs; the CLI runs in it with TMPDIR pointing at an empty `tmp/`, so a
    default workspace made by mistake would show up there."""
    path = Path(tempfile.mkdtemp(prefix="pe-", dir="/tmp"))
    (path / "tmp").mkdir()
    (path / "afile").write_text("x")
    (path / "my_skill.py").write_text(SKILL)
    (path / "bad.yaml").write_text("task: [unclosed\n")
    (path / "bad.json").write_text('{"task": "x",}')
    (path / "types.yaml").write_text("task: x\nlimits:\n  max_turns: ten\n")
    (path / "keys.yaml").write_text("task: x\nlimits:\n  max_turn: 3\n")
    (path / "top.yaml").write_text("task: x\nskils: []\n")
    (path / "list.yaml").write_text("- task: x\n")
    (path / "servers.json").write_text('{"mcpServers": {"a": {"command": "x",}}}')
    (path / "vscode.json").write_text('{"mcp": {"servers": {}}}')
    (path / "corrupt.db").write_text("this is not a SQLite database")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def podium(
    here: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PODIUM_"))}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=here,
        env={
            **base,
            "TMPDIR": str(here / "tmp"),
            "OPENAI_API_KEY": "sk-test-key-1234",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


CASES: list[tuple[list[str], str]] = [
    (["run", "t", "--workspace", "afile"], "--workspace {here}/afile: is a file, not a folder"),
    (
        ["run", "t", "--workspace", "afile/sub"],
        "--workspace {here}/afile/sub: {here}/afile is a file, so no folder can be made",
    ),
    (
        ["run", "--spec", "bad.yaml"],
        "--spec bad.yaml: not valid YAML: expected ',' or ']', but got '<stream end>' at line 2, column 1",
    ),
    (
        ["run", "--spec", "bad.json"],
        "--spec bad.json: not valid JSON: Expecting property name enclosed in double quotes at line 1, column 14",
    ),
    (["run", "--spec", "missing.yaml"], "--spec missing.yaml: no such file"),
    (
        ["run", "--spec", "list.yaml"],
        "--spec list.yaml: expected a mapping of fields (task, model, skills, ...)",
    ),
    (
        ["run", "--spec", "types.yaml"],
        "--spec types.yaml: limits.max_turns: must be a valid integer, unable to parse string as an integer (got 'ten')",
    ),
    (
        ["run", "--spec", "keys.yaml"],
        "--spec keys.yaml: limits.max_turn: unknown key (did you mean `max_turns`?)",
    ),
    (["run", "--spec", "top.yaml"], "--spec top.yaml: skils: unknown key (did you mean `skills`?)"),
    (["run", "t", "--timeout", "0"], "--timeout: must be greater than 0 (got 0.0)"),
    (["run", "t", "--timeout", "-1"], "--timeout: must be greater than 0 (got -1.0)"),
    (["run", "t", "--max-turns", "0"], "--max-turns: must be greater than or equal to 1 (got 0)"),
    (["run", "t", "--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
    (
        ["run", "t", "--skill", "./missing.py:skill"],
        "--skill ./missing.py:skill: skill file not found: {here}/missing.py",
    ),
    (
        ["run", "t", "--skill", "./my_skill.py:skill"],
        "--skill ./my_skill.py:skill: ./my_skill.py defines no 'skill' at its top level; did you mean 'skil'?",
    ),
    (
        ["run", "t", "--skill", "helmx"],
        "--skill helmx: unknown skill 'helmx' (did you mean 'helm'?): use a built-in (helm, kubectl, mcp, memory, workspace), MODULE:ATTR or path/to/file.py:ATTR",
    ),
    (
        ["run", "t", "--skill", "no.such.module:skill"],
        "--skill no.such.module:skill: no.such.module:skill: cannot import 'no.such.module' (No module named 'no')",
    ),
    (
        ["run", "t", "--skill", "BAD=workspace"],
        "--skill BAD=workspace: skill name 'BAD' must be lowercase letters, digits and '-' (at most 40 characters)",
    ),
    (
        ["run", "t", "--model", "opnai:gpt-4.1"],
        "--model: 'opnai:gpt-4.1': unknown provider 'opnai' (did you mean 'openai:'?); expected PROVIDER:MODEL with a provider among openai:, anthropic:, litellm:, scripted: (e.g. 'openai:gpt-4.1-mini')",
    ),
    (
        ["run", "t", "--model", "scripted:nope.yaml"],
        "--model: 'scripted:nope.yaml': no such script file nope.yaml",
    ),
    (
        ["run", "t", "--mcp", "absent.json"],
        "--mcp absent.json: cannot read MCP config absent.json: No such file or directory",
    ),
    (
        ["run", "t", "--mcp", "servers.json"],
        "--mcp servers.json: servers.json is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 38 (char 37)",
    ),
    (
        ["run", "t", "--mcp", "vscode.json"],
        "--mcp vscode.json: vscode.json: no `mcpServers` object (top-level keys found: `mcp`)",
    ),
    (
        ["run", "t", "--mcp-allow-no-tools"],
        "--mcp-allow-no-tools: the run has no MCP skill (give --mcp FILE)",
    ),
    (["run"], "give a TASK (or a --spec file with a task)"),
    (
        ["render", "keys.yaml"],
        "keys.yaml: limits.max_turn: unknown key (did you mean `max_turns`?)",
    ),
    (
        ["render", "bad.json"],
        "bad.json: not valid JSON: Expecting property name enclosed in double quotes at line 1, column 14",
    ),
]


def assert_one_clean_line(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 or lines[0].startswith("usage:"), proc.stderr
    assert expected in lines[-1], (expected, proc.stderr)
    for leak in ("Traceback", "pydantic", "errors.pydantic.dev", "validation error", "sk-test-key"):
        assert leak not in proc.stderr + proc.stdout


def nothing_left(here: Path) -> None:
    assert list((here / "tmp").iterdir()) == []  # no default workspace was made
    assert not (here / "afile").is_dir() and not (here / ".podium").exists()
    for entry in Path("/proc").iterdir():  # no skill or agent process of ours lives on
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            assert str(here / "tmp") not in cmdline, cmdline


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_mistake_is_one_line_before_anything_starts(
    here: Path, args: list[str], expected: str
) -> None:
    proc = podium(here, *args)
    prog = "podium " + args[0] if not expected.startswith("argument") else "podium run"
    assert_one_clean_line(proc, expected.format(here=here))
    assert proc.stderr.splitlines()[-1].startswith(prog) or "error:" in proc.stderr
    nothing_left(here)


def test_a_workspace_that_is_not_writable(here: Path) -> None:
    locked = here / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes through permissions; not through the immutable flag
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i: cannot make a folder unwritable")
    else:
        locked.chmod(0o555)
    try:
        for target, expected in (
            (locked, f"--workspace {locked}: is not writable"),
            (locked / "ws", f"--workspace {locked}/ws: cannot be made: {locked} is not writable"),
        ):
            proc = podium(here, "run", "t", "--workspace", str(target))
            assert_one_clean_line(proc, expected)
            nothing_left(here)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        locked.chmod(0o755)


def test_a_corrupt_memory_database(here: Path) -> None:
    proc = podium(
        here, "run", "t", "--skill", "memory", env={"PODIUM_MEMORY_DB": str(here / "corrupt.db")}
    )
    assert_one_clean_line(
        proc, f"--skill memory: memory database {here}/corrupt.db is not a SQLite database"
    )
    assert (here / "corrupt.db").read_text() == "this is not a SQLite database"
    nothing_left(here)


def test_no_api_key_is_said_before_anything_starts(here: Path) -> None:
    proc = podium(here, "run", "t", env={"OPENAI_API_KEY": ""})
    assert_one_clean_line(
        proc,
        "podium run: the default model: 'openai:gpt-4.1-mini': no API key; set OPENAI_API_KEY",
    )
    nothing_left(here)
