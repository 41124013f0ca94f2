"""Fixtures for model tests: a real mock LLM server on a free port, and adapters aimed at it."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from runtime.agent.models import RetryPolicy
from runtime.agent.models.anthropic_model import AnthropicModel
from runtime.agent.models.openai_model import OpenAIModel
from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script

# Retries in tests: quick backoff, so a test waits milliseconds unless a server says otherwise.
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)

Serve = Callable[[dict[str, Any]], MockLLMServer]
Adapter = OpenAIModel | AnthropicModel


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a mock LLM server for a script (given as data); stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(script: dict[str, Any]) -> MockLLMServer:
            server = MockLLMServer(Script.model_validate(script))
            stack.enter_context(server.running())
            return server

        yield start


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Adapter]]:
    """Make an adapter of a kind ("openai"/"anthropic") aimed at a server; closed after."""
    made: list[Adapter] = []

    def make(kind: str, server: MockLLMServer, **kwargs: Any) -> Adapter:
        kwargs.setdefault("retry", FAST)
        model: Adapter
        if kind == "openai":
            model = OpenAIModel("mock-model", base_url=server.base_url, **kwargs)
        else:
            model = AnthropicModel("mock-model", base_url=server.root_url, **kwargs)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


def recorded(server: MockLLMServer) -> list[dict[str, Any]]:
    """What the server saw, read over HTTP through its test hook."""
    with urllib.request.urlopen(server.root_url + "/_podium/requests", timeout=5) as response:
        return json.loads(response.read())
