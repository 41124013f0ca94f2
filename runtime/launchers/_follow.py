"""What every launcher does while a run is under way: read the agent's events (one JSON
object per stdout line) and notice, as it happens, when a sidecar ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, cast

# One event can carry a whole tool argument or final answer: read lines of up to this size
# (pass it as `limit=` where the agent's stdout pipe is made).
EVENT_LINE_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class SidecarExited:
    name: str
    code: int


async def follow(
    stdout: asyncio.StreamReader, exits: Mapping[str, Awaitable[int]]
) -> AsyncGenerator[dict[str, Any] | SidecarExited]:
    """Yield the agent's events interleaved with sidecar exits until the agent closes stdout.
    `exits` maps each sidecar's name to something that finishes with its exit code."""
    watchers = {asyncio.ensure_future(done): name for name, done in exits.items()}
    reader: asyncio.Task[bytes] | None = None
    try:
        while True:
            reader = reader or asyncio.create_task(stdout.readline())
            done, _ = await asyncio.wait({reader, *watchers}, return_when=asyncio.FIRST_COMPLETED)
            for watcher in [w for w in watchers if w in done]:
                yield SidecarExited(watchers.pop(watcher), watcher.result())
            if reader in done:
                try:
                    line = reader.result()
                except ValueError:  # longer than the limit: say so rather than lose the run
                    reader = None
                    yield {"type": "agent_output", "text": "(an over-long event line was dropped)"}
                    continue
                reader = None
                if not line:
                    return
                yield parse_event(line)
    finally:
        for task in [*watchers, *([reader] if reader else [])]:
            task.cancel()


def parse_event(line: bytes) -> dict[str, Any]:
    """One line of the agent's stdout as an event; stray output is kept, not lost."""
    text = line.decode(errors="replace").rstrip()
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        return {"type": "agent_output", "text": text}
    if isinstance(event, dict):
        return cast(dict[str, Any], event)
    return {"type": "agent_output", "text": text}
