"""Each cluster run's keys: the controller makes the `<pod>-keys` Secret (owned by the run,
derived from its master key), the approval key reaches the skill containers only, the control
token the control sidecar only, and in a running Pod a skill refuses a caller without its
call token. The builders are checked without a server; the running Pod with the fake API and
the test kubelet (local processes)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import grpc
import pytest

from controller.build import build, run_keys
from controller.crd.models import AgentRun
from controller.policy import ControllerConfig
from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from protos.approval import CALL_TOKEN_HEADER
from tests.controller._k8s import validate_builtin
from tests.controller.conftest import MASTER_KEY, NS, Cluster, example, until
from tests.controller.test_build import run_of
from tests.kube import Kubelet

KEYS = "podium-triage-pods-keys"


def _plan(master: str | None = MASTER_KEY, run: AgentRun | None = None) -> Any:
    return build(run or run_of(), {}, ControllerConfig(), master_key=master)


def _refs(container: dict[str, Any]) -> dict[str, str]:
    """env name -> key of the keys Secret it comes from."""
    out: dict[str, str] = {}
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef", {})
        if ref.get("name") == KEYS:
            assert "optional" not in ref  # the controller always makes it: fail closed
            out[item["name"]] = ref["key"]
    return out


def test_the_keys_secret_is_owned_derived_and_never_rendered() -> None:
    plan = _plan()
    secret = plan.keys_secret
    validate_builtin(secret)
    assert secret["metadata"]["name"] == KEYS and secret["immutable"] is True
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    keys = run_keys(run_of(), MASTER_KEY, ["kubectl", "workspace"])
    assert data["podium-approval-key"] == keys.approval_key
    assert data["podium-control-token"] == keys.control_token
    assert data["podium-call-token-kubectl"] == keys.call_tokens["kubectl"]
    assert secret in plan.objects() and _plan().keys_secret == secret  # same run, same keys
    other = _plan(run=run_of(uid="uid-2")).keys_secret  # the same name made again
    assert other["data"]["podium-approval-key"] != secret["data"]["podium-approval-key"]
    # `podium controller render` builds without a master key: no keys printed
    assert _plan(None).keys_secret is None
    assert all(o["kind"] != "Secret" or "keys" not in o["metadata"]["name"]
               for o in _plan(None).objects())  # fmt: skip


def test_who_gets_which_key() -> None:
    pod = _plan().job["spec"]["template"]["spec"]
    by_name = {c["name"]: c for c in [*pod["initContainers"], *pod["containers"]]}
    assert _refs(by_name["agent"]) == {"PODIUM_CALL_TOKENS": "podium-call-tokens"}
    assert _refs(by_name["skill-kubectl"]) == {
        "PODIUM_CALL_TOKEN": "podium-call-token-kubectl",
        "PODIUM_APPROVAL_KEY": "podium-approval-key",
    }
    assert _refs(by_name["podium-control"]) == {"PODIUM_CONTROL_TOKEN": "podium-control-token"}
    control = by_name["podium-control"]
    assert control["restartPolicy"] == "Always" and control["image"] == by_name["agent"]["image"]
    assert control["args"][:2] == ["control", "serve"]
    assert {m["name"] for m in control["volumeMounts"]} == {"workspace", "tmp-podium-control"}


def test_only_the_controller_may_reach_the_control_port() -> None:
    config = ControllerConfig(controlPort=7171)
    policy = build(run_of(), {}, config, master_key=MASTER_KEY).network_policy
    assert policy is not None
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 7171}]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "podium-system"}},
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "podium",
                    "app.kubernetes.io/component": "controller",
                }
            },
        }
    ]


async def _describe(socket: Path, token: str | None) -> grpc.StatusCode:
    metadata = ((CALL_TOKEN_HEADER, token),) if token else None
    async with grpc.aio.insecure_channel(f"unix://{socket}") as channel:
        try:
            await pb_grpc.SkillStub(channel).Describe(
                pb.DescribeRequest(), metadata=metadata, timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.anyio
@pytest.mark.controller
@pytest.mark.timeout(120)
async def test_in_a_running_pod_skills_refuse_callers_without_a_token(cluster: Cluster) -> None:
    fake = cluster.fake
    doc = example("keys-run", skills=[{"name": "workspace", "builtin": "workspace"}])
    doc["spec"]["task"] = "wait"
    doc["spec"]["model"] = {"name": "openai:mock", "baseURL": "http://127.0.0.1:9/v1"}
    doc["spec"]["limits"] = {"readinessTimeoutSeconds": 30}
    with Kubelet(fake, "local", probe_speedup=10) as kubelet:
        cluster.apply_run(doc)
        secret = await until(lambda: fake.get("v1", "Secret", "podium-keys-run-keys", NS), 20)
        owner = secret["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("AgentRun", "keys-run")
        pod = await until(lambda: next(iter(fake.list("v1", "Pod", NS)), None), 20)
        name = pod["metadata"]["name"]
        run = await until(lambda: kubelet.run_of(NS, name), 20)
        socket = run.root / "volumes/workspace/.podium/sockets/workspace.sock"
        await until(lambda: socket.exists(), 30)
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert await _describe(socket, None) == grpc.StatusCode.UNAUTHENTICATED
        assert await _describe(socket, "a-guess") == grpc.StatusCode.UNAUTHENTICATED
        own = data["podium-call-token-workspace"]
        assert await _describe(socket, own) == grpc.StatusCode.OK
        # What each container was really given (the kubelet's resolved environment).
        agent = await until(lambda: run.containers.get("agent"), 30)
        skill = run.containers["skill-workspace"]
        control = run.containers["podium-control"]
        held = lambda c: set(c.spec.env.values())  # noqa: E731
        assert data["podium-approval-key"] not in held(agent)
        assert data["podium-control-token"] not in held(agent)
        assert data["podium-approval-key"] in held(skill)
        assert data["podium-control-token"] not in held(skill)
        assert held(control) & set(data.values()) == {data["podium-control-token"]}
