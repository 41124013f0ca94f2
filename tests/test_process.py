"""One process contract for every backend: for a set of run specs, what each process gets
when the local launcher really starts it (argv, environment) equals what its container gets
in the rendered Pod, path prefixes aside."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from protos.handoff import SECRETS_FD_ENV
from runtime.kube import render_pod, secret_name
from runtime.launchers.local import LocalLauncher
from runtime.process import BASE_ENV, Placement, config_key
from runtime.spec import MODEL_ENV, RunSpec, SkillSpec

# Stands in for the Python the launcher starts: the exec shim's own start is passed through
# to the real Python; the process itself (`-m runtime.cli ...`) records what it got and exits.
# Each waits until every other process has recorded too (the launcher stops the skills once
# the agent is done, and everything when a skill ends first); all know the run from its spec.
RECORDER = f"""#!{sys.executable}
import json, os, sys, time
if sys.argv[1:3] != ["-m", "runtime.cli"]:
    os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])
name = os.environ.get("PODIUM_SKILL_NAME", "agent")
with open(f".got-{{name}}", "w") as f:
    json.dump({{"args": sys.argv[3:], "env": dict(os.environ)}}, f)
os.rename(f".got-{{name}}", f"got-{{name}}.json")
with open(os.environ["PODIUM_RUN_SPEC"]) as f:
    others = ["agent", *(s["name"] for s in json.load(f)["skills"])]
end = time.monotonic() + 30
while time.monotonic() < end and not all(os.path.exists(f"got-{{o}}.json") for o in others):
    time.sleep(0.01)
"""
# Every name passed by reference, set in the launcher's environment (so each is passed on).
BY_REFERENCE = [*MODEL_ENV["openai"], *MODEL_ENV["anthropic"], "KUBECONFIG", "TOK"]
SECRETS = {n: f"secret-{n}" for n in BY_REFERENCE}


def specs(tmp_path: Path) -> list[RunSpec]:
    servers = tmp_path / "servers.json"
    servers.write_text('{"mcpServers": {}}')
    return [
        RunSpec(
            task="one skill",
            model="openai:gpt-4.1",
            skills=[SkillSpec(name="workspace", source="workspace")],
        ),
        RunSpec(
            run_id="run-all",
            task="every kind of skill",
            model="anthropic:claude-sonnet-4-5",
            model_env=["OPENAI_API_KEY"],
            memory={"scope": "acme/ops"},  # pyright: ignore[reportArgumentType]
            skills=[
                SkillSpec(name="workspace", source="workspace", env={"MODE": "fast"}),
                SkillSpec(name="memory", source="memory"),
                SkillSpec(name="mcp", source="mcp", config=str(servers)),
                SkillSpec(name="kubectl", source="kubectl", secret_env=["KUBECONFIG", "TOK"]),
                SkillSpec(name="mine", source="tests.some_module:skill", image="me/mine:1"),
            ],
        ),
        RunSpec(task="no skills", model="scripted:demo.yaml"),
    ]


def tokens(where: Placement, spec: RunSpec) -> list[tuple[str, str]]:
    """Each placement's paths, longest first, and the token both sides are compared with."""
    pairs = [(where.run_spec, "{run.json}"), (where.workspace, "{workspace}")]
    pairs += [(where.config(s) or "", f"{{config:{s.name}}}") for s in spec.skills if s.config]
    if where.memory_db:
        pairs.append((where.memory_db, "{memory.db}"))
    return sorted(pairs, key=lambda p: -len(p[0]))


def neutral(text: str, pairs: list[tuple[str, str]]) -> str:
    """A value with its placement's path prefix (if any) made a token."""
    for path, token in pairs:
        if text == path or text.startswith(path + "/"):
            return token + text[len(path) :]
    return text


