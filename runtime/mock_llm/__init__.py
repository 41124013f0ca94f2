"""Test tooling: a scripted LLM (`server`, over HTTP in OpenAI's and Anthropic's wire formats),
its script format (`script`) and the wire formats themselves (`_wire`). Never in the agent's
run path, except through the `scripted:FILE` model of tests and offline demos.

`from runtime.mock_llm import MockLLMServer` loads the HTTP server (uvicorn, starlette) only
when asked for; `runtime.mock_llm.script` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.mock_llm.server import MockLLMServer, RecordedRequest, main

__all__ = ["MockLLMServer", "RecordedRequest", "main"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from runtime.mock_llm import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
