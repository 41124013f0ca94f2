"""The servers file: the ecosystem's shape, JSON or YAML, values from env and files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_bridge import ConfigError, load_config
from mcp_bridge._config import parse_config


def test_stdio_and_remote_entries() -> None:
    config = parse_config("""{"mcpServers": {
        "git": {"command": "uvx", "args": ["mcp-server-git"], "env": {"A": "b"}, "cwd": "sub"},
        "api": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer x"}},
        "old": {"url": "https://example.com/sse", "transport": "sse"},
        "typed": {"url": "https://example.com/mcp", "type": "streamable-http"}
    }}""")
    assert not config.errors
    git, api, old, typed = (config.servers[n] for n in ("git", "api", "old", "typed"))
    assert (git.kind, git.args, git.env) == ("stdio", ["mcp-server-git"], {"A": "b"})
    assert git.cwd == str(Path.cwd() / "sub")
    assert (api.kind, old.kind, typed.kind) == ("http", "sse", "http")
    assert api.timeout == 60 and api.max_output_bytes == 100_000 and api.prefix is None
    assert "Bearer" not in repr(api) and "'A'" not in repr(git)  # env/headers never in reprs


def test_podium_fields() -> None:
    config = parse_config("""{"mcpServers": {"s": {"command": "x", "allow": ["get_*"],
        "deny": ["*delete*"], "readOnly": true, "prefix": "", "timeout": 5,
        "maxOutputBytes": 10, "startupTimeout": 3, "disabled": false}}}""")
    s = config.servers["s"]
    assert (s.allow, s.deny, s.read_only, s.prefix) == (["get_*"], ["*delete*"], True, "")
    assert (s.timeout, s.max_output_bytes, s.startup_timeout) == (5, 10, 3)


def test_yaml_by_extension_and_by_content(tmp_path: Path) -> None:
    text = "mcpServers:\n  t:\n    command: mcp-server-time\n    readOnly: true\n"
    for name in ("servers.yaml", "servers.yml", "servers.conf"):
        (tmp_path / name).write_text(text)
        assert load_config(tmp_path / name).servers["t"].read_only


def test_values_from_env_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TOKEN", "ghp_abcdef")
    (tmp_path / "key").write_text("file-secret\n")
    (tmp_path / "servers.json").write_text(r"""{"mcpServers": {"s": {"command": "x",
        "args": ["--token=${env:GH_TOKEN}", "${GH_TOKEN}", "$${literal}", "${env:NOPE:-dflt}"],
        "env": {"KEY": "${file:key}"}}}}""")
    config = load_config(tmp_path / "servers.json")
    s = config.servers["s"]
    assert s.args == ["--token=ghp_abcdef", "ghp_abcdef", "${literal}", "dflt"]
    assert s.env == {"KEY": "file-secret"}
    assert config.redact("x ghp_abcdef y file-secret") == "x *** y ***"


def test_a_bad_entry_spares_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_VAR", raising=False)
    config = parse_config("""{"mcpServers": {
        "ok": {"command": "x"},
        "env": {"command": "x", "env": {"T": "${env:MISSING_VAR}"}},
        "both": {"command": "x", "url": "http://h"},
        "neither": {"args": []},
        "typo": {"command": "x", "readonly": true},
        "file": {"command": "${file:/nonexistent/secret}"},
        "bad": {"command": "x", "transport": "carrier-pigeon"},
        "foreign": {"command": "x", "autoApprove": ["*"]}
    }}""")
    assert set(config.servers) == {"ok", "foreign"}
    errors = config.errors
    assert (
        errors["env"]
        == "environment variable MISSING_VAR is not set (needed by ${env:MISSING_VAR})"
    )
    assert "either `command`" in errors["both"] and "either `command`" in errors["neither"]
    assert errors["typo"] == "readonly: unknown key (did you mean `readOnly`?)"
    assert "cannot read ${file:/nonexistent/secret}" in errors["file"]
    assert "transport" in errors["bad"]
    assert config.ignored == {"foreign": ["autoApprove"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "neither JSON nor YAML"),
        ("[1, 2]", "expected an object"),
        ('{"servers_typo": {}}', "no `mcpServers`"),
        ('{"mcpServers": []}', "must be an object"),
    ],
)
def test_unusable_files(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read MCP config"):
        load_config(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("mcpServers: {}")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")


def test_vscode_file_and_its_variables(tmp_path: Path) -> None:
    vscode = tmp_path / ".vscode"
    vscode.mkdir()
    (vscode / "mcp.json").write_text(r"""{"inputs": [{"id": "t", "type": "promptString"}],
      "servers": {
        "a": {"type": "stdio", "command": "${userHome}/bin/a", "args": ["${workspaceFolder}"],
              "dev": {"watch": "src/**"}},
        "b": {"type": "http", "url": "https://example.com/mcp",
              "headers": {"Authorization": "Bearer ${input:t}"}}}}""")
    config = load_config(vscode / "mcp.json")
    assert config.servers["a"].command == f"{Path.home()}/bin/a"
    assert config.servers["a"].args == [str(tmp_path)]
    assert config.ignored == {"a": ["dev"]}
    assert config.errors["b"].startswith("${input:t} is a VS Code variable Podium cannot answer")
