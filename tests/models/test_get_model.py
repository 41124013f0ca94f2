"""get_model: the table of model strings, lazy imports, and the optional litellm extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import runtime.agent.models
from runtime.agent.base import ModelError, ModelSettings, UserMessage
from runtime.agent.models import get_model
from runtime.agent.models.anthropic_model import AnthropicModel
from runtime.agent.models.openai_model import OpenAIModel
from runtime.agent.models.scripted_model import ScriptedModel
from tests.models.conftest import FAST, Serve

COST_MAP = "LITELLM_LOCAL_MODEL_COST_MAP"


def test_public_surface_is_small() -> None:
    assert sorted(runtime.agent.models.__all__) == [
        "RetryCallback",
        "RetryPolicy",
        "check_model",
        "get_model",
    ]


def test_importing_runtime_models_loads_no_provider_sdk() -> None:
    code = (
        "import json, sys, runtime.agent.models\n"
        "print(json.dumps([m for m in ('openai', 'anthropic', 'litellm', 'httpx2')"
        " if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=30)  # fmt: skip
    assert json.loads(out.stdout) == []


@pytest.mark.anyio
async def test_table_maps_prefixes_to_adapters(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    script = tmp_path / "s.yaml"
    script.write_text("steps: [{content: hi}]")

    openai_model = get_model("openai:gpt-4.1-mini", retry=FAST)
    anthropic_model = get_model("anthropic:claude-sonnet-4-5")
    scripted = get_model(f"scripted:{script}")

    assert isinstance(openai_model, OpenAIModel) and openai_model.name == "openai:gpt-4.1-mini"
    assert openai_model.retry is FAST
    assert isinstance(anthropic_model, AnthropicModel)
    assert anthropic_model.name == "anthropic:claude-sonnet-4-5"
    assert isinstance(scripted, ScriptedModel)
    assert (await scripted.request([UserMessage("x")], [], ModelSettings())).text == "hi"
    await openai_model.aclose()
    await anthropic_model.aclose()


@pytest.mark.parametrize("spec", ["gemini:pro", "gpt-4.1", "", "scripted"])
def test_unknown_or_malformed_specs_list_the_known_prefixes(spec: str) -> None:
    with pytest.raises(ModelError, match="openai:, anthropic:, litellm:, scripted:"):
        get_model(spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("openai:gpt-4.1", "set OPENAI_API_KEY"),  # no key and no base URL
        ("anthropic:claude-sonnet-4-5", "set ANTHROPIC_API_KEY"),
        ("openai:", "no model name"),
        ("scripted:/nonexistent.yaml", "script not found"),
    ],
)
def test_configuration_errors_are_model_errors(
    spec: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ModelError, match=expected):
        get_model(spec)


@pytest.fixture
def no_cost_map_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter sets LITELLM_LOCAL_MODEL_COST_MAP; start without it and undo it after
    (setenv first, because monkeypatch forgets a delenv of a variable that was absent)."""
    monkeypatch.setenv(COST_MAP, "")
    monkeypatch.delenv(COST_MAP)


@pytest.mark.usefixtures("no_cost_map_env")
def test_litellm_not_installed_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # import fails, installed or not
    with pytest.raises(ModelError, match=r"pip install 'podium\[litellm\]'"):
        get_model("litellm:bedrock/anthropic.claude-3-5-sonnet")


@pytest.mark.anyio
@pytest.mark.usefixtures("no_cost_map_env")
async def test_litellm_adapter_speaks_openai_format(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """litellm is not installed here: a stand-in module forwards acompletion to the mock
    server with the OpenAI SDK (litellm's errors subclass the OpenAI SDK's, so the retry
    classification is the real one)."""
    from openai import AsyncOpenAI

    server = serve({"steps": [
        {"error": {"status": 503}},
        {"tool_calls": [{"name": "ls", "arguments": {"path": "."}}]},
    ]})  # fmt: skip
    seen: list[dict[str, Any]] = []

    async def acompletion(**params: Any) -> Any:
        seen.append(params)
        client = AsyncOpenAI(api_key="x", base_url=server.base_url, max_retries=0)
        try:
            keep = ("model", "messages", "tools", "temperature", "timeout")
            return await client.chat.completions.create(**{k: params[k] for k in keep
                                                           if k in params})  # fmt: skip
        finally:
            await client.close()

    stub = types.ModuleType("litellm")
    stub.acompletion = acompletion  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "litellm", stub)
    events: list[str] = []
    on_retry: Callable[[str], None] = events.append

    model = get_model("litellm:hosted_vllm/qwen", retry=FAST, on_retry=on_retry)
    reply = await model.request([UserMessage("go")], [], ModelSettings(temperature=0))

    assert model.name == "litellm:hosted_vllm/qwen"
    assert stub.suppress_debug_info is True  # type: ignore[attr-defined]
    assert os.environ[COST_MAP] == "True"
    assert [c.name for c in reply.tool_calls] == ["ls"]
    assert len(events) == 1 and "503 server error" in events[0]
    assert seen[0]["num_retries"] == 0 and seen[0]["model"] == "hosted_vllm/qwen"
