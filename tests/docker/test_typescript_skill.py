"""The TypeScript example skill as a container: built from its Dockerfile (on a public Node
image, or on the local Debian base with this machine's node), locked down like every
container of a run, and conforming to the launch contract under `podium skill check --image`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.kube import RenderOptions
from tests.docker.conftest import ROOT, docker

PODIUM = str(Path(sys.executable).with_name("podium"))

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def ts_image(docker_engine: str) -> str:
    """Only this image (scripts/build-images.sh typescript-skill): it needs no skill base."""
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh"), "typescript-skill"],
        cwd=ROOT, capture_output=True, text=True, timeout=800, check=False,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"building the TypeScript skill image failed:\n{build.stderr[-4000:]}")
    return RenderOptions(
        image_prefix=os.environ.get("IMAGE_PREFIX", RenderOptions.image_prefix)
    ).image("typescript-skill")


def test_the_image_is_non_root_and_carries_no_podium(ts_image: str) -> None:
    config = json.loads(docker("image", "inspect", ts_image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/node", "/skill/server.js"]
    assert config["Labels"]["org.opencontainers.image.title"] == "podium-typescript-skill"
    out = docker("run", "--rm", "--entrypoint", "/usr/local/bin/node", ts_image, "-e",
                 "const fs=require('fs');console.log(fs.existsSync('/opt/podium'),"
                 "fs.readdirSync('/skill').sort().join(','))")  # fmt: skip
    assert out.stdout.strip() == "false node_modules,package.json,server.js,skill.proto,tools.js"


def test_the_image_passes_podium_skill_check(ts_image: str) -> None:
    out = subprocess.run(
        [PODIUM, "skill", "check", "--json", "--image", ts_image],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert out.returncode == 0, out.stdout
    assert report["skill"] == "typescript-example" and report["target"] == f"image {ts_image}"
    sigterm = next(f for f in report["findings"] if f["check"] == "SIGTERM")
    assert sigterm["status"] == "pass"  # node as PID 1 handles SIGTERM itself: no --init needed
