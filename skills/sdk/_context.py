"""What a tool gets besides its arguments: the workspace, the run, a logger, and a safe way
to run programs (argument lists only, with a timeout, an output cap, and a kill on cancel)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protos import skill_pb2 as pb
from skills.sdk._run_spec import run_spec

# How long a child gets between SIGTERM and SIGKILL when its call is cancelled or times out.
KILL_GRACE_S = 2.0


class ToolError(Exception):
    """A failure to tell the model about, in words it can act on (bad input, missing file...).

    Any other exception raised by a tool is treated as a bug: the model sees only that an
    internal error happened, and the traceback goes to the skill's log.
    """


@dataclass
class Context:
    """Handed to a tool as its first parameter when the tool asks for it (`ctx: Context`)."""

    workspace: Path
    """The run's shared workspace (`/workspace` in a Pod)."""
    run_id: str
    """Id of the run this call belongs to."""
    call_id: str
    """The model's id for this tool call."""
    log: logging.Logger
    """Logger for the skill's own log (stderr); never shown to the model."""
    deadline: float | None = None
    """`time.monotonic()` value by which the call must end, if any."""
    artifacts: list[str] = field(default_factory=lambda: [])
    """Workspace-relative paths of files this call produced (see `artifact`)."""
    _emit: Callable[[pb.InvokeEvent], None] | None = None

    def progress(self, progress: float, total: float = 0.0, message: str = "") -> None:
        """Stream a progress event to the agent (shown live to the user)."""
        if self._emit:
            self._emit(
                pb.InvokeEvent(
                    progress=pb.Progress(progress=progress, total=total, message=message)
                )
            )

    def report(self, message: str, level: str = "info") -> None:
        """Stream a log line to the agent's event log (not to the model)."""
        if self._emit:
            self._emit(pb.InvokeEvent(log=pb.Log(level=level, message=message)))

    def path(self, relative: str) -> Path:
        """Resolve `relative` inside the workspace, refusing anything that escapes it.

        Absolute paths, `..` and symlinks that point outside are refused with a ToolError.
        """
        if not relative or "\x00" in relative:
            raise ToolError("path must be a non-empty workspace-relative path")
        if Path(relative).is_absolute():
            raise ToolError(f"path {relative!r} is absolute; give a path relative to the workspace")
        root = self.workspace.resolve()
        target = (root / relative).resolve()
        if target != root and root not in target.parents:
            raise ToolError(f"path {relative!r} is outside the workspace")
        return target

    def artifact(self, path: Path | str) -> str:
        """Record a file this call wrote; returns its workspace-relative path."""
        rel = str(Path(path).resolve().relative_to(self.workspace.resolve()))
        self.artifacts.append(rel)
        return rel

    @property
    def run_spec(self) -> dict[str, Any]:
        """The run spec of the run this skill serves (run.json as JSON; `{}` outside a run):
        e.g. `ctx.run_spec["policy"]["deny_tools"]`."""
        return run_spec()

    def remaining(self) -> float | None:
        """Seconds left before the call's deadline, or None when there is none."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        max_output: int = 1_000_000,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
        check: bool = True,
    ) -> str:
        """Run a program (an argument list, never a shell string) and return its output.

        stdout and stderr are merged when `check` is False; with `check` (the default) a non-zero
        exit raises ToolError carrying the end of stderr. Output beyond `max_output` bytes is
        dropped (and said so). On timeout or cancellation the child's whole process group is
        sent SIGTERM, then SIGKILL. `timeout` limits this program (a ToolError when it passes,
        which the tool may handle); the call's own deadline ends the whole call (TimeoutError:
        a TIMEOUT result, as for any tool that runs out of time).
        """
        # asyncio's clock is time.monotonic(), the deadline's: one clock for the whole call.
        async with asyncio.timeout_at(self.deadline):
            result = await run_process(
                argv,
                timeout=timeout,
                max_output=max_output,
                cwd=cwd or self.workspace,
                env=env,
                stdin=stdin,
            )
        if check and result.returncode != 0:
            tail = result.stderr.strip()[-2000:] or result.stdout.strip()[-2000:]
            raise ToolError(f"{argv[0]} exited with code {result.returncode}: {tail}")
        if check:
            return result.stdout
        return result.stdout + (("\n" + result.stderr) if result.stderr else "")


@dataclass
class ProcessResult:
    returncode: int
    stdout: str
    stderr: str


def min_timeout(a: float | None, b: float | None) -> float | None:
    """The tighter of two optional time limits."""
    values = [v for v in (a, b) if v is not None]
    return min(values) if values else None


async def _read_capped(stream: asyncio.StreamReader | None, cap: int) -> str:
    """Read a stream to its end, keeping at most `cap` bytes (so the child never blocks)."""
    if stream is None:
        return ""
    kept = bytearray()
    dropped = 0
    while chunk := await stream.read(65536):
        room = cap - len(kept)
        kept += chunk[:room]
        dropped += max(0, len(chunk) - room)
    text = kept.decode("utf-8", errors="replace")
    return text + (f"\n[... {dropped} more bytes not kept]" if dropped else "")


async def run_process(
    argv: Sequence[str],
    *,
    timeout: float | None = None,
    max_output: int = 1_000_000,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | bytes | None = None,
) -> ProcessResult:
    """The engine behind `Context.run`; see there."""
    if isinstance(argv, str) or not argv or not all(type(a) is str for a in argv):
        raise TypeError("argv must be a non-empty list of strings (no shell strings)")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            start_new_session=True,  # its own process group, so a kill reaches grandchildren
        )
    except FileNotFoundError as exc:
        raise ToolError(f"program {argv[0]!r} not found") from exc
    except PermissionError as exc:
        raise ToolError(f"program {argv[0]!r} is not executable") from exc

    async def communicate() -> ProcessResult:
        if stdin is not None and proc.stdin:
            proc.stdin.write(stdin.encode() if isinstance(stdin, str) else stdin)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await proc.stdin.drain()
            proc.stdin.close()
        out, err = await asyncio.gather(
            _read_capped(proc.stdout, max_output), _read_capped(proc.stderr, max_output)
        )
        return ProcessResult(await proc.wait(), out, err)

    try:
        async with asyncio.timeout(timeout):
            return await communicate()
    except TimeoutError:
        await _kill(proc)
        raise ToolError(f"{argv[0]} timed out after {timeout:.1f}s and was killed") from None
    except asyncio.CancelledError:
        await _kill(proc)
        raise


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the child's process group, give it a grace period, then SIGKILL the group.

    The group is signalled even when the direct child has already exited: a grandchild that
    kept the pipes open is what made us wait in the first place.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), KILL_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
