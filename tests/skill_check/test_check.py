"""`podium skill check` against real sidecars: the TypeScript example (passes), the Python
SDK's built-in skills, and a raw-gRPC sidecar that breaks one rule at a time (fails, naming
the rule). Every sidecar is a real process on a real Unix socket."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

from skills.check import CheckOptions, run_check
from skills.check._targets import SocketTarget
from skills.sdk import serve
from skills.workspace import skill as workspace_skill
from tests.skill_check.conftest import BAD_SKILL, PODIUM, ROOT, TS_SKILL, check, need_node

PYTHONPATH = f"PYTHONPATH={ROOT}"


def test_the_typescript_skill_passes() -> None:
    need_node()
    out = check("--json", "--command", "node", str(TS_SKILL / "server.js"))
    assert out.code == 0, out.stdout + out.stderr
    report = out.report
    assert report["ok"] and report["skill"] == "typescript-example" and report["tools"] == 3
    names = [f["check"] for f in report["findings"]]
    for expected in (
        "health",
        "describe",
        "tool count_slowly",
        "count_slowly: required fields from the schema",
        "file_stats: not JSON",
        "text_stats: 'text' of a wrong type",
        "unknown tool",
        "call token: Describe without the call token",
        "call token: Invoke with a wrong call token",
        "cancellation",
        "SIGTERM",
    ):
        assert expected in names, names
    assert report["counts"]["fail"] == 0


def test_readable_report_and_relative_paths() -> None:
    need_node()
    out = check("--command", "node", "examples/typescript-skill/server.js")  # from ROOT
    assert out.code == 0, out.stdout
    assert out.stdout.startswith("podium skill check: typescript-example 0.1.0 (3 tools)")
    assert "✓ SIGTERM" in out.stdout and out.stdout.rstrip().splitlines()[-1].startswith("PASSED")


@pytest.mark.parametrize(
    ("mode", "failing"),
    [
        ("broken-schema", ["tool stringly", "tool nocompile", "tool notjson"]),
        ("bad-names", ["describe", "tool has space"]),
        ("two-results", ["echo: required fields from the schema", "cancellation"]),
        ("lax", ["echo: not JSON", "echo: not an object", "echo: required 'text' missing"]),
        ("crash-on-cancel", ["cancellation"]),
    ],
)
def test_each_broken_rule_fails_and_is_named(mode: str, failing: list[str]) -> None:
    out = check(
        "--json",
        "--env",
        f"BAD_SKILL={mode}",
        "--env",
        PYTHONPATH,
        "--command",
        sys.executable,
        str(BAD_SKILL),
    )
    assert out.code == 1, out.stdout
    assert not out.report["ok"]
    for name in failing:
        assert any(name in f for f in out.failed()), (name, out.failed())
    if mode == "crash-on-cancel":  # its death is seen either right away or at SIGTERM
        assert {"still running", "SIGTERM"} & set(out.failed()), out.failed()


def test_a_well_behaved_raw_grpc_sidecar_passes() -> None:
    out = check("--json", "--env", PYTHONPATH, "--command", sys.executable, str(BAD_SKILL))
    assert out.code == 0, out.stdout
    assert out.status("health of podium.skill.v1.Skill") == "warn"  # it serves "" only


TOKEN_CHECKS = [
    f"call token: {method} {how} call token"
    for method in ("Describe", "Invoke")
    for how in ("without the", "with a wrong")
]


def test_a_python_sdk_skill_started_by_the_check_refuses_callers_without_its_token() -> None:
    out = check("--json", "--command", PODIUM, "skill", "serve", "workspace")
    assert out.code == 0, out.stdout + out.stderr
    for name in TOKEN_CHECKS:
        assert out.status(name) == "pass", out.stdout
    readable = check("--command", PODIUM, "skill", "serve", "workspace")
    assert readable.code == 0, readable.stdout
    assert re.search(
        r"✓ call token: Invoke with a wrong call token +UNAUTHENTICATED", readable.stdout
    )


@pytest.mark.parametrize(
    ("mode", "failing"),
    [("ignore-token", TOKEN_CHECKS), ("open-describe", TOKEN_CHECKS[:2])],
)
def test_a_sidecar_that_answers_without_the_token_fails(mode: str, failing: list[str]) -> None:
    args = ["--env", f"BAD_SKILL={mode}", "--env", PYTHONPATH, "--command", sys.executable]
    out = check("--json", *args, str(BAD_SKILL))
    assert out.code == 1, out.stdout
    assert out.failed() == failing, out.stdout
    details = [f["detail"] for f in out.report["findings"] if f["check"] in failing]
    assert all('"Only the agent may call you"' in d and "UNAUTHENTICATED" in d for d in details)
    assert "answered Describe" in details[0]
    readable = check(*args, str(BAD_SKILL))
    assert readable.code == 1
    assert re.search(
        r"✗ call token: Describe without the call token +answered Describe;", readable.stdout
    )


def test_no_result_is_a_failure() -> None:
    out = check(
        "--json", "--env", "BAD_SKILL=no-result", "--env", PYTHONPATH,
        "--command", sys.executable, str(BAD_SKILL),
    )  # fmt: skip
    assert out.code == 1
    assert "stream ended without a result" in json.dumps(out.report["findings"])


@pytest.mark.timeout(40)
def test_ignoring_sigterm_fails() -> None:
    out = check(
        "--json", "--env", "BAD_SKILL=ignore-sigterm", "--env", PYTHONPATH,
        "--command", sys.executable, str(BAD_SKILL),
    )  # fmt: skip
    assert out.code == 1
    assert out.failed() == ["SIGTERM"]


def test_a_sidecar_that_dies_at_start_fails_fast_with_its_log() -> None:
    out = check("--command", sys.executable, "-c", "import sys; print('boom'); sys.exit(3)")
    assert out.code == 1
    assert "exited before it answered" in out.stdout and "| boom" in out.stdout


@pytest.mark.anyio
async def test_a_python_sdk_skill_over_socket(workspace: Path) -> None:
    socket = workspace / "ws.sock"
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve(workspace_skill, socket=socket, workspace=workspace, stop=stop)
    )
    try:
        report = await run_check(SocketTarget(socket), CheckOptions(ready_timeout_s=10))
    finally:
        stop.set()
        await server
    assert report.ok, report.to_dict()
    assert report.skill == "workspace" and report.tools >= 4
    assert any(f.check == "SIGTERM" and f.status == "skip" for f in report.findings)
    token = [f for f in report.findings if f.check.startswith("call token")]
    assert [(f.check, f.status) for f in token] == [("call token", "skip")]
    assert "did not start this sidecar" in token[0].detail


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--command", "no-such-program-xyz"], "program not found on PATH: no-such-program-xyz"),
        (["--socket", "/tmp/podium-no-such.sock"], "no socket at /tmp/podium-no-such.sock"),
        (["--command"], "--command needs a program"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    out = check(*args)
    assert out.code == 2, out.stdout + out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
