"""`podium demo`: a real run on this machine with no API key.

With no model configured, a scripted OpenAI-compatible server (the one the tests use) plays
the model, so every other part is real: skill processes, gRPC over Unix sockets, the loop,
the workspace. With OPENAI_API_KEY, ANTHROPIC_API_KEY or PODIUM_MODEL set, the same task runs
against that real model instead.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from runtime.cli.display import TerminalDisplay
from runtime.spec import MODEL_ENV, RunSpec, SkillSpec

SCRIPT = Path(__file__).with_name("demo.yaml")
TASK = (
    "Write two short notes under notes/ (a release note for 1.2 and an operations note), "
    "remember the credential rotation policy, then report every open TODO and what you "
    "remember about credential rotation."
)


def _real_model() -> str | None:
    if os.environ.get("PODIUM_MODEL"):
        return os.environ["PODIUM_MODEL"]
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4.1-mini"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic:claude-sonnet-4-5"
    return None


def run_demo() -> int:
    from runtime.cli.history import record_run
    from runtime.launchers import launch

    workspace = Path(tempfile.mkdtemp(prefix="podium-demo-"))
    display = TerminalDisplay()
    display.line(f"workspace: {workspace}")
    model = _real_model()
    spec = RunSpec(
        task=TASK,
        model=model or "openai:scripted-demo",
        skills=[
            SkillSpec(name="workspace", source="workspace"),
            # The demo keeps its memories in its own workspace, not in your memory database.
            SkillSpec(
                name="memory",
                source="memory",
                env={"PODIUM_MEMORY_DB": str(workspace / "memory.db")},
            ),
        ],
        # Either provider may play the model: both keys by name (values stay in your shell).
        model_env=MODEL_ENV["openai"] + MODEL_ENV["anthropic"],
    )
    if model:
        code = asyncio.run(launch(spec, workspace, display))
        record_run(workspace)
        return code
    from runtime.mock_llm import MockLLMServer

    display.line(
        "model: the bundled scripted LLM (set OPENAI_API_KEY or PODIUM_MODEL to use a real one)"
    )
    with MockLLMServer(SCRIPT).running() as base_url:
        os.environ["OPENAI_BASE_URL"] = base_url
        os.environ.setdefault("OPENAI_API_KEY", "scripted")
        code = asyncio.run(launch(spec, workspace, display))
    record_run(workspace)
    return code
