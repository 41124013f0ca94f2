"""MCPServer: the managed server's objects (valid, restricted), runs attaching servers by
name and selector (secrets by reference only), egress, and discovery into .status from a
real server (mcp-server-time behind the adapter) and from one that is down, through the fake
Kubernetes API."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.crd.mcpserver import MCPServer
from controller.crd.schema import mcpserver_crd
from controller.kube import Kube, connect
from controller.mcpdiscovery import FAILING_EVERY, READY_EVERY, MCPServerReconciler
from controller.mcpservers import attach, egress, managed_objects, run_label
from controller.runner import Key
from mcp_bridge._config import parse_config
from tests.controller._k8s import restricted_violations, validate_builtin
from tests.kube import FakeKube
from tests.mcp_bridge.conftest import Servers, free_port
from tests.mcp_bridge.test_serve_stdio import adapter

ROOT = Path(__file__).resolve().parents[2]
DOCS = list(yaml.safe_load_all((ROOT / "examples/cluster/mcpservers.yaml").read_text()))
TIME, TICKETS = (MCPServer.model_validate(d) for d in DOCS)
V1 = "podium.dev/v1alpha1"


# ---------------------------------------------------------------- managed objects


def test_managed_server_objects_are_valid_and_restricted() -> None:
    deployment, service, policy = managed_objects(TIME)
    for obj in (deployment, service, policy):
        validate_builtin(obj)
        assert obj["metadata"]["ownerReferences"][0]["kind"] == "MCPServer"
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    (container,) = pod["containers"]
    assert container["command"] == [
        "podium", "mcp", "serve-stdio", "--host", "0.0.0.0", "--port", "8000", "--path", "/mcp",
        "--", "mcp-server-time", "--local-timezone", "Europe/Berlin",
    ]  # fmt: skip
    assert pod["automountServiceAccountToken"] is False
    assert service["spec"]["ports"][0]["port"] == 8000
    (rule,) = policy["spec"]["ingress"]
    assert {"podSelector": {"matchLabels": {run_label("time"): "true"}}} in rule["from"]
    assert managed_objects(TICKETS) == []


def test_a_server_speaking_http_itself_is_not_wrapped() -> None:
    doc = copy.deepcopy(DOCS[0])
    doc["spec"]["managed"].update(stdio=False, command=["my-server", "--port", "9000"], port=9000)
    (deployment, *_) = managed_objects(MCPServer.model_validate(doc))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "my-server", "--port", "9000",
    ]  # fmt: skip


# ---------------------------------------------------------------- runs attaching servers


def test_attach_by_name_and_selector_with_secrets_by_reference() -> None:
    other = MCPServer.model_validate(
        {**DOCS[1], "metadata": {"name": "other", "namespace": "ops", "labels": {"x": "y"}}}
    )
    by_name = attach({"servers": ["time"]}, [TIME, TICKETS, other])
    assert by_name is not None and [s.name for s in by_name.servers] == ["time"]
    chosen = attach(
        {"selector": {"matchLabels": {"mcp.podium.dev/tier": "basic"}}}, [TIME, TICKETS, other]
    )
    assert chosen is not None and [s.name for s in chosen.servers] == ["tickets", "time"]
    servers = chosen.config["mcpServers"]
    assert servers["time"]["url"] == "http://time.ops.svc:8000/mcp"
    assert servers["tickets"]["headers"] == {
        "Authorization": "${env:PODIUM_MCP_TICKETS_AUTHORIZATION}"
    }
    assert servers["tickets"]["allow"] == ["search_*", "get_*"] and servers["time"]["readOnly"]
    ref = chosen.secret_env["PODIUM_MCP_TICKETS_AUTHORIZATION"]
    assert (ref.name, ref.key) == ("tickets-mcp", "authorization")
    # The bridge reads that config; the header's value comes from the sidecar's env only.
    os.environ["PODIUM_MCP_TICKETS_AUTHORIZATION"] = "Bearer s3cret-value"
    try:
        parsed = parse_config(json.dumps(chosen.config))
    finally:
        del os.environ["PODIUM_MCP_TICKETS_AUTHORIZATION"]
    assert parsed.errors == {}
    assert parsed.servers["tickets"].headers["Authorization"] == "Bearer s3cret-value"
    assert "s3cret" not in json.dumps(chosen.config)


def test_attach_reports_missing_and_down_servers_and_keeps_inline_ones() -> None:
    down = MCPServer.model_validate({**DOCS[1], "status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "Unreachable"}]}})  # fmt: skip
    found = attach(
        {"servers": ["tickets", "nope"], "mcpServers": {"local": {"command": "x"}}}, [down]
    )
    assert found is not None
    assert found.missing == ["nope"] and found.not_ready == ["tickets"]
    assert set(found.config["mcpServers"]) == {"tickets", "local"}
    assert attach(None, [TIME]) is None


def test_selector_expressions() -> None:
    sel = {"matchExpressions": [{"key": "mcp.podium.dev/tier", "operator": "In",
                                  "values": ["gold"]}]}  # fmt: skip
    found = attach({"selector": sel}, [TIME, TICKETS])
    assert found is not None and found.servers == []


def test_egress_reaches_exactly_the_attached_servers() -> None:
    ip = MCPServer.model_validate(
        {**DOCS[1], "metadata": {"name": "ip", "namespace": "ops"},
         "spec": {"external": {"url": "https://10.1.2.3:8443/mcp"}}}
    )  # fmt: skip
    found = attach({"servers": ["time", "tickets", "ip"]}, [TIME, TICKETS, ip])
    assert found is not None
    to_ip = {"ipBlock": {"cidr": "10.1.2.3/32"}}
    to_time = {"podSelector": {"matchLabels": {"podium.dev/mcpserver": "time"}}}
    assert egress(found) == [
        {"to": [to_ip], "ports": [{"protocol": "TCP", "port": 8443}]},
        {"to": [to_time], "ports": [{"protocol": "TCP", "port": 8000}]},
    ]


# ---------------------------------------------------------------- discovery


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as fake:
        fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}})
        fake.create(mcpserver_crd())
        yield fake


@pytest.fixture
async def kube(fake: FakeKube) -> AsyncIterator[Kube]:
    kube = connect(fake.kubeconfig())
    yield kube
    await kube.close()


def external(name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": "MCPServer", "metadata": {"name": name, "namespace": "ops"},
            "spec": {"external": {"url": url}, **spec}}  # fmt: skip


@pytest.mark.anyio
@pytest.mark.controller
async def test_discovery_of_a_real_server(
    fake: FakeKube, kube: Kube, mcp_servers: Servers, workspace: Path
) -> None:
    reconciler = MCPServerReconciler(kube, lambda: datetime(2026, 12, 1, tzinfo=UTC))
    with adapter([mcp_servers.time], workspace / "a.log") as (url, _):
        fake.create(external("time", url))
        fake.create(external("time-ro", url, deny=["convert*"]))
        assert await reconciler.reconcile(Key("MCPServer", "ops", "time")) == READY_EVERY
        await reconciler.reconcile(Key("MCPServer", "ops", "time-ro"))
    status = (fake.get(V1, "MCPServer", "time", "ops") or {})["status"]
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Ready", "True", "Discovered")
    assert status["toolCount"] == 2 and status["serverName"] == "mcp-time"
    assert status["protocolVersion"] and status["url"] == url
    tools = {t["name"]: t for t in status["tools"]}
    assert tools["get_current_time"]["readOnly"] and tools["get_current_time"]["description"]
    ro = (fake.get(V1, "MCPServer", "time-ro", "ops") or {})["status"]
    assert [t["name"] for t in ro["tools"]] == ["get_current_time"] and ro["toolCount"] == 1


@pytest.mark.anyio
@pytest.mark.controller
async def test_a_down_server_and_a_managed_one(fake: FakeKube, kube: Kube) -> None:
    reconciler = MCPServerReconciler(kube)
    fake.create(external("gone", f"http://127.0.0.1:{free_port()}/mcp", startupTimeoutSeconds=5))
    assert await reconciler.reconcile(Key("MCPServer", "ops", "gone")) == FAILING_EVERY
    status = (fake.get(V1, "MCPServer", "gone", "ops") or {})["status"]
    (cond,) = status["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "Unreachable") and status["lastError"]
    writes = fake.count(verb="patch")
    await reconciler.reconcile(Key("MCPServer", "ops", "gone"))  # same result: no write
    assert fake.count(verb="patch") == writes

    managed = copy.deepcopy(DOCS[0])
    managed["spec"]["startupTimeoutSeconds"] = 2
    fake.create(managed)
    await reconciler.reconcile(Key("MCPServer", "ops", "time"))
    for api, kind in (("apps/v1", "Deployment"), ("v1", "Service"),
                      ("networking.k8s.io/v1", "NetworkPolicy")):  # fmt: skip
        obj = fake.get(api, kind, "time", "ops")
        assert obj is not None and obj["metadata"]["ownerReferences"][0]["name"] == "time"
    status = (fake.get(V1, "MCPServer", "time", "ops") or {})["status"]
    assert status["conditions"][0]["status"] == "False"  # nothing runs the Deployment here
    assert status["url"] == "http://time.ops.svc:8000/mcp"


def test_a_run_attaching_servers_gets_config_secrets_labels_and_egress() -> None:
    from controller.build import build
    from controller.crd.models import AgentRun
    from controller.policy import ControllerConfig

    run = AgentRun.model_validate(
        {"metadata": {"name": "r1", "namespace": "ops", "uid": "u1"},
         "spec": {"task": "t", "model": {"name": "openai:gpt-4.1-mini"},
                  "mcp": {"servers": ["time"],
                          "selector": {"matchLabels": {"mcp.podium.dev/tier": "basic"}}}}}
    )  # fmt: skip
    found = attach(run.spec.mcp, [TIME, TICKETS])
    assert found is not None
    plan = build(run, {}, ControllerConfig(), None, found)
    data = plan.config_map["data"]
    servers = json.loads(data["skill-mcp-servers.json"])["mcpServers"]
    assert set(servers) == {"time", "tickets"}
    assert "tickets-mcp" not in json.dumps(data)  # not even the Secret's name
    pod = plan.job["spec"]["template"]
    assert pod["metadata"]["labels"][run_label("time")] == "true"
    by_name = {c["name"]: c for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]}
    secret_env = {
        c: [e["name"] for e in by_name[c].get("env", []) if "valueFrom" in e
            and "PODIUM_MCP" in e["name"]]
        for c in by_name
    }  # fmt: skip
    assert secret_env.pop("skill-mcp") == ["PODIUM_MCP_TICKETS_AUTHORIZATION"]
    assert all(v == [] for v in secret_env.values())  # the agent and others: none of it
    assert plan.network_policy is not None
    to_time = {"podSelector": {"matchLabels": {"podium.dev/mcpserver": "time"}}}
    assert any(to_time in r["to"] for r in plan.network_policy["spec"]["egress"])
    validate_builtin(plan.job)
    validate_builtin(plan.network_policy)


@pytest.mark.anyio
@pytest.mark.controller
async def test_runs_needing_a_down_or_missing_server_say_so(fake: FakeKube, kube: Kube) -> None:
    from controller.agentrun import AgentRunReconciler
    from controller.crd.schema import agentrun_crd
    from controller.policy import ControllerConfig

    fake.create(agentrun_crd())
    fake.create(external("gone", "http://127.0.0.1:1/mcp"))
    fake.apply(
        {**external("gone", "http://127.0.0.1:1/mcp"),
         "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Unreachable"}]}},
        sub="status",
    )  # fmt: skip
    reconciler = AgentRunReconciler(kube, ControllerConfig(apiServer=fake.url), ca="")

    def run(name: str, servers: list[str]) -> None:
        fake.create(
            {"apiVersion": V1, "kind": "AgentRun", "metadata": {"name": name, "namespace": "ops"},
             "spec": {"task": "t", "model": {"name": "openai:gpt-4.1-mini"},
                      "mcp": {"servers": servers}}}
        )  # fmt: skip

    run("waits", ["gone"])
    assert await reconciler.reconcile(Key("AgentRun", "ops", "waits")) is not None
    status = (fake.get(V1, "AgentRun", "waits", "ops") or {})["status"]
    waiting = next(c for c in status["conditions"] if c["type"] == "Waiting")
    assert (waiting["status"], waiting["reason"]) == ("True", "MCPServerNotReady")
    assert "gone" in waiting["message"] and fake.list("batch/v1", "Job", "ops") == []
    run("fails", ["nope"])
    await reconciler.reconcile(Key("AgentRun", "ops", "fails"))
    status = (fake.get(V1, "AgentRun", "fails", "ops") or {})["status"]
    assert status["phase"] == "Failed" and "MCPServer nope not found" in str(status["conditions"])
