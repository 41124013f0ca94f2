"""The run's records: the event log (`events.jsonl`, also streamed on stdout) and the final
result (`result.json`). Both are JSON so any backend, a launcher or a person can read them."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from runtime.agent.base import Usage
from runtime.layout import write_atomic

Status = Literal["succeeded", "failed", "cancelled", "timed_out"]


@dataclass
class RunError:
    type: str
    message: str


@dataclass
class RunResult:
    status: Status
    output: str = ""
    error: RunError | None = None
    usage: Usage = field(default_factory=Usage)
    tool_calls: int = 0
    turns: int = 0
    duration_s: float = 0.0
    run_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["usage"] = {
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
        }
        return data

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: Path) -> RunResult:
        data = json.loads(path.read_text(encoding="utf-8"))
        error = data.get("error")
        return cls(
            status=data["status"],
            output=data.get("output", ""),
            error=RunError(**error) if error else None,
            usage=Usage(**data.get("usage", {})),
            tool_calls=data.get("tool_calls", 0),
            turns=data.get("turns", 0),
            duration_s=data.get("duration_s", 0.0),
            run_id=data.get("run_id", ""),
        )


class EventLog:
    """Appends events to `events.jsonl` (flushed per event, so a crash keeps what happened)
    and, when `stream` is given, writes the same line there for a launcher to follow."""

    def __init__(self, path: Path | None, stream: TextIO | None = None) -> None:
        # One log per run: a new run in the same workspace starts it afresh, like result.json.
        self._file = path.open("w", encoding="utf-8") if path else None
        self._stream = stream
        self.events: list[dict[str, Any]] = []

    def emit(self, type: str, **data: Any) -> dict[str, Any]:
        event = {"type": type, "ts": round(time.time(), 3), **data}
        line = json.dumps(event, default=str)
        self.events.append(event)
        for out in (self._file, self._stream):
            if out is not None:
                out.write(line + "\n")
                out.flush()
        return event

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def stdout_log(path: Path) -> EventLog:
    return EventLog(path, sys.stdout)
