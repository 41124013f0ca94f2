"""What `podium skill check` checks: a socket someone else serves, or a sidecar the checker
starts itself (a command, or an image under docker) with the launch contract's environment
in a scratch workspace, and stops with SIGTERM at the end (which is checked too)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from protos.handoff import CALL_TOKEN_ENV, SECRETS_FD_ENV
from skills.check._checks import Report

# What a started sidecar sees of our environment (as the local launcher gives it), plus the
# contract's PODIUM_* variables; `--env NAME` passes more.
BASE_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
)
SIGTERM_GRACE_S = 10.0
SKILL_NAME = "check"
CONTAINER_WORKSPACE = "/workspace"
UID = 10001


class TargetError(Exception):
    """The target cannot be started at all (no such program, no docker, no image)."""


class Target(Protocol):
    describe: str
    call_token: str | None
    """The call token given to a sidecar the checker starts; None for one it did not."""

    @property
    def socket(self) -> Path: ...

    async def start(self) -> None: ...
    def alive(self) -> bool: ...
    async def sigterm(self, report: Report) -> None: ...
    async def log_tail(self) -> str: ...
    async def cleanup(self) -> None: ...


@dataclass
class SocketTarget:
    socket: Path
    describe: str = ""
    call_token: str | None = None  # someone else started it: its token is not known

    def __post_init__(self) -> None:
        self.describe = f"socket {self.socket}"

    async def start(self) -> None:
        deadline = time.monotonic() + 3  # a sidecar started just before us may be binding
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise TargetError(f"no socket at {self.socket}")
            await asyncio.sleep(0.02)

    def alive(self) -> bool:
        return True

    async def sigterm(self, report: Report) -> None:
        report.add("SIGTERM", "skip", "the checker did not start this sidecar")

    async def log_tail(self) -> str:
        return ""

    async def cleanup(self) -> None:
        return None


@dataclass
class _Scratch:
    """A short scratch workspace (Unix socket paths are limited to 107 bytes)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pchk-", dir="/tmp")))
    run_id: str = field(default_factory=lambda: "check-" + secrets.token_hex(4))
    call_token: str = field(default_factory=lambda: secrets.token_hex(32))
    """The sidecar's call token, as a launcher gives it (protos/README.md)."""

    def __post_init__(self) -> None:
        (self.root / ".podium" / "sockets").mkdir(parents=True)
        # The checker is the operator here: it approves every call it makes (a sidecar that
        # enforces the run's policy would refuse destructive tools under the default
        # `destructive: ask`); --skip-destructive leaves those tools out instead.
        spec: dict[str, object] = {
            "run_id": self.run_id,
            "task": "podium skill check",
            "policy": {"approve": "auto"},
        }
        (self.root / ".podium" / "run.json").write_text(json.dumps(spec), encoding="utf-8")

    @property
    def socket(self) -> Path:
        return self.root / ".podium" / "sockets" / f"{SKILL_NAME}.sock"

    @property
    def log(self) -> Path:
        return self.root.parent / f"{self.root.name}.log"

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.log.unlink(missing_ok=True)


def resolve_command(argv: Sequence[str], base: Path) -> list[str]:
    """Relative paths in a command that name existing files become absolute (the sidecar
    runs with the workspace as its working directory); the program is looked up on PATH."""
    if not argv:
        raise TargetError("--command needs a program and its arguments")
    out: list[str] = []
    for i, arg in enumerate(argv):
        candidate = base / arg
        if not Path(arg).is_absolute() and ("/" in arg or i > 0) and candidate.exists():
            out.append(str(candidate.absolute()))  # not resolve(): keep a venv's python
        else:
            out.append(arg)
    if "/" not in out[0] and shutil.which(out[0]) is None:
        raise TargetError(f"program not found on PATH: {out[0]}")
    return out


def contract_env(workspace: str, socket: str, run_id: str, config: str | None) -> dict[str, str]:
    env = {
        "PODIUM_SKILL_SOCKET": socket,
        "PODIUM_WORKSPACE": workspace,
        "PODIUM_RUN_ID": run_id,
        "PODIUM_SKILL_NAME": SKILL_NAME,
        "PODIUM_RUN_SPEC": f"{workspace}/.podium/run.json",
    }
    if config:
        env["PODIUM_SKILL_CONFIG"] = config
    return env


def extra_env(names: Sequence[str]) -> dict[str, str]:
    """`--env NAME=VALUE` or `--env NAME` (taken from our environment)."""
    out: dict[str, str] = {}
    for item in names:
        name, sep, value = item.partition("=")
        if sep:
            out[name] = value
        elif name in os.environ:
            out[name] = os.environ[name]
    return out


@dataclass
class CommandTarget:
    argv: list[str]
    env: dict[str, str] = field(default_factory=lambda: dict[str, str]())
    config: str | None = None
    scratch: _Scratch = field(default_factory=_Scratch)
    describe: str = ""
    proc: asyncio.subprocess.Process | None = None
    call_token: str | None = None

    def __post_init__(self) -> None:
        self.describe = "command " + " ".join(self.argv)
        self.call_token = self.scratch.call_token

    @property
    def socket(self) -> Path:
        return self.scratch.socket

    async def start(self) -> None:
        env = {n: os.environ[n] for n in BASE_ENV if n in os.environ}
        env.update(self.env)
        env.update(
            contract_env(str(self.scratch.root), str(self.socket), self.scratch.run_id, self.config)
        )
        # The call token through a pipe read once, as the local launcher gives it.
        read_end, write_end = os.pipe()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(json.dumps({CALL_TOKEN_ENV: self.scratch.call_token}).encode())
        env[SECRETS_FD_ENV] = str(read_end)
        with self.scratch.log.open("wb") as log:
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.argv,
                    env=env,
                    cwd=self.scratch.root,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=(read_end,),
                )
            except OSError as exc:
                raise TargetError(f"cannot start {self.argv[0]}: {exc.strerror}") from None
            finally:
                os.close(read_end)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def sigterm(self, report: Report) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            code = None if proc is None else proc.returncode
            report.add("SIGTERM", "fail", f"the sidecar had already exited (code {code})")
            return
        started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), SIGTERM_GRACE_S)
        except TimeoutError:
            report.add("SIGTERM", "fail", f"still running {SIGTERM_GRACE_S:g}s after SIGTERM")
            return
        _judge_exit(report, code, started, self.socket)

    async def log_tail(self) -> str:
        return self.scratch.tail()

    async def cleanup(self) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        self.scratch.remove()


