"""An `AgentRun` (plus the `Skill`s it refers to) as the run spec every backend shares.

The agent and the skills read `run.json`; the Pod comes from runtime's one Pod builder.
This module only translates Kubernetes-style fields into that spec: it adds no behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.crd.models import AgentRun, PolicyRule, RunSkill, SecretKeyRef, SkillRBAC, SkillSpec
from runtime.spec import Limits, MemorySettings, Policy, Resources, RunSpec, Sandbox, ToolRule
from runtime.spec import SkillSpec as RunSkillSpec

__all__ = ["MODEL_KEY_ENV", "ResolvedSkill", "Translation", "missing_skills", "translate"]

MODEL_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
MODEL_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


@dataclass
class ResolvedSkill:
    """One skill of the run with everything a `Skill` reference brought in."""

    name: str
    source: str | None
    """What `podium skill serve` loads; None: the image's own entrypoint (an image skill)."""
    image: str | None
    config: str | None
    """The config file's content (JSON), if any."""
    config_file: str | None
    env: dict[str, str]
    secret_env: dict[str, SecretKeyRef]
    resources: Resources
    rbac: SkillRBAC | None

    @property
    def cluster_facing(self) -> bool:
        r = self.rbac
        return r is not None and bool(r.rules or r.clusterRoles)


@dataclass
class Translation:
    spec: RunSpec
    skills: list[ResolvedSkill]
    secret_refs: dict[str, SecretKeyRef] = field(default_factory=lambda: {})
    """The agent's secret environment: variable -> Secret key."""
    plain_env: dict[str, str] = field(default_factory=lambda: {})
    """The agent's plain model environment (base URL)."""


def missing_skills(run: AgentRun, skills: Mapping[str, SkillSpec]) -> list[str]:
    return [
        s.skillRef.name for s in run.spec.skills if s.skillRef and s.skillRef.name not in skills
    ]


def _merge_rbac(a: SkillRBAC | None, b: SkillRBAC | None) -> SkillRBAC | None:
    if a is None or b is None:
        return a or b
    rules: list[PolicyRule] = [*a.rules, *(r for r in b.rules if r not in a.rules)]
    return SkillRBAC(
        rules=rules,
        clusterRoles=sorted({*a.clusterRoles, *b.clusterRoles}),
        namespaces=sorted({*a.namespaces, *b.namespaces}),
        clusterScope=a.clusterScope or b.clusterScope,
    )


def _config(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, indent=2, sort_keys=True)


def _resolve(skill: RunSkill, skills: Mapping[str, SkillSpec]) -> ResolvedSkill:
    secret_env = {e.name: e.secretKeyRef for e in skill.secretEnv}
    if skill.skillRef is not None:
        kind = skills[skill.skillRef.name]
        return ResolvedSkill(
            name=skill.name,
            source=kind.source,
            image=kind.image,
            config=_config(skill.config if skill.config is not None else kind.config),
            config_file="config.json",
            env={**kind.env, **skill.env},
            secret_env=secret_env,
            resources=Resources(**(skill.resources or kind.resources).model_dump()),
            rbac=_merge_rbac(kind.rbac, skill.rbac),
        )
    source = skill.builtin or skill.source  # None: an image with its own entrypoint
    return ResolvedSkill(
        name=skill.name,
        source=source,
        image=skill.image,
        config=_config(skill.config),
        config_file="servers.json" if source == "mcp" else "config.json",
        env=dict(skill.env),
        secret_env=secret_env,
        resources=Resources(**(skill.resources.model_dump() if skill.resources else {})),
        rbac=skill.rbac,
    )


def translate(
    run: AgentRun,
    skills: Mapping[str, SkillSpec],
    mcp_config: dict[str, Any] | None = None,
    mcp_secret_env: Mapping[str, SecretKeyRef] | None = None,
) -> Translation:
    """The run spec of `run`; `skills` holds the `Skill`s it refers to, by name.
    `mcp_config`: the run's `mcp` with its MCPServers resolved (`controller.mcpservers`),
    whose Secret headers come from `mcp_secret_env`, for the bridge sidecar only."""
    spec = run.spec
    resolved = [_resolve(s, skills) for s in spec.skills]
    if spec.mcp is not None:
        resolved.append(
            ResolvedSkill(
                name="mcp",
                source="mcp",
                image=None,
                config=_config(mcp_config if mcp_config is not None else spec.mcp),
                config_file="servers.json",
                env={},
                secret_env=dict(mcp_secret_env or {}),
                resources=Resources(),
                rbac=None,
            )
        )
    provider = spec.model.name.split(":", 1)[0]
    secret_refs: dict[str, SecretKeyRef] = {}
    plain: dict[str, str] = {}
    if spec.model.apiKeySecretRef is not None:
        env = spec.model.apiKeyEnv or MODEL_KEY_ENV.get(provider, "OPENAI_API_KEY")
        secret_refs[env] = spec.model.apiKeySecretRef
    if spec.model.baseURL:
        plain[MODEL_URL_ENV.get(provider, "OPENAI_BASE_URL")] = spec.model.baseURL
    limits = spec.limits
    run_spec = RunSpec(
        run_id=run.name,
        task=spec.task,
        model=spec.model.name,
        system_prompt=spec.systemPrompt,
        temperature=spec.temperature,
        skills=[
            RunSkillSpec(
                name=s.name,
                source=s.source,
                image=s.image,
                config=s.config_file if s.config is not None else None,
                env=s.env,
                secret_env=sorted(s.secret_env),
                resources=s.resources,
            )
            for s in resolved
        ],
        limits=Limits(
            max_turns=limits.maxTurns,
            timeout_s=limits.timeoutSeconds,
            max_tokens=limits.maxTokens,
            tool_timeout_s=limits.toolTimeoutSeconds,
            max_tool_output_chars=limits.maxToolOutputChars,
            readiness_timeout_s=limits.readinessTimeoutSeconds,
        ),
        policy=Policy(
            read_only=spec.policy.readOnly,
            deny_tools=spec.policy.denyTools,
            rules=[ToolRule(tool=r.tool, action=r.action) for r in spec.policy.rules],
            approve=spec.policy.approve,
            approval_timeout_s=spec.policy.approvalTimeoutSeconds,
        ),
        memory=MemorySettings(
            scope=spec.memory.scope,
            recall=spec.memory.recall,
            recall_limit=spec.memory.recallLimit,
            summary=spec.memory.summary,
        ),
        sandbox=Sandbox(runtime_class=spec.runtimeClassName),
        model_env=sorted({*secret_refs, *plain}),
    )
    return Translation(run_spec, resolved, secret_refs, plain)
