"""The launcher's side of approvals: it holds the run's approval key, so decisions are
signed here, in the process that started the run, and never in the agent.

A decision comes from the terminal prompt (`podium run` at a TTY) or from `podium approve`
in another terminal, which talks to this process over a Unix socket in a private per-user
folder (`control_socket`). The socket refuses processes started by this run (the agent, the
skills, or anything they started: this process is their child subreaper, so even orphaned
descendants stay descendants). The signed decision is delivered as
`.podium/approvals/NUMBER.json` of the run's workspace, where the agent picks it up and passes
the token to the skill, which verifies it: written into `folder` on this machine (the local
backend), or by `deliver` where the workspace is elsewhere (the docker backend puts it into
the Pod's workspace volume, `DockerLauncher.deliver_approval`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import socket
import struct
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from protos.approval import sign
from runtime.layout import write_atomic

_PR_SET_CHILD_SUBREAPER = 36

Prompt = Callable[[dict[str, Any], float], Awaitable["Decision | None"]]
"""Asks a person about one `approval_requested` event; None when it timed out or no one
answered (another channel may still decide)."""

Deliver = Callable[[str, str], Awaitable[None]]
"""Puts one decision file (its name, `NUMBER.json`, and its JSON text) where the agent waits
for it, whole (never half a file); raises `OSError` when it cannot."""


@dataclass(frozen=True)
class Decision:
    approve: bool
    by: str = ""
    reason: str = ""
    all_of_tool: bool = False
    """Approve this call and every later call of the same tool in this run."""


def control_socket(run_id: str) -> Path:
    """Where `podium approve RUN` finds the run's launcher (a private per-user folder)."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return base / f"podium-{os.getuid()}" / f"{run_id}.sock"


@dataclass
class RunApprover:
    run_id: str
    folder: Path
    """`.podium/approvals/` of the run's workspace."""
    key: str
    prompt: Prompt | None = None
    deliver: Deliver | None = None
    """Where the workspace is not `folder` on this machine: how a decision reaches it."""
    pending: dict[int, dict[str, Any]] = field(default_factory=lambda: {})
    approve_all: set[str] = field(default_factory=lambda: set[str]())

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._prompting = asyncio.Lock()
        self.socket = control_socket(self.run_id)

    async def start(self) -> None:
        """Serve the control socket for `podium approve`."""
        with contextlib.suppress(OSError, AttributeError):  # Linux: orphans stay our children
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        if self.folder.exists():  # decisions of an earlier run in this workspace
            for old in self.folder.iterdir():
                old.unlink(missing_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket.parent.chmod(0o700)
        self.socket.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket))
        self.socket.chmod(0o600)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self.socket.unlink(missing_ok=True)

    def on_event(self, event: dict[str, Any]) -> None:
        """Follow the agent's events: note requests, forget decided ones."""
        kind = event.get("type")
        if kind == "approval_decided":
            self.pending.pop(int(event.get("number", -1)), None)
            return
        if kind != "approval_requested":
            return
        number = int(event["number"])
        self.pending[number] = event
        if event.get("name") in self.approve_all:
            self._spawn(self._settle(number, Decision(True, by="you (all calls of this tool)")))
        elif self.prompt is not None:
            self._spawn(self._ask(number, event))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def decide(self, number: int, decision: Decision) -> bool:
        """Sign (when approved) and deliver a decision; False when nothing is pending.
        When it cannot be delivered the call stays pending and the `OSError` is raised."""
        event = self.pending.pop(number, None)
        if event is None:
            return False
        if decision.all_of_tool and decision.approve:
            self.approve_all.add(str(event["name"]))
        record: dict[str, Any] = {
            "decision": "approve" if decision.approve else "deny",
            "by": decision.by,
            "reason": decision.reason,
        }
        if decision.approve:
            record["token"] = sign(
                self.key,
                run_id=self.run_id,
                call_id=str(event["id"]),
                tool=str(event["name"]),
                arguments_json=str(event["arguments"]),
                by=decision.by,
            )
        try:
            if self.deliver is not None:
                await self.deliver(f"{number}.json", json.dumps(record))
            else:
                write_atomic(self.folder / f"{number}.json", json.dumps(record))
        except OSError:
            self.pending.setdefault(number, event)  # still waiting: another try may reach it
            raise
        if decision.all_of_tool and decision.approve:  # calls already waiting on this tool
            for other, e in list(self.pending.items()):
                if e.get("name") == event["name"]:
                    await self.decide(other, Decision(True, by=decision.by, reason=decision.reason))
        return True

    async def _ask(self, number: int, event: dict[str, Any]) -> None:
        assert self.prompt is not None
        async with self._prompting:  # one question at a time on the terminal
            if number not in self.pending:
                return  # decided meanwhile (podium approve, or approve-all)
            decision = await self.prompt(event, float(event.get("timeout_s", 300)))
        if decision is not None:
            await self._settle(number, decision)

    async def _settle(self, number: int, decision: Decision) -> None:
        with contextlib.suppress(OSError):  # not delivered: it stays pending for `podium approve`
            await self.decide(number, decision)

    # ------------------------------------------------------------ podium approve

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()  # read first: a refused client is still sending
            reply = self._refuse_peer(writer) or await self._handle(line)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (OSError, ValueError) as exc:
            with contextlib.suppress(OSError):
                writer.write(json.dumps({"ok": False, "error": str(exc)}).encode() + b"\n")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _refuse_peer(self, writer: asyncio.StreamWriter) -> dict[str, Any] | None:
        sock = cast(socket.socket, writer.get_extra_info("socket"))
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", creds)
        if uid != os.getuid():
            return {"ok": False, "error": "only the user who started the run may approve"}
        if _descends_from(pid, os.getpid()):
            return {"ok": False, "error": "a process of the run itself cannot approve its calls"}
        return None

    async def _handle(self, line: bytes) -> dict[str, Any]:
        request = cast(dict[str, Any], json.loads(line or b"{}"))
        pending = [_summary(n, e) for n, e in sorted(self.pending.items())]
        if request.get("op") == "list":
            return {"ok": True, "pending": pending}
        call = str(request.get("call") or "")
        matches = [
            n for n, e in self.pending.items() if not call or call in (str(n), str(e.get("id")))
        ]
        if not matches:
            what = f"no pending call {call!r}" if call else "no call is waiting for approval"
            return {"ok": False, "error": what, "pending": pending}
        if not call and len(matches) > 1:
            return {"ok": False, "error": "several calls are waiting: name one", "pending": pending}
        decision = Decision(
            approve=bool(request.get("approve", True)),
            by=str(request.get("by") or "podium approve"),
            reason=str(request.get("reason") or ""),
        )
        decided = [_summary(n, self.pending[n]) for n in matches[:1]]
        await self.decide(matches[0], decision)
        return {"ok": True, "decided": decided}


def _summary(number: int, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": number,
        "call": event.get("id"),
        "tool": event.get("name"),
        "skill": event.get("skill"),
        "arguments": event.get("arguments"),
        "reason": event.get("reason"),
    }


def _descends_from(pid: int, ancestor: int) -> bool:
    """True when `pid` is `ancestor` or one of its descendants (walks /proc PPid links)."""
    seen: set[int] = set()
    while pid > 1 and pid not in seen:
        if pid == ancestor:
            return True
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True  # cannot tell: refuse
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pid == ancestor
