"""`podium skills`: the built-in skills and their tools, as each one describes itself.

Every entry of `skills.catalog` is imported and asked for the very `SkillDescription` its
gRPC Describe answers, so the list can never drift from the code. A skill that cannot load
here (a missing optional dependency) is listed with the reason instead of its tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from skills.catalog import BUILTINS
from skills.sdk import printable

__all__ = ["describe_builtins", "main"]


def describe_builtins() -> list[dict[str, Any]]:
    """One record per built-in: name, summary, needs, image, version and tools."""
    from skills.serve import load_skill

    records: list[dict[str, Any]] = []
    for builtin in BUILTINS.values():
        record: dict[str, Any] = {
            "name": builtin.name,
            "summary": builtin.summary,
            "needs": list(builtin.needs),
            "image": builtin.image,
        }
        try:
            description = load_skill(builtin.name).describe()
        except Exception as exc:  # an optional dependency missing here: say so, go on
            record["error"] = f"{type(exc).__name__}: {exc}"
            records.append(record)
            continue
        record["version"] = description.version
        record["dynamic_tools"] = description.dynamic_tools
        record["tools"] = [
            {
                "name": t.name,
                "description": " ".join(t.description.strip().split("\n\n")[0].split()),
                "read_only": t.annotations.read_only,
                "destructive": t.annotations.destructive,
            }
            for t in description.tools
        ]
        records.append(record)
    return records


def _show(record: dict[str, Any]) -> str:
    needs = f"  (needs: {', '.join(record['needs'])})" if record["needs"] else ""
    lines = [f"{record['name']}: {record['summary']}{needs}"]
    if "error" in record:
        lines.append(f"  cannot load here: {record['error']}")
        return "\n".join(lines)
    tools: list[dict[str, Any]] = record["tools"]
    if not tools and record.get("dynamic_tools"):
        lines.append("  tools come from its config at run time (see `podium mcp tools FILE`)")
    for tool in tools:
        mark = "read-only" if tool["read_only"] else "destructive" if tool["destructive"] else ""
        lines.append(f"  {tool['name']:<26} {mark:<11} {tool['description']}")
    return "\n".join(printable(line) for line in lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="podium skills",
        description="List the built-in skills and their tools, from each skill's own Describe.",
    )
    parser.add_argument("--json", action="store_true", help="print the list as one JSON array")
    args = parser.parse_args(argv)
    records = describe_builtins()
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n\n".join(_show(r) for r in records))
    return 0
