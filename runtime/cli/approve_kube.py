"""`podium approve RUN [CALL] --kubernetes [--deny] [--reason TEXT] [-n NS]`: decide a call
of a run in a cluster.

It appends a decision to the AgentRun's `spec.decisions` (call, decision, by, reason, time)
with a JSON patch guarded by the object's resourceVersion, exactly what a `kubectl patch`
does for GitOps (README, "Approvals in a cluster"). The controller, which holds the run's
approval key, signs it and delivers it to the pod; this command needs no key and never talks
to the pod. `by` is the user the API server knows this kubeconfig as (SelfSubjectReview, as
`kubectl auth whoami`), else the kubeconfig's user name.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from runtime.cli.display import short

__all__ = ["decide_in_cluster"]

TERMINAL = {"Succeeded", "Failed", "Cancelled", "TimedOut"}


class BadInput(Exception):
    """One line for the user; exit 2."""


def _client(namespace: str | None) -> tuple[Any, str, str]:
    from lightkube import Client, KubeConfig

    path = os.environ.get("KUBECONFIG")
    config = KubeConfig.from_file(path) if path else KubeConfig.from_env()
    single: Any = config.get()
    ns = namespace or single.namespace or "default"
    user = str(getattr(single.context, "user", "") or "")
    return Client(config=single, namespace=ns), ns, user


def _code(exc: Exception) -> int | None:
    """The HTTP status of a failed API call (lightkube raises ApiError only for a bare JSON
    content type; other servers' answers come as the HTTP client's own error)."""
    response: Any = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _resource() -> Any:
    from lightkube.generic_resource import (
        create_namespaced_resource,  # pyright: ignore[reportUnknownVariableType]
    )

    return create_namespaced_resource("podium.dev", "v1alpha1", "AgentRun", "agentruns")


def _whoami(client: Any, fallback: str) -> str:
    """The API server's name for us (SelfSubjectReview), else the kubeconfig's user."""
    try:
        reply = client._client.request(  # pyright: ignore[reportPrivateUsage]
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    except Exception:
        return fallback
    if reply.status_code >= 300:
        return fallback
    try:
        name = reply.json()["status"]["userInfo"]["username"]
    except (ValueError, KeyError, TypeError):
        return fallback
    return str(name or fallback)


def _describe(item: dict[str, Any]) -> str:
    return (
        f"#{item.get('number')} {short(str(item.get('tool')), 60)} "
        f"(call {short(str(item.get('callId')), 60)}, skill {short(str(item.get('skill')), 40)}) "
        f"{short(str(item.get('arguments')), 200)}"
    )


def _pick(run: dict[str, Any], name: str, call: str | None) -> dict[str, Any]:
    status: dict[str, Any] = run.get("status") or {}
    pending: list[dict[str, Any]] = status.get("pendingApprovals") or []
    decided: list[dict[str, Any]] = status.get("approvals") or []
    spec: dict[str, Any] = run.get("spec") or {}
    asked: list[dict[str, Any]] = spec.get("decisions") or []
    if call is None:
        if len(pending) == 1:
            return pending[0]
        if not pending:
            raise BadInput(f"no call of AgentRun {name} waits for approval")
        listing = "; ".join(_describe(p) for p in pending)
        raise BadInput(f"several calls of AgentRun {name} wait: name one ({listing})")
    found = next((p for p in pending if call in (str(p.get("callId")), str(p.get("number")))), None)
    done = next((d for d in decided if call in (str(d.get("callId")), str(d.get("number")))), None)
    if done is not None:
        who = f" by {done['by']}" if done.get("by") else ""
        raise BadInput(f"call {call} of AgentRun {name} was already decided "
                       f"({done.get('decision')}{who})")  # fmt: skip
    if found is not None and any(d.get("call") in (found.get("callId"), str(found.get("number")))
                                 for d in asked):  # fmt: skip
        raise BadInput(f"call {call} of AgentRun {name} was already decided (the controller "
                       "is delivering it)")  # fmt: skip
    if found is None:
        phase = status.get("phase")
        if phase in TERMINAL:
            raise BadInput(f"AgentRun {name} has ended ({phase}): no call waits")
        raise BadInput(f"no call {call!r} of AgentRun {name} waits for approval")
    return found


def decide_in_cluster(args: argparse.Namespace) -> int:
    from lightkube.types import PatchType

    try:
        client, ns, user = _client(args.namespace)
    except Exception as exc:  # no kubeconfig, a bad one
        print(f"podium approve: cannot reach the cluster: {' '.join(str(exc).split())}",
              file=sys.stderr)  # fmt: skip
        return 2
    resource = _resource()
    try:
        by = _whoami(client, user)
        for attempt in range(5):
            try:
                run: dict[str, Any] = client.get(resource, args.run, namespace=ns).to_dict()
            except Exception as exc:
                if _code(exc) == 404:
                    raise BadInput(f"no AgentRun {args.run!r} in namespace {ns}") from None
                raise
            if args.list:
                status: dict[str, Any] = run.get("status") or {}
                pending: list[dict[str, Any]] = status.get("pendingApprovals") or []
                for item in pending:
                    print(f"waiting: {_describe(item)}")
                if not pending:
                    print(f"no call of AgentRun {args.run} waits for approval")
                return 0
            call = _pick(run, args.run, args.call)
            entry = {
                "call": str(call.get("callId")),
                "decision": "deny" if args.deny else "approve",
                "by": by,
                "reason": args.reason,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            version = run["metadata"].get("resourceVersion")
            spec: dict[str, Any] = run.get("spec") or {}
            has_list = "decisions" in spec
            patch: list[dict[str, Any]] = [
                {"op": "test", "path": "/metadata/resourceVersion", "value": version},
                {"op": "add", "path": "/spec/decisions/-", "value": entry}
                if has_list
                else {"op": "add", "path": "/spec/decisions", "value": [entry]},
            ]
            try:
                client.patch(resource, args.run, patch, namespace=ns, patch_type=PatchType.JSON)
            except Exception as exc:
                if _code(exc) in (409, 422) and attempt < 4:
                    continue  # changed meanwhile: read it again
                raise
            verb = "denied" if args.deny else "approved"
            print(f"{verb} {_describe(call)} (recorded on AgentRun {args.run} as {by}; "
                  "the controller delivers it)")  # fmt: skip
            return 0
    except BadInput as exc:
        print(f"podium approve: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"podium approve: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(f"podium approve: AgentRun {args.run} kept changing; try again", file=sys.stderr)
    return 1
