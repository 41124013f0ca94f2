"""The wire contract between the agent and its skills: `skill.proto` and its stubs."""

# Both ends of the wire must agree on this. Tool outputs can be large (a 10 MB log): the agent
# cuts them for the model, not the wire.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
