"""Child processes for the memory tests (run as a script with PYTHONPATH at the repo root).

_child.py writer N PREFIX   store N memories through the tool function, printing each id
                            once memory_store has returned (= acknowledged); waits for a
                            line on stdin before starting, so several writers start at once
_child.py serve SOCKET WS   serve the memory skill over gRPC until SIGTERM
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from skills.memory import memory_store, skill
from skills.sdk import ToolOutput, serve


async def writer(count: int, prefix: str) -> None:
    async with skill.running():
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(count):
            out = memory_store(
                f"{prefix} memory number {i} about deploying service {i % 7}", tags=[prefix]
            )
            assert isinstance(out, ToolOutput)
            print(out.data["id"], flush=True)
    print("done", flush=True)


def main() -> None:
    mode = sys.argv[1]
    if mode == "writer":
        asyncio.run(writer(int(sys.argv[2]), sys.argv[3]))
    elif mode == "serve":
        asyncio.run(serve(skill, socket=Path(sys.argv[2]), workspace=Path(sys.argv[3])))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
