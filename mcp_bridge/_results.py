"""An MCP `CallToolResult` as a skill `ToolOutput`: text for the model, structured content
as data, binary content (images, audio, blobs) saved as files in the workspace.

Files go under `.podium/artifacts/mcp/CALL_ID/`: inside the workspace, so the agent and the
user can read them (the workspace skill reads `.podium/`), but apart from the user's own
files and read-only for tools, so no later tool call can overwrite what a server returned.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
import uuid
from pathlib import Path
from typing import Any

import mcp_types as types

from skills.sdk import Context, ToolOutput

ARTIFACT_DIR = Path(".podium") / "artifacts" / "mcp"


class _Saver:
    """Writes one call's files and records them as the call's artifacts."""

    def __init__(self, ctx: Context, server: str) -> None:
        self.ctx = ctx
        self.server = server
        call = re.sub(r"[^A-Za-z0-9_.-]", "_", ctx.call_id)[:80] or uuid.uuid4().hex[:12]
        self.folder = ctx.workspace / ARTIFACT_DIR / call
        self.count = 0

    def save(self, data: bytes, suffix: str) -> str:
        self.count += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.server}-{self.count}{suffix}"
        path.write_bytes(data)
        return self.ctx.artifact(path)

    def save_binary(self, b64: str, mime: str | None, what: str) -> str:
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return f"[{what} ({mime or 'unknown type'}) dropped: its data is not valid base64]"
        suffix = (mimetypes.guess_extension(mime or "") or ".bin") if mime else ".bin"
        rel = self.save(data, suffix)
        return f"[{what} ({mime or 'unknown type'}, {len(data)} bytes) saved to {rel}]"


def to_output(
    result: types.CallToolResult, *, ctx: Context, server: str, max_bytes: int
) -> ToolOutput:
    saver = _Saver(ctx, server)
    parts = [_block_text(block, saver) for block in result.content]
    text = "\n".join(p for p in parts if p)
    data: Any = result.structured_content
    if data is not None:
        dumped = json.dumps(data, ensure_ascii=False)
        if len(dumped.encode()) > max_bytes:
            rel = saver.save(dumped.encode(), ".json")
            text = (text + "\n" if text else "") + (
                f"[structured content of {len(dumped.encode())} bytes is over this server's "
                f"maxOutputBytes ({max_bytes}); saved whole to {rel}]"
            )
            data = None
    text = _cap(text, max_bytes, saver)
    if not text and data is None:
        text = "(the tool returned no content)"
    return ToolOutput(text=text, data=data, is_error=result.is_error)


def _block_text(block: types.ContentBlock, saver: _Saver) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return saver.save_binary(block.data, block.mime_type, "image")
    if isinstance(block, types.AudioContent):
        return saver.save_binary(block.data, block.mime_type, "audio")
    if isinstance(block, types.EmbeddedResource):
        res = block.resource
        if isinstance(res, types.TextResourceContents):
            return f"[resource {res.uri}]\n{res.text}"
        return saver.save_binary(res.blob, res.mime_type, f"resource {res.uri}")
    link = f"[resource link: {block.name} <{block.uri}>]"
    return f"{link} {block.description}" if block.description else link


def _cap(text: str, max_bytes: int, saver: _Saver) -> str:
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    rel = saver.save(raw, ".txt")
    head = raw[:max_bytes].decode(errors="ignore")
    return (
        f"{head}\n[... {len(raw) - max_bytes} more bytes cut (this server's maxOutputBytes "
        f"is {max_bytes}); the whole output is in {rel}]"
    )
