"""A scripted LLM server that speaks OpenAI's and Anthropic's HTTP APIs, for tests and demos.

Whole runs, across processes and containers, then exercise the real model adapters:

    podium mock-llm --script demo.yaml --port 8000
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 podium run --model openai:mock ...
    ANTHROPIC_BASE_URL=http://127.0.0.1:8000 podium run --model anthropic:mock ...

In tests: `with MockLLMServer(script).running() as base_url: ...` (base_url ends in /v1;
`server.root_url` is the Anthropic one).

Endpoints: POST /v1/chat/completions (OpenAI; non-streaming), POST /v1/messages
(Anthropic), GET /v1/models; test hooks GET /_podium/requests (every request so far, in
order, with a wall-clock `time` and the `reply` that answered it; keys are redacted) and
POST /_podium/reset (back to the first step, requests forgotten).

Script format (YAML or JSON):

    steps:                 # answers in order, one per request
      - tool_calls:        # several = parallel calls
          - {name: workspace_write, arguments: {path: notes.txt, content: "hi"}}
          - {name: workspace_list, arguments: {}}
      - content: "Done. The list was: {{last}}"
      - error: {status: 429, retry_after: 1}      # fail this request (retry_after: header)
      - error: {status: 500, message: "boom"}
      - delay: 2.0                                # wait, then answer (combine with others)
      - tool_calls: [{name: x, raw_arguments: "{not json"}]   # malformed on purpose
    rules:                 # checked first, in order, against the last message's text
      - match: "error"     # a regular expression (re.search)
        content: "I saw an error"
        times: 1           # optional: how often the rule may answer
    repeat_last: false     # steps run out: repeat the last (a model that never stops) ...
    final_content: Done.   # ... or answer this

A step has `content`, `tool_calls` (both allowed), or `error`; and an optional `delay`.
`{{last}}` in content is the last message's text: a user message, or a tool result (the
results of a parallel turn, joined by newlines). Usage figures are estimated from lengths.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime._json import items, obj, string
from runtime.mock_llm._wire import ANTHROPIC, OPENAI, Wire, error_parts
from runtime.mock_llm.script import Script, ScriptError, ScriptPlayer, estimate_tokens

__all__ = ["MockLLMServer", "RecordedRequest", "main"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})


@dataclass
class RecordedRequest:
    index: int
    time: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    reply: str = ""
    """What answered: `step 2`, `rule 1`, `final`, or an HTTP error of the server itself."""


class MockLLMServer:
    def __init__(
        self, script: Script | Path | str, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.script = script if isinstance(script, Script) else Script.load(Path(script))
        self.player = ScriptPlayer(self.script)
        self.host, self.port = host, port
        self._log: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = Starlette(
            lifespan=self._lifespan,
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/_podium/requests", self._requests, methods=["GET"]),
                Route("/_podium/reset", self._reset, methods=["POST"]),
            ],
        )

    @property
    def root_url(self) -> str:
        """The Anthropic-style base URL (the SDK adds /v1/messages)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (ends in /v1)."""
        return self.root_url + "/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
        self.player.reset()

    @contextlib.contextmanager
    def running(self, *, start_timeout_s: float = 10.0) -> Generator[str]:
        """Serve in a background thread; yields the OpenAI-style base URL."""
        sock = self._bind()
        server = uvicorn.Server(self._config())
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="mock-llm", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not server.started:  # wait on uvicorn's own "ready" flag
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the mock LLM server did not start")
            time.sleep(0.005)
        try:
            yield self.base_url
        finally:
            if self._loop is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)  # cut delays short
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()

    def serve(self) -> None:
        """Serve until SIGINT/SIGTERM, then return (uvicorn alone would re-raise the signal)."""
        stop = threading.Event()

        def on_signal(_sig: int, _frame: object) -> None:
            stop.set()

        handlers = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
        try:
            with self.running():
                print(f"mock LLM: OpenAI at {self.base_url}, Anthropic at {self.root_url}",
                      flush=True)  # fmt: skip
                stop.wait()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _bind(self) -> socket.socket:
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose `proto` says
        # TCP, and accepted sockets copy it from this one. Without it each response (headers,
        # then body: two writes) met the client's delayed ACK: ~40 ms per kept-alive request.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited on accept
        sock.bind((self.host, self.port))
        # Listen now: clients that read the printed URL may connect before uvicorn accepts.
        sock.listen(128)
        self.port = sock.getsockname()[1]  # the free port, when 0 was asked for
        return sock

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=2,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncGenerator[None]:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        yield

    # ------------------------------------------------------------ endpoints

    async def _chat_completions(self, request: Request) -> Response:
        return await self._answer(request, OPENAI)

    async def _messages(self, request: Request) -> Response:
        return await self._answer(request, ANTHROPIC)

    async def _models(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": "mock", "object": "model", "created": 0, "owned_by": "podium"}],
            }
        )

    async def _requests(self, _request: Request) -> Response:
        return JSONResponse([asdict(r) for r in self.requests])

    async def _reset(self, _request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    async def _record(self, request: Request) -> RecordedRequest:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {
            k: "<redacted>" if k in _SECRET_HEADERS else v for k, v in request.headers.items()
        }
        with self._lock:
            record = RecordedRequest(
                len(self._log), time.time(), request.method, request.url.path, headers, body
            )
            self._log.append(record)
        return record

    async def _answer(self, request: Request, wire: Wire) -> Response:
        record = await self._record(request)
        body = obj(record.body)
        if not body or not isinstance(body.get("messages"), list):
            return self._fail(record, wire, 400, "the body must be a JSON object with messages")
        if body.get("stream"):
            return self._fail(record, wire, 400, "the mock LLM does not stream; send stream=false")
        reply = self.player.reply(wire.last_text(items(body.get("messages"))))
        record.reply = reply.source
        if reply.delay:
            await self._sleep(reply.delay)
        if reply.error is not None:
            return _error_response(reply.error, wire)
        prompt = estimate_tokens(json.dumps(record.body))
        model = string(body.get("model")) or "mock"
        return JSONResponse(wire.answer(self._new_id, model, reply, prompt))

    def _fail(self, record: RecordedRequest, wire: Wire, status: int, text: str) -> Response:
        record.reply = f"HTTP {status}"
        return _error_response(ScriptError(status=status, message=text), wire)

    async def _sleep(self, seconds: float) -> None:
        if self._stop is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"


def _error_response(error: ScriptError, wire: Wire) -> Response:
    kind, message, headers = error_parts(error)
    body = wire.error_body(kind, message)
    return JSONResponse(body, status_code=error.status, headers=headers)


EXAMPLE_SCRIPT = """\
steps:                       # answers in order, one per model request
  - tool_calls:              # a turn that calls tools (several = parallel calls)
      - {name: workspace_write, arguments: {path: notes.txt, content: "hi"}}
      - {name: workspace_list, arguments: {}}
  - content: "Done. The list was: {{last}}"     # a final answer; {{last}}: the last message
  - content: "Let me check."                    # text and tool calls in one turn
    tool_calls: [{name: workspace_read, arguments: {path: notes.txt}}]
  - error: {status: 429, retry_after: 1}        # fail this request (Retry-After: 1)
  - error: {status: 500, message: "boom"}       # a server error with a message
  - delay: 2.0                                  # wait 2 s, then answer
    content: "slow answer"
  - tool_calls: [{name: workspace_read, raw_arguments: "{not json"}]  # malformed arguments
