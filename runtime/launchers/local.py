"""`LocalLauncher`: a run as plain processes, laid out the way a Pod runs it.

Each skill is its own process serving gRPC on `WORKSPACE/.podium/sockets/NAME.sock`; the
agent is one more process that finds them there. Each process gets only its own environment:
a skill's secrets never reach the agent, the model's key never reaches a skill. Every child
is stopped on every exit path, and dies with us even on SIGKILL: each child starts through a
tiny exec shim (`DIE_WITH_PARENT`) that sets PR_SET_PDEATHSIG, checks we are still there,
and execs the real command. (`preexec_fn` would do the same, but is unsafe while threads
run, as in `podium demo`, where the scripted LLM server runs in a thread.)

What each process gets (argv, environment) is `runtime.process`'s, as in a Pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from protos.handoff import SECRETS_FD_ENV
from runtime.agent.events import RunError, RunResult
from runtime.keys import RunKeys
from runtime.launchers._follow import EVENT_LINE_LIMIT, follow
from runtime.layout import RunPaths
from runtime.process import (
    STOP_GRACE_S,
    Placement,
    Process,
    agent_process,
    child_env,
    local_argv,
    skill_process,
)
from runtime.spec import RunSpec

# argv: PARENT_PID PROGRAM ARG...; SIGTERM when the parent dies (even by SIGKILL), which
# survives the exec. If the parent died before prctl, exit rather than outlive it.
DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"  # PR_SET_PDEATHSIG
    "os.getppid() == int(sys.argv[1]) or sys.exit(70)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"  # a skill's own command: found on its PATH
)


def local_command(process: Process, python: str) -> list[str]:
    """The exact command line a local process is started with: the shim, then the process."""
    return [python, "-I", "-S", "-c", DIE_WITH_PARENT, str(os.getpid()),
            *local_argv(process, python)]  # fmt: skip


@dataclass
class LocalLauncher:
    spec: RunSpec
    workspace: Path
    python: str = sys.executable
    keys: RunKeys | None = None
    """The run's approval key and call tokens (fresh ones when not given)."""

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.workspace)

    async def launch(self) -> AsyncGenerator[dict[str, Any]]:
        """Start the skills and the agent, yield the agent's events, stop everything."""
        paths = self.paths.create()
        logs = paths.podium / "logs"
        logs.mkdir(exist_ok=True)
        self.spec.policy.resolve_approve(False)  # unset: launch() resolves it first if it can ask
        self.spec.save(paths.spec)
        paths.result.unlink(missing_ok=True)
        keys = self.keys = self.keys or RunKeys.new(self.spec)
        where = Placement.local(self.workspace)
        skills: dict[str, asyncio.subprocess.Process] = {}
        agent: asyncio.subprocess.Process | None = None
        log_files: list[TextIO] = []
        try:
            for s in self.spec.skills:
                log_file = (logs / f"{s.name}.log").open("w", encoding="utf-8")
                log_files.append(log_file)
                skills[s.name] = await self._spawn(
                    skill_process(self.spec, s, where),
                    stdout=log_file,
                    secrets=keys.for_skill(s.name),
                )
                yield {"type": "skill_started", "name": s.name, "pid": skills[s.name].pid}
            agent_log = (logs / "agent.log").open("w", encoding="utf-8")
            log_files.append(agent_log)
            agent = await self._spawn(
                agent_process(self.spec, where),
                stdout=asyncio.subprocess.PIPE,
                stderr=agent_log,
                secrets=keys.for_agent(),
            )
            async for event in self._follow(agent, skills):
                yield event
            # The agent closed its stdout: it is exiting by itself. Signalling it now would race
            # its exit (and asyncio would then log an "unknown child" warning).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(agent.wait(), STOP_GRACE_S)
        finally:
            await _stop([agent] if agent else [], STOP_GRACE_S)  # the agent first: it records
            await _stop(list(skills.values()), STOP_GRACE_S)
            for f in log_files:
                f.close()
            if not paths.result.exists():
                RunResult(
                    "failed",
                    error=RunError(
                        "AgentCrashed",
                        f"the agent exited without writing a result; see {logs / 'agent.log'}",
                    ),
                    run_id=self.spec.run_id,
                ).save(paths.result)

    async def _spawn(
        self,
        process: Process,
        *,
        stdout: Any,
        stderr: Any = asyncio.subprocess.STDOUT,
        secrets: dict[str, str],
    ) -> asyncio.subprocess.Process:
        # Secrets go through a pipe read once by the child (protos.handoff), never through
        # its environment, which same-user processes can read until it makes itself
        # non-dumpable. The exec shim keeps the pipe open across its exec.
        read_end, write_end = os.pipe()
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(json.dumps(secrets).encode())
            return await asyncio.create_subprocess_exec(
                *local_command(process, self.python),
                env={**child_env(process.secret_env, process.env), SECRETS_FD_ENV: str(read_end)},
                stdout=stdout,
                stderr=stderr,
                stdin=asyncio.subprocess.DEVNULL,
                cwd=self.workspace,
                limit=EVENT_LINE_LIMIT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
                pass_fds=(read_end,),
            )
        finally:
            os.close(read_end)

    async def _follow(
        self, agent: asyncio.subprocess.Process, skills: dict[str, asyncio.subprocess.Process]
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the agent's events; stop early if a skill dies before the skills are ready."""
        assert agent.stdout is not None
        ready = False
        reported: set[str] = set()
        events = follow(agent.stdout, {n: p.wait() for n, p in skills.items()})
        async with contextlib.aclosing(events):
            async for item in events:
                if isinstance(item, dict):
                    ready = ready or item.get("type") == "skills_ready"
                    yield item
                    continue
                reported.add(item.name)
                yield self._exited(item.name, item.code)
                if not ready:  # fail fast rather than wait out the readiness timeout
                    with contextlib.suppress(ProcessLookupError):  # it may be gone already
                        agent.send_signal(signal.SIGTERM)
                    await agent.wait()
                    RunResult(
                        "failed",
                        error=RunError(
                            "SkillExited",
                            # One line: the log's tail was just shown (skill_exited).
                            f"skill {item.name!r} exited with code {item.code} before it was "
                            f"ready: {self._last_line(item.name)} (its log: "
                            f"{self.paths.podium / 'logs' / f'{item.name}.log'})",
                        ),
                        run_id=self.spec.run_id,
                    ).save(self.paths.result)
                    return
        # The agent is done; report skills that died on the way but were not noticed yet.
        for name, proc in skills.items():
            if proc.returncode is not None and name not in reported:
                yield self._exited(name, proc.returncode)

    def _exited(self, name: str, code: int) -> dict[str, Any]:
        return {
            "type": "skill_exited",
            "name": name,
            "code": code,
            "log_tail": self._log_tail(name),
        }

    def _last_line(self, name: str) -> str:
        lines = [line for line in self._log_tail(name).splitlines() if line.strip()]
        return lines[-1].strip() if lines else "(its log is empty)"

    def _log_tail(self, name: str, lines: int = 15) -> str:
        path = self.paths.podium / "logs" / f"{name}.log"
        try:
            return "\n".join(
                path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return ""


async def _stop(procs: list[asyncio.subprocess.Process], grace: float) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left."""
    alive = [p for p in procs if p.returncode is None]
    for p in alive:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    if not alive:
        return
    _, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in alive], timeout=grace)
    for p in alive:
        if p.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
    if pending:
        await asyncio.wait(pending, timeout=2)