def _judge_exit(report: Report, code: int, started: float, socket: Path) -> None:
    ms = round((time.perf_counter() - started) * 1000, 2)
    if code != 0:
        why = f"signal {-code}" if code < 0 else f"code {code}"
        report.add("SIGTERM", "fail", f"exited with {why}, 0 expected (handle SIGTERM)", ms)
        return
    report.add("SIGTERM", "pass", "exited 0", ms)
    if socket.exists():
        report.add("SIGTERM: socket", "warn", "the socket file was left behind")


def docker_client() -> str:
    found = os.environ.get("DOCKER") or (
        "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")
    )
    if not found:
        raise TargetError("--image needs docker (none found; set DOCKER)")
    return found


async def _docker(docker: str, *args: str, timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        docker,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, f"docker {args[0]} did not finish in {timeout:g}s"
    return proc.returncode or 0, out.decode(errors="replace").strip()


@dataclass
class ImageTarget:
    """The image run as a Pod runs it: its own entrypoint, UID 10001, read-only root, no
    capabilities, no network, the workspace mounted at /workspace."""

    image: str
    args: list[str] = field(default_factory=lambda: list[str]())
    env: dict[str, str] = field(default_factory=lambda: dict[str, str]())
    config: str | None = None
    """A config file on this machine: copied into the scratch workspace, given to the
    container as PODIUM_SKILL_CONFIG (as a Pod mounts the skill's ConfigMap key)."""
    scratch: _Scratch = field(default_factory=_Scratch)
    describe: str = ""
    docker: str = ""
    container: str = ""
    started: bool = False
    waiter: asyncio.Task[tuple[int, str]] | None = None
    call_token: str | None = None

    def __post_init__(self) -> None:
        self.describe = f"image {self.image}"
        self.call_token = self.scratch.call_token
        self.container = f"podium-check-{self.scratch.run_id}"

    @property
    def socket(self) -> Path:
        return self.scratch.socket

    async def start(self) -> None:
        self.docker = docker_client()
        for folder in (self.scratch.root, self.scratch.root / ".podium", self.socket.parent):
            folder.chmod(0o777)  # the container's UID 10001 creates the socket here
        sock = f"{CONTAINER_WORKSPACE}/.podium/sockets/{SKILL_NAME}.sock"
        config = None
        if self.config is not None:
            name = Path(self.config).name
            try:
                shutil.copyfile(self.config, self.scratch.root / ".podium" / name)
            except OSError as exc:
                raise TargetError(
                    f"cannot read the config file {self.config}: {exc.strerror}"
                ) from None
            (self.scratch.root / ".podium" / name).chmod(0o644)
            config = f"{CONTAINER_WORKSPACE}/.podium/{name}"
        env = {**self.env, **contract_env(CONTAINER_WORKSPACE, sock, self.scratch.run_id, config)}
        env[CALL_TOKEN_ENV] = self.scratch.call_token  # as a Pod gets it from the run's Secret
        argv = ["run", "-d", "--name", self.container, "--network", "none"]
        argv += ["--user", f"{UID}:{UID}", "--read-only", "--tmpfs", "/tmp:mode=1777"]
        argv += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        argv += ["-v", f"{self.scratch.root}:{CONTAINER_WORKSPACE}"]
        for k, v in sorted(env.items()):
            argv += ["-e", f"{k}={v}"]
        code, out = await _docker(self.docker, *argv, self.image, *self.args)
        if code != 0:
            raise TargetError(f"docker run {self.image} failed: {out[-500:]}")
        self.started = True
        # `docker wait` ends when the container does: that is how we know it is alive.
        self.waiter = asyncio.create_task(
            _docker(self.docker, "wait", self.container, timeout=24 * 3600)
        )

    def alive(self) -> bool:
        return self.waiter is not None and not self.waiter.done()

    async def sigterm(self, report: Report) -> None:
        started = time.perf_counter()
        code, out = await _docker(self.docker, "kill", "--signal", "TERM", self.container)
        if code != 0:
            report.add("SIGTERM", "fail", f"the container was not running: {out[-200:]}")
            return
        assert self.waiter is not None
        try:
            code, out = await asyncio.wait_for(asyncio.shield(self.waiter), SIGTERM_GRACE_S)
        except TimeoutError:
            report.add("SIGTERM", "fail", f"still running {SIGTERM_GRACE_S:g}s after SIGTERM")
            return
        if code != 0 or not out.splitlines()[-1:][0].strip().lstrip("-").isdigit():
            report.add("SIGTERM", "fail", f"docker wait failed: {out[-200:]}")
            return
        _judge_exit(report, int(out.splitlines()[-1]), started, self.socket)

    async def log_tail(self) -> str:
        if not self.started:
            return ""
        _, logs = await _docker(self.docker, "logs", "--tail", "20", self.container)
        return logs

    async def cleanup(self) -> None:
        if self.started:
            await _docker(self.docker, "rm", "--force", "--volumes", self.container)
        if self.waiter is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.waiter, 10)
        self.scratch.remove()