rules:                       # checked before the steps, in order, on the last message's text
  - match: "error"           # a regular expression (re.search)
    content: "I saw an error"
    times: 1                 # optional: how often this rule may answer
repeat_last: false           # when the steps run out: repeat the last one (never stops) ...
final_content: Done.         # ... or answer this
"""

SCRIPT_HELP = f"""\
A script (YAML or JSON), with every kind of step:

{EXAMPLE_SCRIPT}
A step has `content`, `tool_calls` (both allowed) or `error`, and an optional `delay`.
`{{{{last}}}}` is the last message's text: the task, or the tool results of the last turn.

Use it with a real run:
  podium mock-llm --script demo.yaml --port 8000
  OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=x podium run TASK --model openai:mock
  ANTHROPIC_BASE_URL=http://127.0.0.1:8000 podium run TASK --model anthropic:mock
or, without a server, played inside the agent: podium run TASK --model scripted:demo.yaml
"""


def main(argv: list[str] | None = None) -> int:
    """`podium mock-llm --script FILE [--port N] [--host 127.0.0.1]`."""
    parser = argparse.ArgumentParser(
        prog="podium mock-llm",
        description="Serve a scripted fake LLM over HTTP (OpenAI and Anthropic APIs).",
        epilog=SCRIPT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--script", required=True, type=Path, help="YAML or JSON script")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    args = parser.parse_args(argv)
    try:
        server = MockLLMServer(args.script, host=args.host, port=args.port)
    except ValueError as exc:
        print(f"podium mock-llm: {exc}", file=sys.stderr)
        return 2
    try:
        server.serve()
    except OSError as exc:  # e.g. the port is taken
        print(f"podium mock-llm: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
