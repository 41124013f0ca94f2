"""Fixtures for container tests: a Docker engine (or a clear skip), Podium's images built
once per session, and a check that a test leaves no container or volume behind.

Container tests skip only where Docker truly cannot run here (no docker client, no daemon,
no gVisor runtime for the gVisor run); under CI (`CI=true`, where `scripts/dev test` sets
Docker up) the same conditions fail instead, so a broken setup never passes as skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.kube import RenderOptions

ROOT = Path(__file__).resolve().parents[2]
DOCKER = os.environ.get("PODIUM_DOCKER", "docker")
BUILD_TIMEOUT_S = 900


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (in CI) a test that needs something Docker cannot give here."""
    hint = "; as root, scripts/setup-docker.sh installs and starts Docker and gVisor"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run container tests{hint})")
    pytest.skip(reason + hint)


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The Docker server version, or a skip saying why there is none."""
    if shutil.which(DOCKER) is None:
        unavailable(f"no {DOCKER!r} command on PATH")
    out = docker("version", "--format", "{{.Server.Version}}", check=False)
    if out.returncode != 0:
        unavailable(f"Docker daemon not reachable: {out.stderr.strip()[-300:]}")
    return out.stdout.strip()


@pytest.fixture(scope="session")
def gvisor(docker_engine: str) -> None:
    out = docker("info", "--format", "{{json .Runtimes}}")
    if '"runsc"' not in out.stdout:
        unavailable("Docker has no runsc (gVisor) runtime registered")


@pytest.fixture(scope="session")
def images(docker_engine: str) -> RenderOptions:
    """Build every image (scripts/build-images.sh; cached layers make a rebuild quick)."""
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"scripts/build-images.sh failed:\n{build.stderr[-4000:]}")
    # IMAGE_PREFIX (build-images.sh reads it too) keeps parallel checkouts' images apart.
    prefix = os.environ.get("IMAGE_PREFIX", RenderOptions.image_prefix)
    return RenderOptions(image_prefix=prefix, memory_claim=None)  # memories on a tmpfs


def leftovers(run_id: str) -> list[str]:
    label = f"label=podium.run={run_id}"
    containers = docker("ps", "-aq", "--filter", label).stdout.split()
    volumes = docker("volume", "ls", "-q", "--filter", label).stdout.split()
    return containers + volumes


@pytest.fixture
def no_leftovers(docker_engine: str) -> Iterator[list[str]]:
    """Tests append their run ids; afterwards nothing labelled with them may remain (and
    whatever does is removed, so one failure does not leak into the next test)."""
    run_ids: list[str] = []
    yield run_ids
    left = {r: leftovers(r) for r in run_ids}
    for run_id, names in left.items():
        if names:
            label = f"label=podium.run={run_id}"
            ids = docker("ps", "-aq", "--filter", label).stdout.split()
            if ids:
                docker("rm", "-f", *ids, check=False)
            vols = docker("volume", "ls", "-q", "--filter", label).stdout.split()
            if vols:
                docker("volume", "rm", "-f", *vols, check=False)
    assert not any(left.values()), f"containers/volumes left behind: {left}"
