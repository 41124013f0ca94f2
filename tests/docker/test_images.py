"""Podium's images: small, non-root, labelled, nothing the agent must not carry, usable with
a read-only root filesystem, and a skill is one COPY and one CMD away from a sidecar."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path
from types import ModuleType

import pytest

from runtime.kube import RenderOptions
from runtime.layout import UID
from tests.docker.conftest import ROOT, docker

AGENT_MAX_MB = 250
LOCKED = ["--read-only", "--user", f"{UID}:{UID}", "--cap-drop", "ALL",
          "--security-opt", "no-new-privileges", "--network", "none"]  # fmt: skip


def _requirements_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("requirements", ROOT / "images/requirements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requirements_lists_come_from_pyproject() -> None:
    import tomllib

    select = _requirements_module().select
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert select(pyproject, ["grpcio", "PyYAML"])[0].startswith("grpcio")
    with pytest.raises(SystemExit, match="not-a-dependency"):
        select(pyproject, ["not-a-dependency"])
    for dockerfile in [ROOT / "Dockerfile.agent", *ROOT.glob("images/*/Dockerfile")]:
        text = dockerfile.read_text()
        assert "ARG BASE_IMAGE=" in text, dockerfile
        assert "org.opencontainers.image.source" in text, dockerfile
        assert "id=ca" in text or "requirements.py" not in text, dockerfile


@pytest.mark.docker
@pytest.mark.timeout(900)
class TestImages:
    def image(self, images: RenderOptions, name: str) -> str:
        return images.image(name)

    def test_agent_image_is_small_and_carries_no_cluster_tools(self, images: RenderOptions) -> None:
        agent = images.image("agent")
        size = json.loads(docker("image", "inspect", agent).stdout)[0]["Size"]
        assert size <= AGENT_MAX_MB * 10**6, f"{agent} is {size / 1e6:.0f} MB"
        probe = (
            "import importlib.util, shutil\n"
            "mods = [m for m in ('kubernetes', 'litellm', 'mcp') if importlib.util.find_spec(m)]\n"
            "bins = [b for b in ('kubectl', 'helm', 'pip') if shutil.which(b)]\n"
            "import runtime.agent.main, runtime.agent.models.openai_model\n"
            "import runtime.agent.models.anthropic_model\n"
            "print(mods, bins)"
        )
        out = docker("run", "--rm", *LOCKED, "--entrypoint", "python3", agent, "-c", probe)
        assert out.stdout.strip() == "[] []"

    @pytest.mark.parametrize("name", ["skill-base", "workspace", "mcp-bridge", "kubectl"])
    def test_skill_images_carry_no_agent_code(self, images: RenderOptions, name: str) -> None:
        image = images.image(name)
        probe = (
            "import importlib.util as u\n"
            "gone = ('runtime.agent', 'runtime.launchers', 'runtime.kube', 'runtime.mock_llm',"
            " 'runtime.spec', 'controller', 'openai', 'anthropic')\n"
            "print([m for m in gone if u.find_spec(m)])"
        )
        out = docker("run", "--rm", *LOCKED, "--entrypoint", "python3", image, "-c", probe)
        assert out.stdout.strip() == "[]"
        # The `podium` command still works for what a skill image is for, and says in one
        # line that the rest is elsewhere.
        assert "--socket" in docker("run", "--rm", *LOCKED, image, "--help").stdout
        other = docker("run", "--rm", *LOCKED, "--entrypoint", "podium", image, "run", "x",
                       check=False)  # fmt: skip
        assert other.returncode == 2, other
        assert other.stderr.strip().count("\n") == 0, other.stderr
        assert "not part of this installation" in other.stderr

    @pytest.mark.parametrize(
        "name", ["agent", "skill-base", "workspace", "mcp-bridge", "memory", "kubectl", "helm"]
    )
    def test_every_image_runs_locked_down(self, images: RenderOptions, name: str) -> None:
        image = images.image(name)
        found = docker("image", "inspect", image, check=False)
        if found.returncode != 0:
            pytest.skip(f"{image} is not built (its skill's code is not in this tree)")
        config = json.loads(found.stdout)[0]["Config"]
        assert config["User"] == f"{UID}:{UID}"
        labels = config["Labels"]
        assert labels["org.opencontainers.image.version"] == images.image_tag
        assert labels["org.opencontainers.image.description"]
        # Runs with a read-only root, no capabilities, as its UID; finds no CA bundle of ours.
        out = docker(
            "run", "--rm", *LOCKED, "--tmpfs", "/tmp", "--entrypoint", "podium", image, "--help"
        )
        assert "skill" in out.stdout
        leaked = docker("run", "--rm", "--entrypoint", "python3", image, "-c",
                        "import pathlib; print([str(p) for p in pathlib.Path('/').glob("
                        "'**/secrets/ca*') if p.is_file()])")  # fmt: skip
        assert leaked.stdout.strip() == "[]"

    def test_a_skill_is_one_copy_and_one_cmd_from_a_sidecar(
        self, images: RenderOptions, tmp_path: Path
    ) -> None:
        (tmp_path / "weather.py").write_text(
            "from skills.sdk import Skill\n\n"
            'skill = Skill("weather", instructions="Weather reports.")\n\n\n'
            "@skill.tool(read_only=True)\n"
            "def forecast(city: str) -> str:\n"
            '    """Tomorrow\'s weather.\n\n    Args:\n        city: City name.\n    """\n'
            '    return f"sunny in {city}"\n'
        )
        (tmp_path / "Dockerfile").write_text(
            f"FROM {images.image('skill-base')}\n"
            "COPY weather.py /skill/\n"
            'CMD ["weather.py:skill"]\n'
        )
        tag = "podium-test/weather:1"
        build = subprocess.run(
            [*docker_build(), "-t", tag, str(tmp_path)], capture_output=True, text=True, check=False
        )
        assert build.returncode == 0, build.stderr
        name = f"podium-test-weather-{time.monotonic_ns()}"
        try:
            docker("run", "--detach", "--name", name, *LOCKED, "--tmpfs", "/tmp",
                   "--tmpfs", f"/workspace:uid={UID}",
                   "--env", "PODIUM_SKILL_SOCKET=/workspace/.podium/sockets/weather.sock",
                   tag)  # fmt: skip
            health = ["exec", name, "podium", "skill", "health", "--socket",
                      "/workspace/.podium/sockets/weather.sock"]  # fmt: skip
            deadline = time.monotonic() + 30
            while docker(*health, check=False).returncode != 0:
                assert time.monotonic() < deadline, docker("logs", name).stderr
                time.sleep(0.2)
        finally:
            docker("rm", "-f", name, check=False)
            docker("rmi", "-f", tag, check=False)

    def test_kubectl_image_carries_the_pinned_checked_kubectl(self, images: RenderOptions) -> None:
        image = images.image("kubectl")
        dockerfile = (ROOT / "images/kubectl/Dockerfile").read_text()
        version = dockerfile.split("ARG KUBECTL_VERSION=", 1)[1].split()[0]
        out = docker("run", "--rm", *LOCKED, "--tmpfs", "/tmp", "--entrypoint", "kubectl",
                     image, "version", "--client")  # fmt: skip
        assert f"Client Version: v{version}" in out.stdout
        # The same build with a checksum that does not match the binary must fail.
        build = subprocess.run(
            [*docker_build()[:-1], "--progress=plain", "-f", "images/kubectl/Dockerfile",
             "--build-arg", f"BASE_IMAGE={images.image('skill-base')}",
             "--build-arg", "KUBECTL_SOURCE=local", "--build-arg", f"KUBECTL_SHA256={'0' * 64}",
             "."],
            cwd=ROOT, env={**os.environ, "DOCKER_BUILDKIT": "1"},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert build.returncode != 0
        assert "/tmp/kubectl: FAILED" in build.stderr, build.stderr[-2000:]

    def test_helm_image_carries_the_pinned_checked_helm(self, images: RenderOptions) -> None:
        image = images.image("helm")
        dockerfile = (ROOT / "images/helm/Dockerfile").read_text()
        version = dockerfile.split("ARG HELM_VERSION=", 1)[1].split()[0]
        out = docker("run", "--rm", *LOCKED, "--tmpfs", "/tmp", "--entrypoint", "helm",
                     image, "version", "--short")  # fmt: skip
        assert out.stdout.startswith(f"v{version}+")
        # The skill finds that helm, and renders with it on a read-only root (cache in /tmp).
        probe = (
            "import asyncio, logging, pathlib, tempfile\n"
            "from skills.helm import helm_template\n"
            "from skills.sdk import Context\n"
            "ws = pathlib.Path(tempfile.mkdtemp())\n"
            "(ws / 'c/templates').mkdir(parents=True)\n"
            "(ws / 'c/Chart.yaml').write_text('apiVersion: v2\\nname: c\\nversion: 0.1.0\\n')\n"
            "(ws / 'c/templates/s.yaml').write_text("
            "'apiVersion: v1\\nkind: Secret\\nmetadata: {name: s}\\n'"
            "'stringData: {pw: hunter2}\\n')\n"
            "ctx = Context(ws, 'r', 'c', logging.getLogger('t'))\n"
            "print(asyncio.run(helm_template(ctx, 'c')))\n"
        )
        out = docker("run", "--rm", *LOCKED, "--tmpfs", "/tmp", "--entrypoint", "python3",
                     image, "-c", probe)  # fmt: skip
        assert "kind: Secret" in out.stdout and "pw: <redacted>" in out.stdout
        assert "hunter2" not in out.stdout
        # The same build with a checksum that does not match the binary must fail.
        build = subprocess.run(
            [*docker_build()[:-1], "--progress=plain", "-f", "images/helm/Dockerfile",
             "--build-arg", f"BASE_IMAGE={images.image('skill-base')}",
             "--build-arg", "HELM_SOURCE=local", "--build-arg", f"HELM_SHA256={'0' * 64}",
             "."],
            cwd=ROOT, env={**os.environ, "DOCKER_BUILDKIT": "1"},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert build.returncode != 0
        assert "/tmp/helm: FAILED" in build.stderr, build.stderr[-2000:]


def docker_build() -> list[str]:
    """A BuildKit-capable client: Debian's /usr/bin/docker when present."""
    client = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    return [client, "build", "-q"]
