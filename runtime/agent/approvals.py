"""`FileApprover`: the agent waits for a decision file under `.podium/approvals/`.

Whoever decides (the launcher's prompt, `podium approve` through the launcher, the
controller's channel in a cluster) writes `approvals/NUMBER.json`: `{"decision": "approve" |
"deny", "token": ..., "by": ..., "reason": ...}`. The file's integrity does not matter: an
approval is a signed token the skill verifies, and the agent (which can write this folder
too) cannot make one. A false "deny" only keeps a call from running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, cast

import watchfiles

from runtime.agent.base import ApprovalAnswer, ApprovalRequest


class FileApprover:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, number: int) -> Path:
        return self.folder / f"{number}.json"

    async def decide(self, request: ApprovalRequest, timeout: float) -> ApprovalAnswer:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(request.number)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                answer = _read(path)
                if answer is not None:
                    return answer
                # step=1 ms: a decision is seen within milliseconds, not watchfiles' 80 ms.
                watch = watchfiles.awatch(  # pyright: ignore[reportUnknownMemberType]
                    self.folder,
                    step=1,
                    debounce=5,
                    rust_timeout=100,
                    yield_on_timeout=True,
                    watch_filter=None,
                    recursive=False,
                )
                async for _ in watch:
                    answer = _read(path)
                    if answer is not None:
                        return answer
        return ApprovalAnswer(approved=False, timed_out=True, reason="timed out")


def _read(path: Path) -> ApprovalAnswer | None:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # not there yet (writers rename into place)
        return None
    if not isinstance(data, dict):
        return None
    d = cast(dict[str, Any], data)
    return ApprovalAnswer(
        approved=d.get("decision") == "approve" and bool(d.get("token")),
        token=str(d.get("token", "")),
        by=str(d.get("by", "")),
        reason=str(d.get("reason", "")),
    )
