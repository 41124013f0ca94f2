"""Podium's thin Kubernetes side: the `AgentRun` and `Skill` custom resources, pure builders
from a run to the objects it needs (ConfigMap, per-skill ServiceAccount and grants, token,
NetworkPolicy, Job), and the reconciler that applies them and reports the result.

`controller.crd` (models and CRD schemas), `controller.policy` (what an administrator
allows), `controller.build` (the pure builders), `controller.observe` (status from what the
Job and Pod show), `controller.runner` (a small level-triggered work queue, shared by every
kind), `controller.agentrun` (the AgentRun reconciler), `controller.control` (each run's
control channel: pending approvals in, signed decisions out), `controller.cli`
(`podium controller`).
"""
