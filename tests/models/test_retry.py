"""Retries: transient failures are retried, others fail at once, always with a clear error."""

from __future__ import annotations

import email.utils
import socket
from collections.abc import Callable

import pytest

from runtime.agent.base import Message, ModelError, ModelSettings, UserMessage
from runtime.agent.models import RetryPolicy
from runtime.agent.models._retry import (
    Failure,
    backoff_delay,
    parse_retry_after,
    retry_after_from_headers,
    status_failure,
)
from runtime.agent.models.openai_model import OpenAIModel
from tests.models.conftest import Adapter, Serve, recorded

KINDS = ["openai", "anthropic"]
HI: list[Message] = [UserMessage("hi")]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_500_then_200_succeeds_and_reports_the_retry(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    server = serve({"steps": [{"error": {"status": 500, "message": "boom"}}, {"content": "ok"}]})
    events: list[str] = []
    model = connect(kind, server, on_retry=events.append)

    reply = await model.request(HI, [], ModelSettings())

    assert reply.text == "ok"
    assert len(recorded(server)) == 2
    assert len(events) == 1
    assert events[0].startswith("retrying after ")
    assert "500 server error: boom (attempt 2 of 3)" in events[0]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_429_waits_for_retry_after(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    server = serve({"steps": [{"error": {"status": 429, "retry_after": 0.6}}, {"content": "ok"}]})
    events: list[str] = []
    model = connect(kind, server, on_retry=events.append)

    assert (await model.request(HI, [], ModelSettings())).text == "ok"

    first, second = recorded(server)
    gap = second["time"] - first["time"]
    assert 0.55 <= gap < 1.5  # the server's wish, not our 10 ms test backoff
    assert events == ["retrying after 0.6s: 429 rate limited: Too Many Requests (attempt 2 of 3)"]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_400_fails_at_once_with_a_clear_error(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    server = serve({"steps": [{"error": {"status": 400, "message": "messages: bad role"}}]})
    events: list[str] = []
    model = connect(kind, server, on_retry=events.append)

    with pytest.raises(ModelError) as caught:
        await model.request(HI, [], ModelSettings())

    assert str(caught.value) == f"{kind}: 400 error: messages: bad role"
    assert len(recorded(server)) == 1
    assert events == []


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_error_messages_never_show_the_key(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    key = "sk-test-0123456789abcdef"
    server = serve({"steps": [{"error": {"status": 401, "message": f"bad key {key}"}}]})
    model = connect(kind, server, api_key=key)

    with pytest.raises(ModelError) as caught:
        await model.request(HI, [], ModelSettings())

    assert key not in str(caught.value)
    assert str(caught.value) == f"{kind}: 401 error: bad key ***"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_timeouts_are_retried_then_fail_clearly(
    kind: str, serve: Serve, connect: Callable[..., Adapter]
) -> None:
    server = serve({"steps": [{"delay": 5.0}, {"delay": 5.0}]})
    events: list[str] = []
    policy = RetryPolicy(attempts=2, base_delay_s=0.01)
    model = connect(kind, server, retry=policy, on_retry=events.append)

    with pytest.raises(ModelError) as caught:
        await model.request(HI, [], ModelSettings(timeout_s=0.2))

    url = server.base_url if kind == "openai" else server.root_url
    assert str(caught.value) == f"{kind}: {url}: timed out after 0.2s (gave up after 2 attempts)"
    assert len(recorded(server)) == 2
    assert len(events) == 1 and "timed out after 0.2s (attempt 2 of 2)" in events[0]


@pytest.mark.anyio
async def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    events: list[str] = []
    policy = RetryPolicy(attempts=2, base_delay_s=0.01)
    url = f"http://127.0.0.1:{port}/v1"
    model = OpenAIModel("m", base_url=f"http://user:secret-pass@127.0.0.1:{port}/v1/",
                        api_key="sk-never-shown-123", retry=policy,
                        on_retry=events.append)  # fmt: skip
    try:
        with pytest.raises(ModelError) as caught:
            await model.request(HI, [], ModelSettings(timeout_s=5))
    finally:
        await model.aclose()
    message = str(caught.value)
    assert message.startswith(f"openai: cannot reach {url}: ") and "gave up after 2" in message
    assert len(events) == 1 and url in events[0]
    for secret in ("sk-never-shown-123", "secret-pass", "user"):
        assert secret not in message + events[0]


# ---------------------------------------------------------------- the policy itself


def test_retry_after_as_seconds_or_http_date() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30)
    assert parse_retry_after(date, now=2_000_000) == 0.0  # in the past: go now
    assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_backoff_grows_with_jitter_and_retry_after_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=4.0, max_retry_after_s=10.0)
    plain = Failure(True, 503, "")
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delay = backoff_delay(attempt, plain, policy)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff_delay(1, Failure(True, 429, "", retry_after=3600), policy) == 10.0
    assert backoff_delay(1, Failure(True, 429, "", retry_after=2), policy) == 2.0


@pytest.mark.parametrize(
    ("status", "headers", "retryable"),
    [
        (429, {}, True),
        (500, {}, True),
        (503, {}, True),
        (408, {}, True),
        (400, {}, False),
        (401, {}, False),
        (404, {}, False),
        (500, {"x-should-retry": "false"}, False),  # the provider knows best
        (400, {"x-should-retry": "true"}, True),
    ],
)
def test_which_statuses_are_retried(status: int, headers: dict[str, str], retryable: bool) -> None:
    assert status_failure(status, "m", headers).retryable is retryable
