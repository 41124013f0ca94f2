"""The terminal prompt for a call that needs a person's approval.

Shows the tool, its skill, why the policy asks, what the tool's annotations say and the
arguments (through the display's sanitiser: model text cannot drive the terminal), then
reads one answer: `y` approve, `n` deny (optionally `n because ...`), `a` approve every call
of this tool for the rest of the run. No answer before the timeout denies the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import sys
from typing import Any, TextIO

from runtime.cli.display import clean, short
from runtime.launchers.approvals import Decision

_FLAGS = ("read_only", "destructive", "idempotent", "open_world")


class TerminalPrompt:
    def __init__(self, out: TextIO = sys.stdout, fd: int | None = None) -> None:
        self.out = out
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.user = _user()

    def lines(self, event: dict[str, Any], timeout: float) -> list[str]:
        annotations: dict[str, Any] = event.get("annotations") or {}
        flags = [f for f in _FLAGS if annotations.get(f)]
        out = [
            "",
            f"? approval needed: {clean(event['name'])} (skill {clean(event['skill'])}, "
            f"call {short(str(event['id']), 40)})",
            f"  why: {clean(event['reason'])}",
            f"  annotations: {', '.join(flags) or 'none'}",
            "  arguments:",
        ]
        out += [f"    {line}" for line in _arguments(str(event["arguments"]))]
        out.append(
            f"  [y] approve  [n] deny (n REASON)  [a] approve all {clean(event['name'])} calls "
            f"of this run  (denied in {timeout:g}s) > "
        )
        return out

    async def __call__(self, event: dict[str, Any], timeout: float) -> Decision | None:
        self.out.write("\n".join(self.lines(event, timeout)))
        self.out.flush()
        try:
            answer = await asyncio.wait_for(self._readline(), timeout)
        except TimeoutError:
            self.out.write("\n  no answer: denied\n")
            self.out.flush()
            return Decision(False, by="timeout", reason="no answer in time")
        if answer is None:  # the terminal went away: let `podium approve` decide
            return None
        word, _, reason = answer.strip().partition(" ")
        by = f"{self.user} (terminal)"
        if word.lower() in ("y", "yes"):
            return Decision(True, by=by, reason=reason)
        if word.lower() in ("a", "all"):
            return Decision(True, by=by, reason=reason, all_of_tool=True)
        return Decision(False, by=by, reason=reason if word.lower() in ("n", "no") else answer)

    async def _readline(self) -> str | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | None] = loop.create_future()
        buffer = bytearray()

        def readable() -> None:
            try:
                chunk = os.read(self.fd, 1024)
            except OSError:
                chunk = b""
            if not chunk:
                if not done.done():
                    done.set_result(None)
                return
            buffer.extend(chunk)
            if b"\n" in buffer and not done.done():
                done.set_result(buffer.split(b"\n", 1)[0].decode(errors="replace"))

        loop.add_reader(self.fd, readable)
        try:
            return await done
        finally:
            loop.remove_reader(self.fd)


def _arguments(raw: str) -> list[str]:
    try:
        value: Any = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return [short(raw, 400)]
    text = json.dumps(value, indent=2, ensure_ascii=False)
    lines = [clean(line) for line in text.splitlines()]
    return lines if len(lines) <= 40 else [*lines[:40], f"… ({len(lines) - 40} more lines)"]


def _user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "you"
