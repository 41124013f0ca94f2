"""How each process of a run receives its secrets, and keeps them to itself.

Part of the contract between a launcher and every process it starts (a skill in any
language follows it too):

- locally, the launcher writes a JSON object to a pipe and passes its read end as
  `PODIUM_SECRETS_FD`; the process reads it once at start, so the secrets never sit in its
  environment (which `/proc/PID/environ` shows to every process of the same user);
- in a container, they come as environment variables from the run's Secret, into the
  containers that need them only (`PODIUM_CALL_TOKEN`, `PODIUM_APPROVAL_KEY` for a skill,
  `PODIUM_CALL_TOKENS` for the agent);
- a process holding secrets makes itself non-dumpable (`PR_SET_DUMPABLE` 0), so processes of
  the same user can no longer read its memory, environment or fds, nor ptrace it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
from typing import cast

SECRETS_FD_ENV = "PODIUM_SECRETS_FD"
CALL_TOKEN_ENV = "PODIUM_CALL_TOKEN"  # noqa: S105 (a variable's name)
"""A skill's own call token."""
CALL_TOKENS_ENV = "PODIUM_CALL_TOKENS"
"""The agent's call tokens, JSON `{skill: token}`."""
APPROVAL_KEY_ENV = "PODIUM_APPROVAL_KEY"
"""The run's approval key (skills only)."""
_PR_SET_DUMPABLE = 4


def take_secrets(*names: str) -> dict[str, str]:
    """This process's secrets: the launcher's pipe (read once) and the named environment
    variables, which are then removed from `os.environ` so children never inherit them.
    Keys are the environment names (`PODIUM_CALL_TOKEN`...)."""
    found: dict[str, str] = {}
    fd_text = os.environ.pop(SECRETS_FD_ENV, "")
    if fd_text:
        try:
            with os.fdopen(int(fd_text), "rb") as pipe:
                data: object = json.loads(pipe.read() or b"{}")
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the secrets pipe (fd {fd_text}): {exc}") from None
        if isinstance(data, dict):
            found.update({str(k): str(v) for k, v in cast(dict[object, object], data).items()})
    for name in names:
        value = os.environ.pop(name, "")
        if value and name not in found:
            found[name] = value
    return found


def make_undumpable() -> bool:
    """PR_SET_DUMPABLE 0: same-user processes (the agent, another skill) can no longer read
    this process's /proc/PID/environ, mem or fds, nor ptrace it (root still can). Linux
    only; False where it is not available."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    return False
