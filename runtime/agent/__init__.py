"""What runs in the agent container: the interfaces (`base`), the loop, the agent process
(`main`, i.e. `podium agent`), the skill client, the run's records (`events`) and the model
adapters (`models/`). Nothing here knows the user's machine or Kubernetes."""
