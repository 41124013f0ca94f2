"""Whole runs across processes: `podium run` spawns real skill processes and the agent
process; the scripted OpenAI-compatible server plays the model over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.mock_llm import MockLLMServer
from runtime.models.script import Script

pytestmark = pytest.mark.e2e

# A skill written by "someone else" with the SDK, loaded from its file.
FLAKY_SKILL = '''
import asyncio, os
from contextlib import asynccontextmanager
from skills.sdk import Skill

@asynccontextmanager
async def lifespan(skill):
    if os.environ.get("FLAKY_HANG"):
        await asyncio.sleep(3600)   # never becomes ready
    yield

# dynamic_tools: the agent re-describes it every turn, also after it died.
skill = Skill("flaky", instructions="Flaky tools.", lifespan=lifespan, dynamic_tools=True)

@skill.tool
async def die() -> str:
    """Crash the whole skill process mid-call."""
    os._exit(1)

@skill.tool
async def slow(seconds: float) -> str:
    """Sleep."""
    await asyncio.sleep(seconds)
    return "slept"

@skill.tool(read_only=True)
def env_names() -> str:
    """Which environment variables this skill can see."""
    return " ".join(sorted(os.environ))
'''


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    workspace: Path
    requests: list[Any]

    @property
    def result(self) -> dict[str, Any]:
        return json.loads((self.workspace / ".podium" / "result.json").read_text())

    @property
    def events(self) -> list[dict[str, Any]]:
        lines = (self.workspace / ".podium" / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def flaky(workspace: Path) -> Iterator[Path]:
    path = workspace.parent / f"{workspace.name}-flaky.py"
    path.write_text(FLAKY_SKILL)
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def podium(workspace: Path) -> Iterator[Any]:  # yields run(script, *args)
    servers: list[Any] = []

    def run(
        script: dict[str, Any], *args: str, env: dict[str, str] | None = None, timeout: float = 45
    ) -> Run:
        server = MockLLMServer(Script.model_validate(script))
        servers.append(server)
        with server.running() as base_url:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "runtime.cli",
                    "run",
                    "--model",
                    "openai:mock",
                    "--workspace",
                    str(workspace / "ws"),
                    *args,
                ],
                env={
                    **os.environ,
                    "OPENAI_BASE_URL": base_url,
                    "OPENAI_API_KEY": "sk-test",
                    **(env or {}),
                },
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            return Run(proc.returncode, proc.stdout, proc.stderr, workspace / "ws", server.requests)

    yield run


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def test_a_run_succeeds_and_leaves_its_records(podium: Any, flaky: Path) -> None:
    run = podium(
        {
            "steps": [
                {
                    "tool_calls": [
                        call("workspace_write", path="a.txt", content="alpha"),
                        call("env_names"),
                    ]
                },
                {"content": "done: {{last}}"},
            ]
        },
        "write a file",
        "--skill",
        "workspace",
        "--skill",
        f"{flaky}:skill",
    )
    assert run.code == 0, run.stdout + run.stderr
    result = run.result
    assert result["status"] == "succeeded" and result["tool_calls"] == 2
    assert result["turns"] == 2 and result["usage"]["input_tokens"] > 0
    assert result["error"] is None and result["duration_s"] > 0
    assert (run.workspace / "a.txt").read_text() == "alpha"
    types = [e["type"] for e in run.events]
    assert types[:2] == ["run_started", "skills_ready"] and types[-1] == "run_finished"
    assert "▸ workspace_write" in run.stdout and "Final answer:" in run.stdout
    # The model's key stays with the agent: the skill process never sees it.
    env_result = next(
        e for e in run.events if e["type"] == "tool_result" and e["name"] == "env_names"
    )
    assert "OPENAI_API_KEY" not in env_result["preview"]
    assert "PODIUM_WORKSPACE" in env_result["preview"]
    # The model was offered both skills' tools through the real OpenAI adapter.
    tools = {t["function"]["name"] for t in run.requests[0].body["tools"]}
    assert {"workspace_read", "die", "slow"} <= tools


def test_json_output_is_one_event_per_line(podium: Any) -> None:
    run = podium({"steps": [{"content": "hi"}]}, "say hi", "--skill", "workspace", "--json")
    assert run.code == 0
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert events[-1]["type"] == "run_finished" and events[-1]["output"] == "hi"
    pids = [e["pid"] for e in events if e["type"] == "skill_started"]
    assert pids and all(not Path(f"/proc/{p}").exists() or _zombie(p) for p in pids)


def test_llm_errors_are_retried_honouring_retry_after(podium: Any) -> None:
    run = podium(
        {
            "steps": [
                {"error": {"status": 500, "message": "boom"}},
                {"error": {"status": 429, "retry_after": 1}},
                {"content": "made it"},
            ]
        },
        "try",
        "--skill",
        "workspace",
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.result["output"] == "made it"
    retries = [e for e in run.events if e["type"] == "model_retry"]
    assert len(retries) == 2 and "429" in retries[1]["reason"]
    assert run.requests[2].time - run.requests[1].time >= 0.95  # waited for Retry-After


def test_a_bad_request_fails_the_run_clearly(podium: Any) -> None:
    run = podium(
        {"steps": [{"error": {"status": 400, "message": "model not found"}}]},
        "try",
        "--skill",
        "workspace",
    )
    assert run.code == 1
    assert run.result["status"] == "failed"
    assert "model not found" in run.result["error"]["message"]
    assert "sk-test" not in run.stdout + json.dumps(run.events)  # the key never leaks
    assert len(run.requests) == 1  # a 400 is not retried


def test_a_skill_that_dies_mid_call_is_an_error_the_model_sees(podium: Any, flaky: Path) -> None:
    run = podium(
        {
            "steps": [
                {"tool_calls": [call("die")]},
                {"content": "the flaky skill crashed: {{last}}"},
            ]
        },
        "use flaky",
        "--skill",
        f"flaky={flaky}:skill",
    )
    assert run.code == 0, run.stdout + run.stderr
    assert "skill 'flaky' stopped answering" in run.result["output"]
    assert "✗ skill flaky exited with code 1" in run.stdout  # the launcher says so too


def test_a_skill_that_never_gets_ready_is_named(podium: Any, flaky: Path, workspace: Path) -> None:
    spec = workspace / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "task": "x",
                "limits": {"readiness_timeout_s": 1.5},
                "skills": [
                    {"name": "flaky", "source": f"{flaky}:skill", "env": {"FLAKY_HANG": "1"}}
                ],
            }
        )
    )
    run = podium(
        {"steps": [{"content": "never asked"}]}, "--spec", str(spec), "--skill", "workspace"
    )
    assert run.code == 1
    error = run.result["error"]
    assert error["type"] == "SkillNotReadyError" and "flaky" in error["message"]
    assert "workspace" not in error["message"].split(":")[1]  # only the laggard is named
    assert run.requests == []


def test_a_skill_that_cannot_start_fails_fast_with_its_log(podium: Any, workspace: Path) -> None:
    broken = workspace.parent / f"{workspace.name}-broken.py"
    broken.write_text("raise ImportError('missing dependency: frobnicate')\n")
    try:
        started = time.monotonic()
        run = podium({"steps": [{"content": "never"}]}, "x", "--skill", f"{broken}:skill")
        assert time.monotonic() - started < 20  # not the 30 s readiness timeout
    finally:
        broken.unlink()
    assert run.code == 1
    assert run.result["error"]["type"] == "SkillExited"
    assert "frobnicate" in run.result["error"]["message"]
    assert "frobnicate" in run.stdout


def test_deadline_during_a_slow_tool(podium: Any, flaky: Path) -> None:
    run = podium(
        {"steps": [{"tool_calls": [call("slow", seconds=30)]}]},
        "wait",
        "--skill",
        f"{flaky}:skill",
        "--timeout",
        "1.5",
    )
    assert run.code == 1
    assert run.result["status"] == "timed_out"


def test_unknown_skill_is_refused_before_anything_starts(podium: Any) -> None:
    run = podium({"steps": []}, "x", "--skill", "nosuchskill")
    assert run.code == 2 and "nosuchskill" in run.stderr
    assert run.requests == []


def test_sigterm_cancels_and_leaves_no_process_behind(workspace: Path, flaky: Path) -> None:
    script = {"steps": [{"tool_calls": [call("slow", seconds=60)]}]}
    server = MockLLMServer(Script.model_validate(script))
    ws = workspace / "ws"
    with server.running() as base_url:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runtime.cli",
                "run",
                "wait",
                "--model",
                "openai:mock",
                "--workspace",
                str(ws),
                "--skill",
                f"{flaky}:skill",
                "--skill",
                "workspace",
                "--json",
            ],
            env={**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "x"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        pids = []
        for line in proc.stdout:  # wait on observable state: the slow call has started
            event = json.loads(line)
            if event["type"] == "skill_started":
                pids.append(event["pid"])
            if event["type"] == "tool_call":
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        code = proc.wait(timeout=30)
        proc.stdout.close()
    assert code == 128 + signal.SIGTERM
    assert '"run_finished"' in rest
    result = json.loads((ws / ".podium" / "result.json").read_text())
    assert result["status"] == "cancelled" and result["tool_calls"] == 1
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"skill {pid} still alive"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_run_with_an_mcp_server_written_by_others(podium: Any, workspace: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    subprocess.run([str(root / "scripts" / "install-mcp-servers.sh")], check=True, timeout=600)
    server = root / ".cache" / "mcp-servers" / "venvs" / "mcp-server-time" / "bin"
    config = workspace / "servers.yaml"
    config.write_text(f"mcpServers:\n  time:\n    command: {server / 'mcp-server-time'}\n")
    run = podium(
        {
            "steps": [
                {"tool_calls": [call("time_get_current_time", timezone="Asia/Tokyo")]},
                {"content": "{{last}}"},
            ]
        },
        "what time is it in Tokyo?",
        "--mcp",
        str(config),
    )
    assert run.code == 0, run.stdout + run.stderr
    assert "Asia/Tokyo" in run.result["output"]
    ready = next(e for e in run.events if e["type"] == "skills_ready")
    assert "time_get_current_time" in ready["skills"][0]["tools"]


def test_memory_recall_and_summary_across_runs(podium: Any, workspace: Path) -> None:
    env = {"PODIUM_MEMORY_DB": str(workspace / "memory.db")}
    first = podium(
        {"steps": [{"content": "The payments service deploys on Tuesdays."}]},
        "When does payments deploy?",
        "--skill",
        "memory",
        "--summary",
        "--memory-scope",
        "acme/deployer",
        env=env,
    )
    assert first.code == 0, first.stdout + first.stderr
    assert any(e["type"] == "memory_summary" and e["ok"] for e in first.events)

    second = podium(
        {"steps": [{"content": "ok"}]},
        "When does payments deploy?",
        "--skill",
        "memory",
        "--recall",
        "--memory-scope",
        "acme/deployer",
        env=env,
    )
    system = second.requests[0].body["messages"][0]["content"]
    assert "Memories that may help" in system and "Tuesdays" in system

    # Another scope sees none of it: scopes come from the run spec, not from the model.
    other = podium(
        {"steps": [{"content": "ok"}]},
        "When does payments deploy?",
        "--skill",
        "memory",
        "--recall",
        "--memory-scope",
        "other/team",
        env=env,
    )
    assert "Tuesdays" not in other.requests[0].body["messages"][0]["content"]


def test_agent_takes_its_spec_from_the_pods_config_map(workspace: Path) -> None:
    """In a Pod the spec is mounted read-only outside the workspace (PODIUM_RUN_SPEC)."""
    from runtime.spec import RunSpec

    mounted = workspace / "etc" / "run.json"
    RunSpec(task="nothing to do", model="nosuch:model").save(mounted)
    ws = workspace / "ws"
    proc = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "agent", "--workspace", str(ws)],
        env={**os.environ, "PODIUM_RUN_SPEC": str(mounted)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert (ws / ".podium" / "run.json").exists()
    result = json.loads((ws / ".podium" / "result.json").read_text())
    assert (
        result["status"] == "failed"
        and "unknown model 'nosuch:model'" in result["error"]["message"]
    )


def test_long_event_lines_and_a_second_run_in_the_same_workspace(podium: Any) -> None:
    big = "x" * 200_000  # one tool_call event far over asyncio's default 64 KiB line limit
    # A file the model plants in the workspace is never imported by the next run's processes.
    run = podium(
        {
            "steps": [
                {
                    "tool_calls": [
                        call("workspace_write", path="big.txt", content=big),
                        call(
                            "workspace_write",
                            path="watchfiles.py",
                            content="raise SystemExit('planted module ran')",
                        ),
                    ]
                },
                {"content": "ok"},
            ]
        },
        "write",
        "--skill",
        "workspace",
    )
    assert run.code == 0, run.stdout + run.stderr
    assert (run.workspace / "big.txt").stat().st_size == len(big)
    again = podium({"steps": [{"content": "second"}]}, "again", "--skill", "workspace")
    assert again.code == 0, again.stdout + again.stderr
    assert again.result["output"] == "second"
    assert [e["type"] for e in again.events].count("run_started") == 1  # a fresh event log


@pytest.mark.anyio
async def test_cluster_credentials_reach_the_kubectl_skill_only(workspace: Path) -> None:
    """The kubeconfig is the kubectl skill's `secret_env`: the skill reaches the (fake) API
    server with it, while the agent and the other skills never see it."""
    from tests._fake_kube import TOKEN, fake_kube

    async with fake_kube() as kube:
        kube.add("pods", "default", "web-1", spec={"containers": [{"name": "app", "image": "x"}]})
        spec = workspace / "spec.json"
        spec.write_text(
            json.dumps(
                {
                    "task": "list pods",
                    "skills": [
                        {"name": "kubectl", "source": "kubectl", "secret_env": ["KUBECONFIG"]},
                        {"name": "flaky", "source": f"{workspace}-flaky.py:skill"},
                    ],
                }
            )
        )
        Path(f"{workspace}-flaky.py").write_text(FLAKY_SKILL)
        script = {
            "steps": [
                {"tool_calls": [call("kubectl_get", resource="pods"), call("env_names")]},
                {"content": "{{last}}"},
            ]
        }
        server = MockLLMServer(Script.model_validate(script))
        with server.running() as base_url:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "runtime.cli",
                "run",
                "--spec",
                str(spec),
                "--model",
                "openai:mock",
                "--workspace",
                str(workspace / "ws"),
                "--json",
                env={
                    **os.environ,
                    "OPENAI_BASE_URL": base_url,
                    "OPENAI_API_KEY": "x",
                    "KUBECONFIG": str(kube.kubeconfig(workspace)),
                    "HOME": str(workspace),
                },
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 90)
        Path(f"{workspace}-flaky.py").unlink()
    assert proc.returncode == 0, out.decode() + err.decode()
    result = json.loads((workspace / "ws" / ".podium" / "result.json").read_text())
    assert "web-1" in result["output"]  # kubectl reached the API server with its kubeconfig
    assert kube.requests and all(r.token == TOKEN for r in kube.requests)
    assert "KUBECONFIG" not in result["output"]  # the other skill never saw it
    assert TOKEN not in (workspace / "ws" / ".podium" / "events.jsonl").read_text()
