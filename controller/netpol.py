"""A run's NetworkPolicy: ingress only from the controller's pods to the control port;
egress to DNS, the model (its configured CIDRs and ports, plus the run's own base URL), and
the API server only for a Pod with cluster-facing skills."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from controller.crd.models import AgentRun
from controller.policy import ControllerConfig
from controller.runspec import Translation

__all__ = ["network_policy"]

DNS_PODS = {"k8s-app": "kube-dns"}


def network_policy(
    metadata: dict[str, Any], run: AgentRun, tr: Translation, config: ControllerConfig
) -> dict[str, Any]:
    """The run's NetworkPolicy (`metadata` is the run's own object metadata)."""
    np = config.networkPolicy
    ports = set(np.modelPorts)
    peers: list[dict[str, Any]] = [
        {"ipBlock": {"cidr": c, **({"except": np.modelExceptCIDRs} if c == "0.0.0.0/0" else {})}}
        for c in np.modelCIDRs
    ]
    if run.spec.model.baseURL:
        url = urlsplit(run.spec.model.baseURL)
        if url.port:
            ports.add(url.port)
        elif url.scheme == "http":
            ports.add(80)
        try:
            address = ipaddress.ip_address(url.hostname or "")
            peers.append({"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}})
        except ValueError:
            pass
    egress: list[dict[str, Any]] = [
        {
            "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": DNS_PODS}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {"to": peers, "ports": [{"protocol": "TCP", "port": p} for p in sorted(ports)]},
    ]
    if any(s.cluster_facing for s in tr.skills) and np.apiServerCIDRs:
        egress.append(
            {
                "to": [{"ipBlock": {"cidr": c}} for c in np.apiServerCIDRs],
                "ports": [{"protocol": "TCP", "port": p} for p in np.apiServerPorts],
            }
        )
    # The one way in: the controller's pods, to the control service's port.
    controller = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": np.controllerNamespace}
        },
        "podSelector": {"matchLabels": dict(np.controllerPodLabels)},
    }
    ingress = [{"from": [controller], "ports": [{"protocol": "TCP", "port": config.controlPort}]}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {
            "podSelector": {"matchLabels": {"podium.dev/run": run.name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }
