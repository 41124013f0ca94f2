"""The custom resources: pydantic models (the source of truth) and the CRDs made from them."""

from controller.crd.models import (
    GROUP,
    PHASES,
    TERMINAL_PHASES,
    VERSION,
    AgentRun,
    AgentRunSpec,
    AgentRunStatus,
    Condition,
    RunSkill,
    Skill,
    SkillRBAC,
    SkillSpec,
)

__all__ = [
    "GROUP",
    "PHASES",
    "TERMINAL_PHASES",
    "VERSION",
    "AgentRun",
    "AgentRunSpec",
    "AgentRunStatus",
    "Condition",
    "RunSkill",
    "Skill",
    "SkillRBAC",
    "SkillSpec",
]
