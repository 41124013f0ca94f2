"""The wire contract between the agent and its skills: `skill.proto` and its stubs."""

# Both ends of the wire must agree on this. Tool outputs can be large (a 10 MB log): the agent
# cuts them for the model, not the wire.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]

# A call's deadline travels as `deadline_unix_ms`; the skill answers a call past it with a
# TIMEOUT result itself. The agent's own gRPC deadline comes this much later (longer than the
# SDK's SIGTERM-to-SIGKILL grace for a tool's child), only for a skill that cannot answer, so
# the two ends never race to report one timeout.
DEADLINE_GRACE_S = 5.0


def timed_out(tool: str, seconds: float) -> str:
    """The one message for a tool call that ran out of time, whichever end noticed."""
    return f"{tool} timed out after {seconds:.1f}s"
