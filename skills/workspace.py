"""The `workspace` skill: read, write, list and search files inside the run's workspace.

Every path is resolved inside the workspace: absolute paths, `..` and symlinks pointing out
are refused. `.podium/` (the run's own bookkeeping) can be read but not written.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import sys
from pathlib import Path

from skills.sdk import Context, Skill, ToolError

skill = Skill(
    "workspace",
    instructions=(
        "Files for this run live in a shared workspace. Use relative paths. Long tool outputs "
        "are saved under `.podium/outputs/`; read them with `workspace_read` (use `offset`)."
    ),
)

MAX_READ = 200_000
MAX_MATCHES = 200
MAX_LISTED = 1000
REGEX_TIMEOUT_S = 20.0


def _within(target: Path, folder: Path) -> bool:
    return target == folder or folder in target.parents


def _writable(ctx: Context, path: str) -> Path:
    target = ctx.path(path)
    if _within(target, ctx.workspace.resolve() / ".podium"):
        raise ToolError(".podium/ holds the run's own records and is read-only for tools")
    return target


def _visible(dirnames: list[str], dirpath: Path, base: Path) -> list[str]:
    """Folders to walk into: all but the run's own `.podium/` (read it by its path)."""
    return sorted(d for d in dirnames if d != ".podium" or dirpath != base)


@skill.tool(read_only=True)
def workspace_read(ctx: Context, path: str, offset: int = 0, limit: int = MAX_READ) -> str:
    """Read a text file from the workspace.

    Args:
        path: File path relative to the workspace.
        offset: Character offset to start reading at (for long files).
        limit: Maximum number of characters to return.
    """
    target = ctx.path(path)
    if _within(target, ctx.workspace.resolve() / ".podium" / "logs"):  # skills' tracebacks
        raise ToolError(".podium/logs/ is for people, not tools")
    if not target.is_file():
        raise ToolError(f"no such file: {path}")
    text = target.read_text(encoding="utf-8", errors="replace")
    limit = max(1, min(limit, MAX_READ))
    chunk = text[offset : offset + limit]
    if offset + limit < len(text):
        chunk += (
            f"\n[... {len(text) - offset - limit} more characters; "
            f"read on with offset={offset + limit}]"
        )
    return chunk


@skill.tool
def workspace_write(ctx: Context, path: str, content: str, append: bool = False) -> str:
    """Write (or append to) a text file in the workspace, creating folders as needed.

    Args:
        path: File path relative to the workspace.
        content: Text to write.
        append: Append instead of replacing the file.
    """
    target = _writable(ctx, path)
    if target.is_dir():
        raise ToolError(f"{path} is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a" if append else "w", encoding="utf-8") as f:
        f.write(content)
    ctx.artifact(target)
    return f"wrote {len(content.encode())} bytes to {path}"


@skill.tool(read_only=True)
def workspace_list(ctx: Context, path: str = ".", pattern: str = "*") -> str:
    """List files under a folder of the workspace, recursively, with their sizes.

    Args:
        path: Folder relative to the workspace.
        pattern: Glob matched against file names, e.g. "*.yaml".
    """
    root = ctx.path(path)
    if not root.is_dir():
        raise ToolError(f"no such folder: {path}")
    base = ctx.workspace.resolve()
    lines: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = _visible(dirnames, Path(dirpath), base)
        for name in sorted(filenames):
            if fnmatch.fnmatch(name, pattern):
                full = Path(dirpath) / name
                lines.append(f"{full.relative_to(base)}\t{full.lstat().st_size}")
        if len(lines) >= MAX_LISTED:
            lines.append(f"[... stopped after {MAX_LISTED} files]")
            break
    return "\n".join(lines) or "(no files)"


@skill.tool(read_only=True)
async def workspace_search(ctx: Context, query: str, path: str = ".", regex: bool = False) -> str:
    """Search text files for a string (or a regular expression); returns path:line: text.

    Args:
        query: Text to look for.
        path: Folder relative to the workspace.
        regex: Treat the query as a Python regular expression.
    """
    root, base = ctx.path(path), ctx.workspace.resolve()
    if not regex:
        return await asyncio.to_thread(search_files, root, base, re.compile(re.escape(query)))
    try:
        re.compile(query)
    except re.error as exc:
        raise ToolError(f"bad regular expression: {exc}") from exc
    # A model's regular expression can take exponential time, and a thread cannot be stopped:
    # run it in a child process, which the deadline can kill.
    argv = [sys.executable, "-m", "skills.workspace", str(root), str(base), query]
    return await ctx.run(argv, timeout=REGEX_TIMEOUT_S)


def search_files(root: Path, base: Path, needle: re.Pattern[str]) -> str:
    hits: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = _visible(dirnames, Path(dirpath), base)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink():
                continue
            try:
                lines = full.read_text(encoding="utf-8").splitlines()
            except (UnicodeDecodeError, OSError):
                continue  # binary or unreadable
            for number, line in enumerate(lines, 1):
                if needle.search(line):
                    hits.append(f"{full.relative_to(base)}:{number}: {line[:300]}")
                    if len(hits) >= MAX_MATCHES:
                        return "\n".join([*hits, f"[... stopped after {MAX_MATCHES} matches]"])
    return "\n".join(hits) or "no matches"


if __name__ == "__main__":  # the regex search's child process: ROOT BASE PATTERN
    print(search_files(Path(sys.argv[1]), Path(sys.argv[2]), re.compile(sys.argv[3])), end="")
