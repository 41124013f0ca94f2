"""Model adapters, chosen by a model string `PROVIDER:MODEL`.

    openai:gpt-4.1            OpenAI, or any OpenAI-compatible server via OPENAI_BASE_URL
    anthropic:claude-...      Anthropic's Messages API
    litellm:bedrock/...       anything litellm speaks to (optional extra)
    scripted:path/to.yaml     a mock-LLM script played in process (tests, offline demos)

Each adapter module is imported only when its prefix is asked for: importing this package
loads no provider SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runtime.agent.base import Model, ModelError
from runtime.agent.models._retry import RetryCallback, RetryPolicy

__all__ = ["RetryCallback", "RetryPolicy", "get_model"]

_Factory = Callable[[str, RetryPolicy | None, RetryCallback | None], Model]


def _openai(name: str, retry: RetryPolicy | None, on_retry: RetryCallback | None) -> Model:
    from runtime.agent.models.openai_model import OpenAIModel

    return OpenAIModel(name, retry=retry, on_retry=on_retry)


def _anthropic(name: str, retry: RetryPolicy | None, on_retry: RetryCallback | None) -> Model:
    from runtime.agent.models.anthropic_model import AnthropicModel

    return AnthropicModel(name, retry=retry, on_retry=on_retry)


def _litellm(name: str, retry: RetryPolicy | None, on_retry: RetryCallback | None) -> Model:
    from runtime.agent.models.litellm_model import LiteLLMModel

    return LiteLLMModel(name, retry=retry, on_retry=on_retry)


def _scripted(name: str, retry: RetryPolicy | None, on_retry: RetryCallback | None) -> Model:
    from runtime.agent.models.scripted_model import ScriptedModel

    if not name:
        raise ModelError("scripted: give a script file, e.g. 'scripted:demo.yaml'")
    try:
        return ScriptedModel.from_script(Path(name))
    except ValueError as exc:
        raise ModelError(f"scripted: {exc}") from None


_ADAPTERS: dict[str, _Factory] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "litellm": _litellm,
    "scripted": _scripted,
}


def get_model(
    spec: str, *, retry: RetryPolicy | None = None, on_retry: RetryCallback | None = None
) -> Model:
    """The model for a `PROVIDER:MODEL` string.

    `retry` tunes retries of 429/5xx/timeouts; `on_retry` hears a one-line reason before each
    retry. Raises ModelError for an unknown provider, a missing API key or optional extra.
    """
    provider, colon, name = spec.partition(":")
    factory = _ADAPTERS.get(provider.strip().lower()) if colon else None
    if factory is None:
        known = ", ".join(f"{p}:" for p in _ADAPTERS)
        raise ModelError(
            f"unknown model {spec!r}: expected PROVIDER:MODEL with a provider "
            f"among {known} (e.g. 'openai:gpt-4.1-mini')"
        )
    return factory(name.strip(), retry, on_retry)
