"""Whole runs with sidecars that are not Podium Python: the TypeScript example started from a
`command` (CLI flag and run spec), a raw-gRPC sidecar with broken tools, and what a Pod gets
for a sidecar from its own image (its entrypoint, no podium probe)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.kube import render_pod
from runtime.spec import RunSpec
from tests._runs import call

ROOT = Path(__file__).resolve().parents[1]
TS_SKILL = ROOT / "examples" / "typescript-skill"
BAD_SKILL = ROOT / "tests" / "skill_check" / "bad_skill.py"


def need_node() -> None:
    missing = ""
    if shutil.which("node") is None:
        missing = "no node on PATH"
    elif not (TS_SKILL / "node_modules" / "@grpc" / "grpc-js").is_dir():
        missing = "examples/typescript-skill/node_modules missing: run scripts/install-node-deps.sh"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


STATS = {
    "steps": [
        {
            "tool_calls": [
                call("text_stats", text="to be or not to be"),
                call("count_slowly", to=3, interval_ms=5),
            ]
        },
        {"content": "{{last}}"},
    ]
}


@pytest.mark.timeout(90)
def test_the_typescript_skill_in_a_local_run_from_the_cli(
    podium: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_node()
    monkeypatch.chdir(ROOT)  # the relative path below is pinned against the current folder
    run = podium(
        STATS,
        "count",
        "--skill-command",
        'ts=["node", "examples/typescript-skill/server.js"]',
        timeout=80,
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.result["output"].splitlines()[-1] == "counted to 3"
    ready = next(e for e in run.events if e["type"] == "skills_ready")
    assert ready["skills"] == [
        {"name": "ts", "version": "0.1.0", "warnings": [],
         "tools": ["text_stats", "file_stats", "count_slowly"]}
    ]  # fmt: skip
    results = {e["name"]: e for e in run.events if e["type"] == "tool_result"}
    assert json.loads(results["text_stats"]["preview"]) == {
        "lines": 1, "words": 6, "characters": 18,
    }  # fmt: skip
    progress = [e["message"] for e in run.events if e["type"] == "tool_progress"]
    assert progress == ["1/3 counted 1", "2/3 counted 2", "3/3 counted 3"]
    spec = json.loads((run.workspace / ".podium" / "run.json").read_text())
    assert spec["skills"][0]["command"] == ["node", str(TS_SKILL / "server.js")]
    assert "source" not in spec["skills"][0]


@pytest.mark.timeout(90)
def test_a_spec_command_resolves_against_the_spec_file(podium: Any, workspace: Path) -> None:
    need_node()
    spec = TS_SKILL / f".test-spec-{workspace.name}.yaml"
    spec.write_text(yaml.safe_dump({
        "task": "count",
        "skills": [{"name": "ts", "command": ["node", "server.js"], "env": {"X_SEEN": "1"}}],
    }))  # fmt: skip
    try:
        run = podium(STATS, "--spec", str(spec), timeout=80)
    finally:
        spec.unlink()
    assert run.code == 0, run.stdout + run.stderr
    assert "counted to 3" in run.result["output"]


@pytest.mark.timeout(90)
def test_a_raw_grpc_sidecar_with_broken_tools(podium: Any, workspace: Path) -> None:
    """The agent refuses the broken tools with a warning each; the good one still works."""
    spec = workspace.parent / f"{workspace.name}-spec.json"
    spec.write_text(json.dumps({
        "task": "echo",
        "skills": [{"name": "bad", "command": [sys.executable, str(BAD_SKILL)],
                    "env": {"BAD_SKILL": "broken-schema", "PYTHONPATH": str(ROOT)}}],
    }))  # fmt: skip
    try:
        run = podium(
            {"steps": [{"tool_calls": [call("echo", text="hi")]}, {"content": "{{last}}"}]},
            "--spec",
            str(spec),
        )
    finally:
        spec.unlink()
    assert run.code == 0, run.stdout + run.stderr
    assert run.result["output"] == "hi"
    refused = {e["name"]: e["reason"] for e in run.events if e["type"] == "tool_refused"}
    assert set(refused) == {"stringly", "nocompile", "notjson"}
    assert refused["notjson"].startswith("input_schema_json is not JSON")
    assert [t["function"]["name"] for t in run.requests[0].body["tools"]] == ["echo"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--skill-command", "ts=node server.js"], "ARGV a JSON array of strings"),
        (["--skill-command", 'ts=["node", 3]'], "ARGV a JSON array of strings"),
        (["--skill-command", "=[]"], "ARGV a JSON array of strings"),
    ],
)
def test_bad_skill_commands(podium: Any, args: list[str], message: str) -> None:
    run = podium({"steps": [{"content": "x"}]}, "task", *args)
    assert run.code == 2 and message in run.stderr and "Traceback" not in run.stderr


def test_an_image_only_skill_cannot_run_locally(podium: Any, workspace: Path) -> None:
    spec = workspace.parent / f"{workspace.name}-img.json"
    spec.write_text(json.dumps({"task": "t", "skills": [{"name": "ts", "image": "x/ts:1"}]}))
    try:
        run = podium({"steps": [{"content": "x"}]}, "--spec", str(spec))
    finally:
        spec.unlink()
    assert run.code == 2, run.stderr
    assert "skill 'ts' has only an image: the local backend needs a `command`" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_skill_needs_a_source_a_command_or_an_image() -> None:
    with pytest.raises(ValueError, match="needs a `source`"):
        RunSpec.model_validate({"task": "t", "skills": [{"name": "ts"}]})
    with pytest.raises(ValueError, match="non-empty list"):
        RunSpec.model_validate({"task": "t", "skills": [{"name": "ts", "command": []}]})


def test_a_pod_runs_an_own_image_by_its_entrypoint_without_a_podium_probe() -> None:
    spec = RunSpec.model_validate({
        "task": "t",
        "skills": [
            {"name": "ts", "image": "ghcr.io/me/ts:1", "command": ["node", "server.js"]},
            {"name": "workspace", "source": "workspace"},
        ],
    })  # fmt: skip
    ts, ws = render_pod(spec)["spec"]["initContainers"]
    assert ts["image"] == "ghcr.io/me/ts:1"
    assert "command" not in ts and "args" not in ts and "startupProbe" not in ts
    env = {e["name"]: e.get("value") for e in ts["env"]}
    assert env["PODIUM_SKILL_SOCKET"] == "/workspace/.podium/sockets/ts.sock"
    assert {"PODIUM_WORKSPACE", "PODIUM_RUN_ID", "PODIUM_SKILL_NAME", "PODIUM_RUN_SPEC"} <= set(env)
    assert ts["restartPolicy"] == "Always" and ts["securityContext"]["runAsNonRoot"] is True
    assert ws["command"] == ["podium"] and ws["startupProbe"]["exec"]["command"][:3] == [
        "podium", "skill", "health",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="needs an `image`"):
        render_pod(RunSpec.model_validate(
            {"task": "t", "skills": [{"name": "ts", "command": ["node", "server.js"]}]}
        ))  # fmt: skip


@pytest.mark.timeout(60)
@pytest.mark.parametrize("via", ["pipe", "environment"])
def test_the_typescript_skill_answers_only_its_call_token(tmp_path: Path, via: str) -> None:
    """The launch contract's secrets, from the local launcher's pipe (PODIUM_SECRETS_FD) or a
    container's environment: without the token, with a wrong one, a call is UNAUTHENTICATED."""
    import subprocess
    import time

    import grpc

    from protos import skill_pb2 as pb
    from protos import skill_pb2_grpc as pb_grpc
    from protos.approval import CALL_TOKEN_HEADER, new_key

    need_node()
    token, socket = new_key(), tmp_path / "ts.sock"
    env = {"PATH": os.environ["PATH"], "PODIUM_SKILL_SOCKET": str(socket),
           "PODIUM_WORKSPACE": str(tmp_path)}  # fmt: skip
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        pipe.write(json.dumps({"PODIUM_CALL_TOKEN": token}) if via == "pipe" else "{}")
    env |= {"PODIUM_SECRETS_FD": str(read_end)} if via == "pipe" else {"PODIUM_CALL_TOKEN": token}
    proc = subprocess.Popen(
        ["node", str(TS_SKILL / "server.js")], env=env, pass_fds=(read_end,),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(read_end)
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
        with grpc.insecure_channel(f"unix:{socket}") as channel:
            stub = pb_grpc.SkillStub(channel)
            for metadata in ((), ((CALL_TOKEN_HEADER, "x" * len(token)),)):
                with pytest.raises(grpc.RpcError) as refused:
                    stub.Describe(pb.DescribeRequest(), metadata=metadata, timeout=10)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
                request = pb.InvokeRequest(call_id="c", tool="text_stats",
                                           arguments_json='{"text": "a b"}')  # fmt: skip
                with pytest.raises(grpc.RpcError) as refused:
                    list(stub.Invoke(request, metadata=metadata, timeout=10))
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            ok = ((CALL_TOKEN_HEADER, token),)
            assert stub.Describe(pb.DescribeRequest(), metadata=ok, timeout=10).name == (
                "typescript-example"
            )
            request = pb.InvokeRequest(
                call_id="c", tool="text_stats", arguments_json='{"text": "a b"}'
            )
            [event] = list(stub.Invoke(request, metadata=ok, timeout=10))
            assert json.loads(event.result.text)["words"] == 2
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert err.count("refused a call without this skill's call token") == 4, err
