"""What the fake Kubernetes API (tests/kube) sustains over HTTPS, with the official client on
one keep-alive connection: create, get and list ConfigMaps, and server-side apply of an
unchanged object; medians of 5 rounds, in requests per second.

    .venv/bin/python bench/bench_fake_kube.py [--n 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kubernetes import client, dynamic

from tests.kube import FakeKube


def rate(n: int, call: Callable[[int], Any]) -> float:
    started = time.perf_counter()
    for i in range(n):
        call(i)
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Requests per second the fake Kubernetes API sustains."
    )
    parser.add_argument("--n", type=int, default=300, help="requests per round")
    n = parser.parse_args().n
    with FakeKube() as fake:
        core = client.CoreV1Api(fake.client())
        dyn = dynamic.DynamicClient(fake.client())
        cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "same", "namespace": "default"},
            "data": {"a": "b"},
        }
        results: dict[str, list[float]] = {
            "create": [],
            "get": [],
            "list (n objects)": [],
            "apply, unchanged": [],
        }
        for r in range(5):
            results["create"].append(
                rate(
                    n,
                    lambda i, r=r: core.create_namespaced_config_map(
                        "default",
                        client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm-{r}-{i}")),
                    ),
                )
            )
            results["get"].append(
                rate(n, lambda i, r=r: core.read_namespaced_config_map(f"cm-{r}-{i}", "default"))
            )
            results["list (n objects)"].append(
                rate(20, lambda _: core.list_namespaced_config_map("default"))
            )
            results["apply, unchanged"].append(
                rate(
                    n,
                    lambda _: dyn.server_side_apply(
                        cms, body=body, field_manager="bench", namespace="default"
                    ),
                )
            )
        for name, values in results.items():
            print(f"{name:>20}: {statistics.median(values):7.0f} requests/s")
        stored, seen = len(fake.store.objects), len(fake.requests)
        print(f"{'objects stored':>20}: {stored}; requests recorded: {seen}")


if __name__ == "__main__":
    main()
