"""`litellm:ANYTHING`: the many providers litellm speaks to, in OpenAI's message format.

litellm is an optional extra (`pip install 'podium[litellm]'`): 2.5 s to import and 350 MB,
so it is imported only when a `litellm:` model is asked for.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

from runtime.agent.base import Message, ModelError, ModelResponse, ModelSettings, ToolSpec
from runtime.agent.models._openai_format import (
    classify_openai_error,
    from_openai_completion,
    to_openai_messages,
    to_openai_tools,
)
from runtime.agent.models._retry import RetryCallback, RetryPolicy, with_retries

INSTALL_HINT = "pip install 'podium[litellm]'"


def import_litellm() -> Any:
    # Without this litellm fetches a model cost map from the internet at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        litellm: Any = importlib.import_module("litellm")
    except ImportError as exc:
        raise ModelError(
            f"litellm models need the optional litellm extra: {INSTALL_HINT} ({exc})"
        ) from None
    litellm.suppress_debug_info = True  # otherwise it prints to stdout while streaming
    return litellm


class LiteLLMModel:
    """`litellm:MODEL`, e.g. `litellm:bedrock/anthropic.claude-3-5-sonnet`. Credentials and
    endpoints come from the provider's usual environment variables, as litellm reads them."""

    def __init__(
        self,
        model: str,
        *,
        retry: RetryPolicy | None = None,
        on_retry: RetryCallback | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        if not model:
            raise ModelError(
                "litellm: no model name given (expected e.g. "
                "'litellm:bedrock/anthropic.claude-3-5-sonnet')"
            )
        self.name = f"litellm:{model}"
        self.model = model
        self.retry = retry
        self.on_retry = on_retry
        self._api_key = api_key
        self._base_url = base_url
        self._litellm = import_litellm()

    async def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> ModelResponse:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "timeout": settings.timeout_s + 1,
            "num_retries": 0,  # `with_retries` owns retrying
        }
        if tools:
            params["tools"] = to_openai_tools(tools)
        if settings.temperature is not None:
            params["temperature"] = settings.temperature
        if settings.max_output_tokens is not None:
            params["max_tokens"] = settings.max_output_tokens
        if self._api_key:
            params["api_key"] = self._api_key
        if self._base_url:
            params["api_base"] = self._base_url

        async def call() -> ModelResponse:
            response = await self._litellm.acompletion(**params)
            return from_openai_completion(response.model_dump(), "litellm")

        return await with_retries(
            call,
            provider="litellm",
            classify=classify_openai_error,
            timeout_s=settings.timeout_s,
            policy=self.retry,
            on_retry=self.on_retry,
            redact=(self._api_key or "",),
        )
