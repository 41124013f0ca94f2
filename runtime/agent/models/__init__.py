"""Model adapters, chosen by a model string `PROVIDER:MODEL`.

    openai:gpt-4.1            OpenAI, or any OpenAI-compatible server via OPENAI_BASE_URL
    anthropic:claude-...      Anthropic's Messages API
    litellm:bedrock/...       anything litellm speaks to (optional extra)
    scripted:path/to.yaml     a mock-LLM script played in process (tests, offline demos)

Each adapter module is imported only when its prefix is asked for: importing this package
loads no provider SDK.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.agent.base import Model, ModelError
from runtime.agent.models._retry import RetryCallback, RetryPolicy

__all__ = ["RetryCallback", "RetryPolicy", "check_model", "get_model"]

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


# What each provider needs from the environment, checked before a run starts anything.
_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "openai": (
        ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        "set OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)",
    ),
}  # anthropic: its SDK has other credential sources too, so only the adapter can tell


def check_model(spec: str, env: Mapping[str, str] | None = None) -> None:
    """What can be known about a model string without importing any SDK: a known provider,
    a model name, the credentials variable the provider needs, a script file that exists.
    Raises ModelError in one line."""
    env = os.environ if env is None else env
    provider, colon, name = spec.partition(":")
    provider = provider.strip().lower()
    if not colon or provider not in _ADAPTERS:
        close = difflib.get_close_matches(provider, list(_ADAPTERS), n=1)
        hint = f" (did you mean '{close[0]}:'?)" if close else ""
        known = ", ".join(f"{p}:" for p in _ADAPTERS)
        what = f"unknown provider {provider!r}{hint}" if colon else "no provider"
        raise ModelError(
            f"{spec!r}: {what}; expected PROVIDER:MODEL with a provider among {known} "
            "(e.g. 'openai:gpt-4.1-mini')"
        )
    if not name.strip():
        raise ModelError(f"{spec!r}: no model name after '{provider}:'")
    if provider == "scripted" and not Path(name.strip()).is_file():
        raise ModelError(f"{spec!r}: no such script file {name.strip()}")
    names, advice = _NEEDS.get(provider, ((), ""))
    if names and not any(env.get(n) for n in names):
        raise ModelError(f"{spec!r}: no API key; {advice}")


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
