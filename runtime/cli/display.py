"""Render a run's events for a person at a terminal (or as JSON lines with `--json`)."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from skills.sdk import printable

_COLORS = {"dim": "2", "bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


class TerminalDisplay:
    def __init__(
        self, out: TextIO = sys.stdout, color: bool | None = None, as_json: bool = False
    ) -> None:
        self.out = out
        self.as_json = as_json
        self.color = out.isatty() if color is None else color
        self.run_id = "RUN"

    def _c(self, style: str, text: str) -> str:
        return f"\033[{_COLORS[style]}m{text}\033[0m" if self.color else text

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def show(self, event: dict[str, Any]) -> None:
        if self.as_json:
            self.line(json.dumps(event, default=str))
            return
        handler = getattr(self, "_on_" + str(event.get("type", "")), None)
        if handler is not None:
            # Every string of an event may come from the model, a skill or an MCP server
            # (tool and skill names, descriptions, warnings, errors, log lines): none of it
            # may drive the terminal. JSON mode is safe already (json.dumps escapes them).
            handler(_safe(event))

    # one method per event type ------------------------------------------------------

    def _on_cluster_submitted(self, e: dict[str, Any]) -> None:
        self.line(
            self._c("bold", f"⎈ agentrun/{e['run']}") + self._c("dim", f" in {e['namespace']}")
        )

    def _on_cluster_phase(self, e: dict[str, Any]) -> None:
        why = f" ({e['reason']}: {_short(str(e['message']), 200)})" if e.get("reason") else ""
        self.line(self._c("cyan", f"⎈ {e['phase']}") + self._c("dim", why))

    def _on_run_started(self, e: dict[str, Any]) -> None:
        self.run_id = str(e["run_id"])
        self.line(self._c("bold", f"▶ {e['run_id']}") + self._c("dim", f"  model {e['model']}"))
        self.line(f"  task: {_short(e['task'], 200)}")

    def _on_skills_ready(self, e: dict[str, Any]) -> None:
        names = ", ".join(f"{s['name']} ({len(s['tools'])} tools)" for s in e["skills"])
        self.line(
            self._c("green", "✓") + f" skills ready in {e['duration_s']:.2f}s: " + (names or "none")
        )
        for s in e["skills"]:
            for w in s.get("warnings", []):
                self.line(self._c("yellow", f"  ! {s['name']}: {w}"))

    def _on_model_response(self, e: dict[str, Any]) -> None:
        calls: list[Any] = e.get("tool_calls") or []
        what = f"{len(calls)} tool call{'s' * (len(calls) != 1)}" if calls else "final answer"
        usage = e.get("usage", {})
        self.line(
            self._c("cyan", f"· turn {e['turn']}")
            + f" → {what}"
            + self._c(
                "dim",
                f"  ({e['duration_s']:.2f}s, {usage.get('input_tokens', 0)} in / "
                f"{usage.get('output_tokens', 0)} out)",
            )
        )
        if calls and e.get("text"):
            self.line(self._c("dim", f"  {_short(e['text'], 160)}"))

    def _on_model_retry(self, e: dict[str, Any]) -> None:
        self.line(self._c("yellow", f"  ↻ model: {e['reason']}"))

    def _on_tool_call(self, e: dict[str, Any]) -> None:
        self.line(f"  ▸ {e['name']}" + self._c("dim", _short(_args(e["arguments"]), 160)))

    def _on_tool_progress(self, e: dict[str, Any]) -> None:
        self.line(self._c("dim", f"    … {e['name']}: {_short(e['message'], 120)}"))

    def _on_tool_result(self, e: dict[str, Any]) -> None:
        mark = self._c("red", "✗") if e["is_error"] else self._c("green", "✓")
        size = f"{e['chars']:,} chars" if e["chars"] > 200 else ""
        self.line(
            f"    {mark} {e['name']}"
            + self._c("dim", f"  {e['duration_ms']:.0f} ms {size}")
            + f"  {_short(e['preview'], 120)}"
        )
        if e.get("saved_to"):
            self.line(self._c("dim", f"      full output saved to {e['saved_to']}"))

    def _on_tool_conflict(self, e: dict[str, Any]) -> None:
        self.line(
            self._c(
                "yellow",
                f"  ! two skills offer {e['name']}: kept {e['kept']}'s, dropped {e['dropped']}'s",
            )
        )

    def _on_tool_refused(self, e: dict[str, Any]) -> None:
        self.line(
            self._c(
                "yellow",
                f"  ! tool {e['name']} of skill {e['skill']} refused: {e['reason']} "
                "(its other tools still work)",
            )
        )

    def _on_policy_decision(self, e: dict[str, Any]) -> None:
        if e["action"] in ("withheld", "deny"):
            what = "not offered" if e["action"] == "withheld" else "denied"
            self.line(self._c("yellow", f"  ⊘ {_short(e['name'], 80)} {what}: {e['reason']}"))

    def _on_approval_requested(self, e: dict[str, Any]) -> None:
        self.line(
            self._c("yellow", f"  ? {_short(e['name'], 80)} waits for approval")
            + self._c("dim", f"  (podium approve {self.run_id} {_short(str(e['id']), 60)})")
        )

    def _on_approval_decided(self, e: dict[str, Any]) -> None:
        mark = (
            self._c("green", "✓ approved")
            if e["decision"] == "approved"
            else self._c("red", "✗ " + e["decision"].replace("_", " "))
        )
        by = f" by {_short(e['by'], 60)}" if e.get("by") else ""
        why = f": {_short(e['reason'], 120)}" if e.get("reason") else ""
        self.line(f"    {mark} {_short(e['name'], 80)}{by}{why}")

    def _on_memory_recall(self, e: dict[str, Any]) -> None:
        self.line(self._c("dim", f"  memory: recalled {e['chars']} chars for the prompt"))

    def _on_memory_summary(self, e: dict[str, Any]) -> None:
        self.line(self._c("dim", f"  memory: summary stored ({'ok' if e['ok'] else 'failed'})"))

    def _on_skill_exited(self, e: dict[str, Any]) -> None:
        self.line(self._c("red", f"✗ skill {e['name']} exited with code {e['code']}"))
        for tail_line in str(e.get("log_tail", "")).splitlines()[-8:]:
            self.line(self._c("dim", f"    {tail_line}"))

    def _on_agent_output(self, e: dict[str, Any]) -> None:
        self.line(self._c("dim", f"  agent: {e['text']}"))

    def _on_run_finished(self, e: dict[str, Any]) -> None:
        ok = e["status"] == "succeeded"
        usage = e.get("usage", {})
        head = self._c("green" if ok else "red", f"{'✔' if ok else '✘'} {e['status']}")
        self.line(
            head + f" in {e['duration_s']:.2f}s · {e['turns']} turns · "
            f"{e['tool_calls']} tool calls · tokens {usage.get('input_tokens', 0):,} in / "
            f"{usage.get('output_tokens', 0):,} out"
        )
        if e.get("error"):
            self.line(self._c("red", f"  {e['error']['type']}: {e['error']['message']}"))
        if e.get("output"):
            self.line(self._c("bold", "Final answer:"))
            self.line(_clean(e["output"]))


def _args(raw: str) -> str:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return f"({raw})"
    if not isinstance(value, dict):
        return f"({raw})"
    items: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    return "(" + ", ".join(f"{k}={json.dumps(v)}" for k, v in items.items()) + ")"


def _safe(value: Any) -> Any:
    """`value` with every string (keys too) made printable (`skills.sdk.printable`)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        items: dict[Any, Any] = value  # pyright: ignore[reportUnknownVariableType]
        return {_safe(k): _safe(v) for k, v in items.items()}
    if isinstance(value, list | tuple):
        seq: list[Any] | tuple[Any, ...] = value  # pyright: ignore[reportUnknownVariableType]
        return [_safe(v) for v in seq]
    return value


def clean(text: str) -> str:
    """`text` with every character that could drive or disguise the terminal replaced."""
    return printable(str(text))


def short(text: str, limit: int) -> str:
    """`clean` on one line, cut to `limit` characters."""
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


_clean, _short = clean, short
