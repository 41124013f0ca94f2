"""The agent's side of the tool policy: what the model is offered, and what each call
needs before it goes to its skill.

A courtesy, not the defence: each skill applies the same rules (protos.policy) itself and
verifies approvals with a key the agent does not hold. Here the model is spared tools it
may not use, a person is asked where the policy says so, and every decision goes to the
event log.
"""

from __future__ import annotations

from dataclasses import dataclass

from protos.policy import Decision, ToolPolicy
from runtime.agent.base import ApprovalRequest, Approver, SkillTool, ToolCall
from runtime.agent.events import EventLog


@dataclass(frozen=True)
class Admission:
    """May the call go to its skill? `refusal` is the tool error the model gets if not."""

    approval: str = ""
    refusal: str = ""
    error_kind: str = ""


class CallGate:
    def __init__(
        self,
        policy: ToolPolicy,
        events: EventLog,
        approver: Approver | None = None,
        timeout_s: float = 300,
    ) -> None:
        self.policy, self.events, self.approver, self.timeout_s = (
            policy,
            events,
            approver,
            timeout_s,
        )
        self._withheld: set[tuple[str, str]] = set()

    def offered(self, tool: SkillTool) -> bool:
        """False for a tool the policy denies (recorded once per tool)."""
        decision = self.policy.decide(tool.name, tool.annotations)
        if decision.action != "deny":
            return True
        if (tool.skill, tool.name) not in self._withheld:
            self._withheld.add((tool.skill, tool.name))
            self.events.emit(
                "policy_decision", name=tool.name, skill=tool.skill, action="withheld",
                reason=decision.reason,
            )  # fmt: skip
        return False

    def decide(self, tool: SkillTool) -> Decision:
        """The policy's decision for a call of `tool` (the loop records it with the call)."""
        return self.policy.decide(tool.name, tool.annotations)

    async def admit(
        self, number: int, call: ToolCall, tool: SkillTool, arguments: str, decision: Decision
    ) -> Admission:
        if decision.action == "allow":
            return Admission()
        if decision.action == "deny":
            return Admission(
                refusal=f"{tool.name} is not allowed in this run ({decision.reason})",
                error_kind="denied",
            )
        if self.approver is None:
            return Admission(
                refusal=f"{tool.name} needs a person's approval and this run has no one to ask",
                error_kind="denied",
            )
        request = ApprovalRequest(
            number=number,
            call_id=call.id,
            tool=tool.name,
            skill=tool.skill,
            arguments=arguments,
            annotations=tool.annotations,
            reason=decision.reason,
        )
        self.events.emit(
            "approval_requested", number=number, id=call.id, name=tool.name, skill=tool.skill,
            arguments=arguments, annotations=vars(tool.annotations), reason=decision.reason,
            timeout_s=self.timeout_s,
        )  # fmt: skip
        answer = await self.approver.decide(request, self.timeout_s)
        outcome = "approved" if answer.approved else "timed_out" if answer.timed_out else "denied"
        self.events.emit(
            "approval_decided", number=number, id=call.id, name=tool.name, decision=outcome,
            by=answer.by, reason=answer.reason,
        )  # fmt: skip
        if answer.approved:
            return Admission(approval=answer.token)
        if answer.timed_out:
            return Admission(
                refusal=f"{tool.name} was not run: nobody approved it within "
                f"{self.timeout_s:g}s. Carry on without it, or explain what you need it for.",
                error_kind="approval_timeout",
            )
        why = f" (their reason: {answer.reason})" if answer.reason else ""
        return Admission(
            refusal=f"{tool.name} was not run: a person denied this call{why}. Do not repeat "
            "it unchanged; carry on without it or ask for something else.",
            error_kind="denied",
        )