def from_pod(spec: RunSpec) -> dict[str, dict[str, Any]]:
    pod = render_pod(spec)["spec"]
    pairs = tokens(Placement.pod(), spec)
    seen: dict[str, dict[str, Any]] = {}
    for c in [*pod["initContainers"], *pod["containers"]]:
        assert c["command"] == ["podium"]
        name = c["name"].removeprefix("skill-")
        # The run's keys (call tokens, approval key) live in Secrets of their own; locally the
        # launcher hands them over through a pipe (protos.handoff), not the environment.
        env = [e for e in c["env"] if "value" in e or _run_secret(e, spec)]
        plain = {e["name"]: neutral(e["value"], pairs) for e in env if "value" in e}
        refs = {e["name"] for e in env if "valueFrom" in e}
        for e in env:
            if "valueFrom" in e:  # by reference: the run's Secret, key = the variable's name
                assert e["valueFrom"]["secretKeyRef"]["key"] == e["name"]
        seen[name] = {"args": [neutral(a, pairs) for a in c["args"]], "env": plain, "refs": refs}
    return seen


def _run_secret(item: dict[str, Any], spec: RunSpec) -> bool:
    return item["valueFrom"]["secretKeyRef"]["name"] == secret_name(spec)


def from_processes(spec: RunSpec, workspace: Path, python: Path) -> dict[str, dict[str, Any]]:
    async def run() -> None:
        async for _ in LocalLauncher(spec, workspace, python=str(python)).launch():
            pass

    asyncio.run(run())
    pairs = tokens(Placement.local(workspace), spec)
    seen: dict[str, dict[str, Any]] = {}
    for got in workspace.glob("got-*.json"):
        data = json.loads(got.read_text())
        env: dict[str, str] = data["env"]
        refs = {n for n in SECRETS if n in env}
        launcher_own = {*BASE_ENV, *refs, "PYTHONUNBUFFERED", "PYTHONSAFEPATH", SECRETS_FD_ENV}
        plain = {k: neutral(v, pairs) for k, v in env.items() if k not in launcher_own}
        name = got.stem.removeprefix("got-")
        args = [neutral(a, pairs) for a in data["args"]]
        seen[name] = {"args": args, "env": plain, "refs": refs}
    return seen


@pytest.mark.timeout(120)
def test_each_process_gets_locally_what_its_container_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PODIUM_MEMORY_DB", str(tmp_path / "memory.db"))
    python = tmp_path / "python"
    python.write_text(RECORDER)
    python.chmod(0o755)
    for i, spec in enumerate(specs(tmp_path)):
        local = from_processes(spec, tmp_path / f"ws{i}", python)
        pod = from_pod(spec)
        assert set(local) == {s.name for s in spec.skills} | {"agent"}
        assert local == pod, spec.task
        for skill in spec.skills:  # what every skill is promised, on both backends
            env = local[skill.name]["env"]
            assert env["PODIUM_SKILL_SOCKET"] == f"{{workspace}}/.podium/sockets/{skill.name}.sock"
            assert env["PODIUM_RUN_SPEC"] == "{run.json}" and env["PODIUM_RUN_ID"] == spec.run_id
            assert env["PODIUM_WORKSPACE"] == "{workspace}"
            assert env["PODIUM_SKILL_NAME"] == skill.name
            assert env.get("PODIUM_SKILL_CONFIG") == (
                f"{{config:{skill.name}}}" if skill.config else None
            )
            assert local[skill.name]["args"] == ["skill", "serve", skill.source]
        assert local["agent"]["refs"] == set(spec.provider_env()) & set(SECRETS)


def test_render_gives_the_agent_its_provider_key_by_reference() -> None:
    spec = RunSpec(task="t", model="openai:gpt-4.1")  # no model_env: the model string implies it
    agent = render_pod(spec)["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in agent["env"] if "valueFrom" in e}
    assert "OPENAI_API_KEY" in refs and "OPENAI_BASE_URL" in refs
    assert all("value" not in e for e in agent["env"] if e["name"] in refs)
    assert "secret-" not in json.dumps(render_pod(spec))


def test_config_key_names_the_mounted_file(tmp_path: Path) -> None:
    skill = SkillSpec(name="mcp", source="mcp", config=str(tmp_path / "servers.yaml"))
    assert config_key(skill) == "skill-mcp-servers.yaml"
    assert Placement.pod().config(skill) == "/etc/podium/skill-mcp-servers.yaml"
    assert Placement.local(tmp_path).config(skill) == str((tmp_path / "servers.yaml").resolve())
    assert Path(Placement.local(Path("rel")).workspace).is_absolute()
