"""Runs you can find again: each finished run's records kept under its workspace, and a
per-user index of runs (`podium runs`, `podium show RUN`).

- `WORKSPACE/.podium/runs/RUN_ID/` keeps `run.json`, `result.json` and `events.jsonl` of every
  run, so reusing a workspace loses nothing; `WORKSPACE/.podium/result.json` and
  `events.jsonl` stay the latest run's (what scripts and tests read).
- The index is `$XDG_STATE_HOME/podium/runs.jsonl` (`~/.local/state/podium/runs.jsonl`): one
  JSON line per run, appended. The XDG state directory is where a program keeps history that
  outlives a session but is not a user document; an append of one short line is atomic, needs
  no schema or lock, and stays readable with `tail` and `jq`. `PODIUM_RUNS_INDEX` overrides it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from runtime.layout import RunPaths

RECORDS = ("run.json", "result.json", "events.jsonl")


def index_path() -> Path:
    override = os.environ.get("PODIUM_RUNS_INDEX")
    if override:
        return Path(override)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "podium" / "runs.jsonl"


def record_run(workspace: Path) -> None:
    """Keep the run that just finished in WORKSPACE: its records under runs/RUN_ID/, and one
    line in the index. Never fails the run: a problem is one warning on stderr."""
    paths = RunPaths(workspace)
    try:
        result: dict[str, Any] = json.loads(paths.result.read_text(encoding="utf-8"))
        spec: dict[str, Any] = json.loads(paths.spec.read_text(encoding="utf-8"))
        run_id = str(result.get("run_id") or spec.get("run_id") or "")
        if not run_id:
            return
        kept = paths.podium / "runs" / run_id
        kept.mkdir(parents=True, exist_ok=True)
        for name in RECORDS:
            if (paths.podium / name).exists():
                shutil.copy2(paths.podium / name, kept / name)
        line = {
            "run_id": run_id,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "status": result.get("status"),
            "duration_s": result.get("duration_s"),
            "turns": result.get("turns"),
            "tool_calls": result.get("tool_calls"),
            "task": str(spec.get("task", ""))[:500],
            "model": spec.get("model"),
            "workspace": str(workspace),
        }
        index = index_path()
        index.parent.mkdir(parents=True, exist_ok=True)
        with index.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    except (OSError, ValueError) as exc:
        print(f"podium: this run was not added to the run index: {exc}", file=sys.stderr)


def _entries() -> list[dict[str, Any]]:
    try:
        lines = index_path().read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found: list[dict[str, Any]] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line after a crash: skip it
        if isinstance(entry, dict):
            found.append(entry)  # pyright: ignore[reportUnknownArgumentType]
    return found


def runs_main(argv: list[str]) -> int:
    from skills.sdk import printable

    parser = argparse.ArgumentParser(
        prog="podium runs", description=f"Recent runs, newest first (index: {index_path()})."
    )
    parser.add_argument("-n", "--limit", type=int, default=20, help="how many (default 20)")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    args = parser.parse_args(argv)
    entries = list(reversed(_entries()))[: max(0, args.limit)]
    if args.json:
        for e in entries:
            print(json.dumps(e))
        return 0
    if not entries:
        print(f"no runs yet (index: {index_path()})")
        return 0
    print(f"{'RUN':<14}  {'STATUS':<10}  {'TIME':>7}  {'TURNS':>5}  TASK  (WORKSPACE)")
    for e in entries:
        task = printable(" ".join(str(e.get("task", "")).split()), one_line=True)
        task = task if len(task) <= 50 else task[:49] + "…"
        print(
            f"{printable(e.get('run_id', ''), one_line=True):<14}  {e.get('status', '?')!s:<10}  "
            f"{float(e.get('duration_s') or 0):>6.1f}s  {e.get('turns', 0)!s:>5}  {task}  "
            f"({printable(e.get('workspace', ''), one_line=True)})"
        )
    return 0


def show_main(argv: list[str]) -> int:
    from runtime.cli.display import TerminalDisplay

    parser = argparse.ArgumentParser(
        prog="podium show", description="A past run's result and its events."
    )
    parser.add_argument("run", metavar="RUN", help="a run id from `podium runs` (or its start)")
    parser.add_argument("--json", action="store_true", help="one JSON object: result and events")
    args = parser.parse_args(argv)
    matches = [e for e in _entries() if str(e.get("run_id", "")).startswith(args.run)]
    ids = {str(e["run_id"]) for e in matches}
    if not ids:
        print(f"podium show: no run {args.run!r} in {index_path()}", file=sys.stderr)
        return 2
    if len(ids) > 1:
        print(f"podium show: {args.run!r} matches {', '.join(sorted(ids))}", file=sys.stderr)
        return 2
    entry = matches[-1]
    kept = Path(str(entry["workspace"])) / ".podium" / "runs" / str(entry["run_id"])
    try:
        result = json.loads((kept / "result.json").read_text(encoding="utf-8"))
        lines = (kept / "events.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        print(f"podium show: the records of {entry['run_id']} are gone ({exc})", file=sys.stderr)
        return 1
    events = [json.loads(line) for line in lines if line.strip()]
    if args.json:
        print(json.dumps({"run": entry, "result": result, "events": events}, indent=2))
        return 0
    display = TerminalDisplay()
    print(f"workspace: {entry['workspace']}")
    for event in events:
        display.show(event)
    if not any(e.get("type") == "run_finished" for e in events):
        display.show({"type": "run_finished", **result})
    return 0
