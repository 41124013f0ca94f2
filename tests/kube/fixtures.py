"""pytest fixtures for the fake cluster. Use them from a test module or conftest with
`from tests.kube.fixtures import fake_kube, kubelet  # noqa: F401` (or `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube._fake import FakeKube


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    """A started FakeKube (fresh state per test); stopped afterwards."""
    with FakeKube() as fake:
        yield fake


@pytest.fixture
def kubeconfig(fake_kube: FakeKube) -> Path:
    """An admin kubeconfig file for `fake_kube`."""
    return fake_kube.kubeconfig()
