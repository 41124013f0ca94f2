"""What a user does, with the real kubectl: `kubectl apply` an AgentRun, `kubectl get
agentruns` shows it; the kubectl skill's minted credentials (taken from the Secret mounted into
that skill only) reach the API with exactly the skill's Role."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import pytest

from tests.controller import _kubelet
from tests.controller.conftest import NS, ROOT, Cluster, until

pytestmark = [pytest.mark.anyio, pytest.mark.controller]
KUBECTL = str(Path(sys.executable).parent / "kubectl")


async def _kubectl(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_kubectl_apply_and_the_skills_own_token(cluster: Cluster, tmp_path: Path) -> None:
    fake = cluster.fake
    admin = fake.env(namespace=NS)
    code, out, err = await _kubectl(
        admin, "apply", "-f", str(ROOT / "examples/cluster/agentrun.yaml")
    )
    assert code == 0, err
    job = await until(lambda: cluster.job("triage-pods"))
    pod = _kubelet.start_pod(fake, job)
    await until(lambda: cluster.phase("triage-pods") == "Running")
    code, out, err = await _kubectl(admin, "get", "agentruns")
    assert code == 0, err
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "PHASE", "MODEL", "TURNS"]
    assert row.split()[:3] == ["triage-pods", "Running", "openai:gpt-4.1-mini"]

    # The files the kubectl skill's container gets (its Secret volume), made real here.
    spec = job["spec"]["template"]["spec"]
    skill = next(c for c in spec["initContainers"] if c["name"] == "skill-kubectl")
    mount = next(m for m in skill["volumeMounts"] if m["name"] == "kube-kubectl")
    secret = fake.get("v1", "Secret", "podium-triage-pods-kubectl-kube", NS)
    assert secret is not None
    folder = tmp_path / "kube"
    folder.mkdir()
    for key, value in secret["data"].items():
        (folder / key).write_bytes(base64.b64decode(value))
    # it names its token and CA relative to itself: it works wherever it is mounted
    assert mount["mountPath"] not in (folder / "kubeconfig").read_text()
    env = {"KUBECONFIG": str(folder / "kubeconfig"), "KUBECACHEDIR": str(tmp_path / "cache")}
    code, out, err = await _kubectl(env, "get", "pods", "-o", "json")
    assert code == 0, err
    assert [p["metadata"]["name"] for p in json.loads(out)["items"]] == [pod]
    code, out, err = await _kubectl(env, "get", "secrets")
    assert code != 0 and "forbidden" in err.lower()
    code, out, err = await _kubectl(env, "get", "pods", "-n", "default")
    assert code != 0 and "forbidden" in err.lower()

    # The agent holds none of it: no token volume, no KUBECONFIG, blank KUBERNETES_*.
    agent = spec["containers"][0]
    assert not any(m["name"].startswith("kube-") for m in agent["volumeMounts"])
    env_names = {e["name"]: e.get("value") for e in agent["env"]}
    assert "KUBECONFIG" not in env_names
    assert all(v == "" for k, v in env_names.items() if k.startswith("KUBERNETES_"))
    assert spec["automountServiceAccountToken"] is False
    stored = fake.get("v1", "Pod", pod, NS)
    assert stored is not None
    mounts = [m for c in stored["spec"]["containers"] for m in c.get("volumeMounts", [])]
    assert not any("serviceaccount" in m["mountPath"] for m in mounts)

    # When the run ends the token dies with its ServiceAccount and Secret.
    summary = {"status": "succeeded", "output": "ok", "turns": 1, "tool_calls": 1}
    _kubelet.finish_agent(fake, NS, pod, json.dumps(summary))
    await until(lambda: cluster.condition("triage-pods", "CredentialsRevoked"))
    code, out, err = await _kubectl(env, "get", "pods")
    assert code != 0 and ("unauthorized" in err.lower() or "must be logged in" in err.lower())
