"""The bridge's config file: the `mcpServers` shape the MCP ecosystem already uses, in JSON
or YAML, plus Podium's own per-server fields.

```json
{"mcpServers": {
  "time":   {"command": "uvx", "args": ["mcp-server-time"], "readOnly": true},
  "github": {"url": "https://example.com/mcp",
             "headers": {"Authorization": "Bearer ${env:GITHUB_TOKEN}"},
             "allow": ["get_*", "list_*"], "deny": ["*delete*"], "timeout": 30}
}}
```

Any string value may pull text from elsewhere, so secrets need not sit in the file:
`${env:NAME}` (or `${NAME}`), `${env:NAME:-default}`, `${file:/run/secrets/token}` (a file's
contents, trailing newline dropped; relative paths are relative to the config file), and
`$${` for a literal `${`. Every substituted value, and every `env` and `headers` value, is
a secret: `Redactor` scrubs them from whatever the bridge logs or reports.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

Transport = Literal["stdio", "http", "sse"]
_TRANSPORT_ALIASES: dict[str, Transport] = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamable_http": "http",
    "streamablehttp": "http",
    "sse": "sse",
}
# Secrets shorter than this are not scrubbed from logs: "1" or "on" would mangle every line.
MIN_SECRET_LEN = 4
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")


class ConfigError(Exception):
    """The config file cannot be used at all (unreadable, not JSON/YAML, wrong shape)."""


class ServerConfig(BaseModel):
    """One MCP server: how to reach it, and which of its tools the agent gets."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    command: str | None = None
    """Program to start for a stdio server (run from its own environment, never imported)."""
    args: list[str] = Field(default_factory=lambda: [])
    """Its arguments (an argument list: no shell)."""
    env: dict[str, str] = Field(default_factory=lambda: {}, repr=False)
    """Extra environment for a stdio server. It gets only these plus a small allow-list
    (HOME, PATH, ...): pass anything else explicitly, e.g. `"TOKEN": "${env:TOKEN}"`."""
    cwd: str | None = None
    """Working directory for a stdio server (relative to the config file)."""
    url: str | None = None
    """Endpoint of a remote server (streamable HTTP unless `transport` says `sse`). Keep
    secrets in `headers`, not in the URL."""
    headers: dict[str, str] = Field(default_factory=lambda: {}, repr=False)
    """HTTP headers for a remote server (e.g. Authorization)."""
    transport: Transport | None = Field(
        None, validation_alias=pydantic.AliasChoices("transport", "type")
    )
    """`stdio`, `http` (streamable HTTP) or `sse`; inferred from `command`/`url` when absent."""
    allow: list[str] = Field(default_factory=lambda: [])
    """Glob patterns; when given, only matching tools are kept. A pattern matches the tool's
    own name (`read_file`) or the prefixed one the model sees (`fs_read_file`)."""
    deny: list[str] = Field(default_factory=lambda: [])
    """Glob patterns (on either name, as for `allow`) of tools to drop; wins over `allow`."""
    read_only: bool = Field(False, alias="readOnly")
    """Keep only tools whose annotations say read-only (`readOnlyHint: true`)."""
    prefix: str | None = None
    """Prefix of the tool names the model sees (`PREFIX_TOOL`); default the server's name,
    `""` for none."""
    timeout: float = Field(60.0, gt=0)
    """Seconds one call may take; then it is cancelled on the server too."""
    max_output_bytes: int = Field(100_000, gt=0, alias="maxOutputBytes")
    """Text beyond this many bytes is cut for the model (the whole is kept as an artifact)."""
    startup_timeout: float = Field(30.0, gt=0, alias="startupTimeout")
    """Seconds one attempt to start/connect and list tools may take."""
    disabled: bool = False
    """Skip this server (as other MCP clients do)."""

    @pydantic.field_validator("transport", mode="before")
    @classmethod
    def _transport_alias(cls, value: object) -> object:
        if isinstance(value, str) and value.lower() in _TRANSPORT_ALIASES:
            return _TRANSPORT_ALIASES[value.lower()]
        return value

    @pydantic.model_validator(mode="after")
    def _one_way_in(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (a stdio server) or `url` (a remote server)")
        kind = self.kind
        if kind == "stdio" and self.command is None:
            raise ValueError("transport stdio needs `command`")
        if kind != "stdio" and self.url is None:
            raise ValueError(f"transport {kind} needs `url`")
        return self

    @property
    def kind(self) -> Transport:
        if self.transport is not None:
            return self.transport
        return "stdio" if self.command is not None else "http"


@dataclass
class Redactor:
    """Scrubs known secret values out of text before it is logged or shown."""

    secrets: set[str] = field(default_factory=lambda: set[str]())

    def add(self, value: str) -> None:
        if len(value) >= MIN_SECRET_LEN:
            self.secrets.add(value)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


@dataclass
class BridgeConfig:
    """The whole file, read: servers that parsed, and the reasons the others did not."""

    servers: dict[str, ServerConfig]
    errors: dict[str, str]
    """Server name -> why its entry cannot be used (the others still run)."""
    redact: Redactor
    source: Path | None = None
    ignored: dict[str, list[str]] = field(default_factory=lambda: {})
    """Server name -> keys other MCP clients use that Podium ignores (`autoApprove`, ...)."""


# Keys other MCP clients write into the same file; accepted and ignored, and reported.
_FOREIGN_KEYS = {
    "autoApprove",
    "alwaysAllow",
    "description",
    "name",
    "icon",
    "notes",
    "timeoutMs",
    "envFile",
    "oauth",
    "trust",
    "dev",  # VS Code: watch/debug settings for developing a server
    "gallery",  # VS Code: installed from its gallery
}
# The keys a server entry may have, as a user spells them (for "did you mean" hints).
_KNOWN_KEYS = [f.alias or name for name, f in ServerConfig.model_fields.items()]


def load_config(path: Path | str) -> BridgeConfig:
    """Read a servers file (JSON, or YAML by extension or content)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read MCP config {path}: {exc.strerror or exc}") from exc
    return parse_config(text, source=path)


def parse_config(text: str, *, source: Path | None = None) -> BridgeConfig:
    where = str(source) if source else "MCP config"
    data: Any
    if source is not None and source.suffix.lower() in (".yaml", ".yml"):
        data = _yaml(text, where)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if source is not None and source.suffix.lower() == ".json":
                raise ConfigError(f"{where} is not valid JSON: {exc}") from exc
            data = _yaml(text, where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object with `mcpServers`")
    top = cast(dict[str, Any], data)
    # `mcpServers` (Claude Desktop, Cursor, most clients) or `servers` (VS Code's mcp.json,
    # whose entries have the same fields; its `inputs` prompts cannot be answered here).
    key = "mcpServers" if "mcpServers" in top else "servers" if "servers" in top else None
    if key is None:
        found = ", ".join(f"`{k}`" for k in top) or "none"
        raise ConfigError(
            f"{where}: no `mcpServers` object (top-level keys found: {found}); the shape is "
            '{"mcpServers": {"NAME": {"command": ...} or {"url": ...}}}, or VS Code\'s '
            '{"servers": {...}}'
        )
    servers_raw = top[key]
    if not isinstance(servers_raw, dict):
        raise ConfigError(f"{where}: `{key}` must be an object of NAME -> server")
    if not servers_raw:
        raise ConfigError(f"{where}: `{key}` lists no servers")
    base = source.parent if source is not None else Path.cwd()
    redact = Redactor()
    config = BridgeConfig(servers={}, errors={}, redact=redact, source=source)
    for name, raw in cast(dict[str, Any], servers_raw).items():
        if not isinstance(raw, dict):
            config.errors[name] = "entry must be an object"
            continue
        entry = cast(dict[str, Any], raw)
        foreign = sorted(k for k in entry if k in _FOREIGN_KEYS)
        if foreign:
            config.ignored[name] = foreign
        entry = {k: v for k, v in entry.items() if k not in _FOREIGN_KEYS}
        try:
            resolved = _interpolate(entry, lambda ref: _resolve(ref, base, redact))
            server = ServerConfig.model_validate(resolved)
        except (ValueError, pydantic.ValidationError) as exc:
            config.errors[name] = redact(_explain(exc))
            continue
        for value in (*server.env.values(), *server.headers.values()):
            redact.add(value)
        if server.cwd is not None:
            server = server.model_copy(update={"cwd": str(base / server.cwd)})
        config.servers[name] = server
    return config


def _yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is neither JSON nor YAML: {exc}") from exc


def _interpolate(node: Any, resolve: Callable[[str], str]) -> Any:
    if isinstance(node, str):

        def sub(match: re.Match[str]) -> str:
            return "${" if match.group(0) == "$${" else resolve(match.group(1))

        return _REFERENCE.sub(sub, node)
    if isinstance(node, dict):
        return {k: _interpolate(v, resolve) for k, v in cast(dict[str, Any], node).items()}
    if isinstance(node, list):
        return [_interpolate(v, resolve) for v in cast(list[Any], node)]
    return node


def _resolve(ref: str, base: Path, redact: Redactor) -> str:
    """The value of one `${...}` reference; raises ValueError naming what is missing."""
    kind, _, rest = ref.partition(":")
    if ref in _VSCODE_VARIABLES:
        value = _VSCODE_VARIABLES[ref](base)
        return value
    if kind in ("input", "command", "config"):
        raise ValueError(
            f"${{{ref}}} is a VS Code variable Podium cannot answer (it has no editor to ask): "
            "use ${env:NAME} or ${file:PATH}"
        )
    if kind == "file":
        path = Path(rest).expanduser()
        path = path if path.is_absolute() else base / path
        try:
            value = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        except OSError as exc:
            raise ValueError(f"cannot read ${{file:{rest}}}: {exc.strerror or exc}") from exc
    else:
        spec = rest if kind == "env" else ref
        name, has_default, default = spec.partition(":-")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"bad reference ${{{ref}}}: use ${{env:NAME}} or ${{file:PATH}}")
        found = os.environ.get(name)
        if found is None and not has_default:
            raise ValueError(f"environment variable {name} is not set (needed by ${{{ref}}})")
        value = found if found is not None else default
    redact.add(value)
    return value


def _workspace_folder(base: Path) -> str:
    """VS Code's `${workspaceFolder}`: the folder holding `.vscode/mcp.json`, else the config's."""
    return str(base.parent if base.name == ".vscode" else base)


_VSCODE_VARIABLES: dict[str, Callable[[Path], str]] = {
    "workspaceFolder": _workspace_folder,
    "userHome": lambda _base: str(Path.home()),
    "pathSeparator": lambda _base: os.sep,
}


def _explain(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        parts: list[str] = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
                close = difflib.get_close_matches(loc, _KNOWN_KEYS, n=1, cutoff=0.6)
                msg = "unknown key" + (f" (did you mean `{close[0]}`?)" if close else "")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return str(exc)
