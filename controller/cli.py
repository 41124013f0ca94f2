"""`podium controller`: run the controller, or `render` what it would create for a run.

    podium controller [--namespace NS ...] [--config FILE] [--kubeconfig FILE] [--leader-elect]
    podium controller render AGENTRUN.yaml [--config FILE] [--namespace NS]

`render` takes a file with the AgentRun (and any `Skill`s it refers to, as more YAML
documents) and prints every object, like `helm template`: for review and for GitOps.
Heavy imports (the Kubernetes client) happen only when the controller itself runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium controller",
        description="Run Podium's Kubernetes controller (AgentRun -> Job), or render a run.",
    )
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeatable; default: all namespaces)",
    )
    parser.add_argument("--config", type=Path, help="the administrator's config (YAML)")
    parser.add_argument("--kubeconfig", type=Path, help="default: in-cluster, then ~/.kube/config")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument(
        "--metrics-port", type=int, default=8080, help="/metrics, /healthz, /readyz"
    )
    parser.add_argument("--workers", type=int, default=8, help="runs reconciled at once")
    parser.add_argument(
        "--master-key-file",
        type=Path,
        help="the secret every run's approval key and tokens are derived from (default: "
        "$PODIUM_MASTER_KEY_FILE; none: a fresh one per start, so runs begun before a "
        "restart cannot be approved after it)",
    )
    parser.add_argument(
        "--resync", type=float, default=300.0, metavar="SECONDS", help="full re-list period"
    )
    election = parser.add_argument_group(
        "leader election", "with more than one replica: only the holder of a Lease reconciles"
    )
    election.add_argument(
        "--leader-elect", action="store_true", help="reconcile only while holding the Lease"
    )
    election.add_argument(
        "--leader-elect-resource-name", default="podium-controller", metavar="NAME",
        help="the Lease's name (default: podium-controller)",
    )  # fmt: skip
    election.add_argument(
        "--leader-elect-resource-namespace", metavar="NS",
        help="the Lease's namespace (default: $POD_NAMESPACE, the Pod's own, or podium-system)",
    )  # fmt: skip
    election.add_argument(
        "--leader-elect-lease-duration", type=float, default=15.0, metavar="SECONDS",
        help="a standby takes over a Lease not renewed for this long (default 15)",
    )  # fmt: skip
    election.add_argument(
        "--leader-elect-renew-deadline", type=float, default=10.0, metavar="SECONDS",
        help="the leader stops leading when it could not renew for this long (default 10)",
    )  # fmt: skip
    election.add_argument(
        "--leader-elect-retry-period", type=float, default=2.0, metavar="SECONDS",
        help="between tries to acquire or renew (default 2)",
    )  # fmt: skip
    return parser


def _render_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium controller render",
        description="Print every object the controller would create for an AgentRun, as YAML.",
    )
    parser.add_argument("file", type=Path, help="AgentRun YAML (with the Skills it refers to)")
    parser.add_argument("--config", type=Path, help="the administrator's config (YAML)")
    parser.add_argument(
        "--namespace", "-n", help="the run's namespace (default: its own or default)"
    )
    parser.add_argument("--ca", type=Path, help="the cluster CA (PEM) for skills' kubeconfigs")
    return parser


def _short(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


def render(argv: list[str]) -> int:
    args = _render_parser().parse_args(argv)
    import yaml
    from pydantic import ValidationError

    from controller.build import build
    from controller.crd.models import AgentRun, Skill, SkillSpec
    from controller.policy import load_config
    from controller.runspec import missing_skills

    try:
        docs: list[Any] = [d for d in yaml.safe_load_all(args.file.read_text("utf-8")) if d]
        runs = [AgentRun.model_validate(d) for d in docs if d.get("kind") == "AgentRun"]
        skills: dict[str, SkillSpec] = {}
        for d in docs:
            if d.get("kind") == "Skill":
                skill = Skill.model_validate(d)
                skills[str(skill.metadata.get("name", ""))] = skill.spec
        if len(runs) != 1:
            raise ValueError(f"{args.file}: expected one AgentRun, found {len(runs)}")
        run = runs[0]
        if args.namespace:
            run.metadata["namespace"] = args.namespace
        missing = missing_skills(run, skills)
        if missing:
            raise ValueError(f"Skill not found: {', '.join(missing)} (add it to {args.file})")
        ca = args.ca.read_text("utf-8") if args.ca else None
        plan = build(run, skills, load_config(args.config), ca)
    except (OSError, ValueError, ValidationError, yaml.YAMLError) as exc:
        print(f"podium controller render: {_short(exc)}", file=sys.stderr)
        return 2
    if plan.problems:
        print(f"podium controller render: refused: {'; '.join(plan.problems)}", file=sys.stderr)
        return 2
    from controller import _yaml

    _yaml.dump_all(plan.objects(), sys.stdout)
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "render":
        return render(argv[1:])
    args = _parser().parse_args(argv)
    from controller.app import run_controller

    return run_controller(args)
