"""OpenAI Chat Completions with tools, via the official `openai` SDK.

Also the adapter for every OpenAI-compatible endpoint (vLLM, Ollama, LM Studio, gateways,
Podium's own mock server): set `OPENAI_BASE_URL` or pass `base_url`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from openai import AsyncOpenAI, omit

from runtime.agent.base import Message, ModelError, ModelResponse, ModelSettings, ToolSpec
from runtime.agent.models._openai_format import (
    classify_openai_error,
    from_openai_completion,
    to_openai_messages,
    to_openai_tools,
)
from runtime.agent.models._retry import RetryCallback, RetryPolicy, with_retries

# Local servers ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_KEY = "podium-no-key"


class OpenAIModel:
    """`openai:MODEL`. Key and endpoint from the arguments, else OPENAI_API_KEY and
    OPENAI_BASE_URL; with a base URL and no key, a placeholder key is sent."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        on_retry: RetryCallback | None = None,
    ) -> None:
        if not model:
            raise ModelError("openai: no model name given (expected e.g. 'openai:gpt-4.1')")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if key is None:
            if base_url is None:
                raise ModelError(
                    "openai: no API key; set OPENAI_API_KEY (or OPENAI_BASE_URL "
                    "for a local OpenAI-compatible server)"
                )
            key = PLACEHOLDER_KEY
        self.name = f"openai:{model}"
        self.model = model
        self.base_url = base_url
        self.retry = retry
        self.on_retry = on_retry
        self._key = key
        # max_retries=0: `with_retries` owns retrying, so attempts and events are ours.
        self._client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0)

    async def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> ModelResponse:
        params: dict[str, Any] = {}
        if settings.max_output_tokens is not None:
            # OpenAI itself wants the new name; local servers reliably know only the old one.
            name = "max_tokens" if self.base_url else "max_completion_tokens"
            params[name] = settings.max_output_tokens
        openai_messages = to_openai_messages(messages)
        openai_tools = to_openai_tools(tools) if tools else omit
        temperature = omit if settings.temperature is None else settings.temperature

        async def call() -> ModelResponse:
            completion = await self._client.chat.completions.create(
                model=self.model,
                messages=openai_messages,
                tools=openai_tools,
                temperature=temperature,
                # A little over ours, so `with_retries`' own deadline is the one that fires.
                timeout=settings.timeout_s + 1,
                extra_body=params or None,
            )
            # warnings=False: odd values from OpenAI-compatible servers are read defensively.
            return from_openai_completion(completion.model_dump(warnings=False), "openai")

        return await with_retries(
            call,
            provider="openai",
            classify=classify_openai_error,
            timeout_s=settings.timeout_s,
            policy=self.retry,
            on_retry=self.on_retry,
            redact=(self._key,),
            endpoint=str(self._client.base_url),
        )

    async def aclose(self) -> None:
        await self._client.close()
