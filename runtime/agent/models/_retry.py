"""One retry policy for every adapter: transient failures are retried, others fail at once.

Each adapter reads its own SDK's exceptions into a `Failure` (retryable or not, status,
the provider's message, Retry-After); `with_retries` does the rest and turns the final
failure into a `ModelError` whose message names the provider and status, never the key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from runtime.agent.base import ModelError

T = TypeVar("T")

RetryCallback = Callable[[str], None]
"""Called before each retry with a one-line reason, e.g. `retrying after 2.0s: 429 rate
limited (attempt 2 of 5)`; the loop logs it as an event."""

# 408 and 409 are what OpenAI's and Anthropic's own SDKs treat as transient, besides 429/5xx.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    """Attempts in all, the first one included (1 = never retry)."""
    base_delay_s: float = 0.5
    """Backoff before the first retry; doubles each time, with jitter."""
    max_delay_s: float = 30.0
    """Ceiling for one backoff delay."""
    max_retry_after_s: float = 60.0
    """Ceiling for a server's Retry-After, so one header cannot stall a run for an hour."""


@dataclass(frozen=True)
class Failure:
    """An adapter's reading of one failed attempt."""

    retryable: bool
    status: int | None
    """HTTP status, or None for connection errors and timeouts."""
    message: str
    """The provider's own error message (or a short description of a transport error)."""
    retry_after: float | None = None
    """Seconds the server asked us to wait, if it said so."""


Classifier = Callable[[BaseException], Failure | None]
"""Reads an exception from one attempt; None means "not a provider error": re-raised as is."""


def status_failure(status: int, message: str, headers: Mapping[str, str] | None) -> Failure:
    """The common reading of an HTTP error status, honouring `x-should-retry`."""
    retryable = status in RETRYABLE_STATUSES or status >= 500
    hint = (headers or {}).get("x-should-retry", "").lower()
    if hint in ("true", "false"):  # the provider knows best (OpenAI and Anthropic send it)
        retryable = hint == "true"
    return Failure(retryable, status, message, retry_after_from_headers(headers))


def retry_after_from_headers(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, failure: Failure, policy: RetryPolicy) -> float:
    """Delay before retry number `attempt` (1-based)."""
    if failure.retry_after is not None:
        return min(failure.retry_after, policy.max_retry_after_s)
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
    # "Equal jitter": never less than half the backoff, so clients spread out but still wait.
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - not cryptographic


def describe(failure: Failure) -> str:
    if failure.status is None:
        return failure.message
    label = {429: "rate limited", 408: "request timeout", 409: "conflict"}.get(failure.status)
    if label is None:
        label = "server error" if failure.status >= 500 else "error"
    text = f"{failure.status} {label}"
    return f"{text}: {failure.message}" if failure.message else text


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    provider: str,
    classify: Classifier,
    timeout_s: float,
    policy: RetryPolicy | None = None,
    on_retry: RetryCallback | None = None,
    redact: tuple[str, ...] = (),
    endpoint: str = "",
) -> T:
    """Run `call` until it succeeds, fails for good, or runs out of attempts.

    Each attempt is bounded by `timeout_s` (a timeout is retried like a 5xx). `redact` lists
    secrets (the API key) that must never appear in a message we produce. `endpoint` (the
    base URL) is named when the server could not be reached or did not answer in time.
    """
    where = _public_url(endpoint)
    policy = policy or RetryPolicy()
    attempts = max(1, policy.attempts)
    failure = Failure(False, None, "no attempt made")
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(timeout_s):
                return await call()
        except TimeoutError as exc:
            failure, last = Failure(True, None, f"timed out after {timeout_s:g}s"), exc
        except Exception as exc:
            classified = classify(exc)
            if classified is None:
                raise
            failure, last = classified, exc
        if failure.status is None and where and where not in failure.message:
            text = failure.message
            if text.startswith("connection error"):
                text = f"cannot reach {where}" + text.removeprefix("connection error")
            else:
                text = f"{where}: {text}"
            failure = dataclasses.replace(failure, message=text)
        if not failure.retryable:
            raise ModelError(_scrub(f"{provider}: {describe(failure)}", redact)) from last
        if attempt == attempts:
            break
        delay = backoff_delay(attempt, failure, policy)
        if on_retry is not None:
            on_retry(
                _scrub(
                    f"retrying after {delay:.1f}s: {describe(failure)} "
                    f"(attempt {attempt + 1} of {attempts})",
                    redact,
                )
            )
        await asyncio.sleep(delay)
    plural = "s" if attempts > 1 else ""
    raise ModelError(
        _scrub(
            f"{provider}: {describe(failure)} (gave up after {attempts} attempt{plural})", redact
        )
    ) from last


def _public_url(url: str) -> str:
    """The URL as it may be shown: without a user or password, query or fragment."""
    if not url:
        return ""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text
