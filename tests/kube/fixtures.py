"""pytest fixtures for the fake cluster. Use them from a test module or conftest with
`from tests.kube.fixtures import fake_kube, kubelet  # noqa: F401`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube._fake import FakeKube
from tests.kube._kubelet import Kubelet, docker_available


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    """A started FakeKube (fresh state per test); stopped afterwards."""
    with FakeKube() as fake:
        yield fake


@pytest.fixture
def kubeconfig(fake_kube: FakeKube) -> Path:
    """An admin kubeconfig file for `fake_kube`."""
    return fake_kube.kubeconfig()


@pytest.fixture
def kubelet(fake_kube: FakeKube) -> Iterator[Kubelet]:
    """A test kubelet and Job controller for `fake_kube`: Docker where it runs, else local
    processes (`kubelet.mode` says which)."""
    with Kubelet(fake_kube) as node:
        yield node


@pytest.fixture
def local_kubelet(fake_kube: FakeKube) -> Iterator[Kubelet]:
    """A test kubelet that runs containers as local processes."""
    with Kubelet(fake_kube, "local") as node:
        yield node


@pytest.fixture
def docker_kubelet(fake_kube: FakeKube) -> Iterator[Kubelet]:
    """A test kubelet that runs containers under Docker (skips where Docker cannot run)."""
    if not docker_available():
        pytest.skip("Docker is not available (scripts/setup-docker.sh sets it up)")
    with Kubelet(fake_kube, "docker") as node:
        yield node
